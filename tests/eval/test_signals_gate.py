"""Gate: the signals stage flags at most one of the 314 human-written evaluation pages, and
the planted leftovers of every family and language; prints the curve around the threshold."""

import csv

from bench.signals_blind import CURVE  # the thresholds both curves print
from pipeline.signals import THRESHOLD, SignalsStage
from storage.outputs.extract import Extraction
from storage.records import DocInput
from tests.pipeline.test_signals import POSITIVES, document

MAX_FLAGGED = 1


def test_human_pages_are_not_machine_written_and_planted_ones_are(extracted_eval_pages):
    stage = SignalsStage()
    pages = [
        DocInput(doc.doc_id, 1, doc.url, "eval", text=r.text, title=r.title)
        for doc, r in zip(extracted_eval_pages.docs, extracted_eval_pages.results, strict=True)
        if isinstance(r, Extraction)
    ]
    human = stage.process(pages)
    planted = stage.process(
        [DocInput(str(i), 1, "u", "planted", text=document(lang, position, line))
         for i, (lang, _, position, line) in enumerate(POSITIVES)]
    )  # fmt: skip
    flagged = [(doc.url, r.score, [(h.rule_id, h.position, h.matched) for h in r.hits])
               for doc, r in zip(pages, human, strict=True) if r.machine_written]  # fmt: skip
    with_hits = sum(bool(r.hits) for r in human)
    print(f"\n{len(pages)} human pages: {with_hits} with any hit, {len(flagged)} flagged")
    for page in flagged:
        print("  flagged:", page)
    print("threshold  human flagged  planted flagged")
    for t in CURVE:
        print(f"{t:9} {sum(r.score >= t for r in human):>14} "
              f"{sum(r.score >= t for r in planted):>10}/{len(planted)}")  # fmt: skip
    assert len(extracted_eval_pages.docs) == 314 and len(pages) >= 310
    assert len(flagged) <= MAX_FLAGGED
    assert all(r.machine_written for r in planted)
    assert min(r.score for r in planted) >= THRESHOLD


def test_news_texts_of_other_evaluation_sets_are_not_machine_written(shared):
    """The same-story pairs (tgcontest, en/ru) and SemEval-2022 Task 8 (news in ten
    languages, scraped in 2020, before chatbots wrote news): at most one flagged."""
    csv.field_size_limit(1 << 30)
    texts = []
    for path in sorted((shared / "data" / "clustering").glob("*.tsv")):
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                texts += [(row[f"INPUT:{s}_url"], row[f"INPUT:{s}_text"],
                           row[f"INPUT:{s}_title"]) for s in ("first", "second")]  # fmt: skip
    with open(shared / "data" / "semsim" / "pairs.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts += [(row["pair_id"], row[f"text{s}"], None) for s in ("1", "2")]
    stage = SignalsStage()
    results = stage.process([DocInput(str(i), 1, url, "eval", text=text, title=title)
                             for i, (url, text, title) in enumerate(texts)])  # fmt: skip
    flagged = [(url, r.score, [h.matched for h in r.hits])
               for (url, _, _), r in zip(texts, results, strict=True) if r.machine_written]  # fmt: skip
    print(f"\n{len(texts)} news texts: {sum(bool(r.hits) for r in results)} with any hit, "
          f"{len(flagged)} flagged {flagged}")  # fmt: skip
    assert len(texts) >= 1500
    assert len(flagged) <= MAX_FLAGGED
