"""Quality floors for copies and narratives on third-party labelled data (../shared/data)."""

import csv
import json

from pipeline.dedup import DedupStage, jaccard, signature

# Measured on this data (see README, "Quality on labelled data"); floors only go up.
NEAR_COPY_PRECISION_FLOOR = 0.99


def test_unrelated_headlines_are_never_near_copies(shared):
    """ParaPhraser class -1 pairs (not paraphrases): none may be called a near copy."""
    stage = DedupStage()
    with open(shared / "data" / "paraphrase" / "paraphraser_train_7227.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    called = {"-1": 0, "0": 0, "1": 0}
    total = {"-1": 0, "0": 0, "1": 0}
    for r in rows:
        a = signature(r["text_1"], stage.num_perm, stage.seed, stage.shingle)
        b = signature(r["text_2"], stage.num_perm, stage.seed, stage.shingle)
        total[r["is_paraphrase"]] += 1
        called[r["is_paraphrase"]] += jaccard(a, b) >= stage.threshold
    assert total["-1"] > 2000
    print(json.dumps({"called_near_copy": called, "pairs": total}))
    precision_on_unrelated = 1 - called["-1"] / total["-1"]
    assert precision_on_unrelated >= NEAR_COPY_PRECISION_FLOOR, called


# Same-story pairs (tgcontest) and the SemEval pairs: tests/eval/test_similarity_gate.py
