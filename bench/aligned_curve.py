"""The sentence check of translated copies (pipeline/aligned.py) against its two settings.

Pairs come from stores whose translated copies the rules before the check linked (build them
with ``[dedup] translated_share = 0``), each store labelled as a whole: ``translations`` (the
demo's planted translations) or ``other`` (two stories, by construction of the set), or as
``pairs.jsonl`` lines ``{"a": text, "b": text, "translation": bool, "set": name}``:

    python -m bench.aligned_curve demo.duckdb=translations s14.duckdb=other pairs.jsonl

It prints, for each gap and share, how many translations the check keeps and how many other
pairs it lets through, and the lowest share of a translation and the highest of another pair
at the chosen gap, per set. It measures; the floors stay in tests/pipeline/test_aligned.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pipeline.aligned import Settings, aligned_share, sentences
from pipeline.embedders import shared_embedder
from storage import connect

GAPS = (0.03, 0.04, 0.05, 0.055, 0.06, 0.065, 0.07, 0.08)
SHARES = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def store_pairs(path: str, label: str) -> list[dict]:
    with connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT a.text, b.text FROM copy_links c "
            "JOIN v_documents a ON a.doc_id = c.doc_id "
            "JOIN v_documents b ON b.doc_id = c.other_doc_id WHERE c.kind = 'translated'"
        ).fetchall()
    return [{"a": a, "b": b, "translation": label == "translations", "set": Path(path).stem}
            for a, b in rows]  # fmt: skip


def main(args: list[str]) -> None:
    pairs = []
    for arg in args:
        if "=" in arg:
            pairs += store_pairs(*arg.split("=", 1))
        else:
            pairs += [json.loads(line) for line in Path(arg).read_text().splitlines() if line]
    embedder = shared_embedder("e5-small")
    for p in pairs:
        p["va"], p["vb"] = (np.asarray(embedder.encode(sentences(p[k])), dtype=np.float32)
                            for k in ("a", "b"))  # fmt: skip

    def checked(p) -> bool:  # as Aligner.share: enough sentences, and comparable counts
        low, high = sorted((len(p["va"]), len(p["vb"])))
        return low >= Settings.min_sentences and high <= Settings.max_ratio * low

    counted = [p for p in pairs if checked(p)]
    yes = [p for p in counted if p["translation"]]
    no = [p for p in counted if not p["translation"]]
    print(f"{len(yes)} translations, {len(no)} other pairs ({len(pairs) - len(counted)} not "
          "checked: too few sentences or counts too far apart); a cell: translations kept / "
          "other pairs let through")  # fmt: skip
    print("| gap | " + " | ".join(f"share {s}" for s in SHARES) + " |")
    print("|---|" + "---|" * len(SHARES))
    for gap in GAPS:
        got = [(aligned_share(p["va"], p["vb"], gap), p["translation"]) for p in counted]
        cells = [f"{sum(v >= s for v, t in got if t)} / {sum(v >= s for v, t in got if not t)}"
                 for s in SHARES]  # fmt: skip
        print(f"| {gap} | " + " | ".join(cells) + " |")
    print(
        f"\nat the gap {Settings.gap}, per set: lowest share of a translation, highest of another"
    )
    for name in sorted({p["set"] for p in counted}):
        of = [p for p in counted if p["set"] == name]
        shares = {t: [aligned_share(p["va"], p["vb"], Settings.gap) for p in of
                      if p["translation"] is t] for t in (True, False)}  # fmt: skip
        low = f"{min(shares[True]):.2f}" if shares[True] else "-"
        high = f"{max(shares[False]):.2f}" if shares[False] else "-"
        print(
            f"  {name}: {len(shares[True])} translations from {low}, "
            f"{len(shares[False])} others up to {high}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
