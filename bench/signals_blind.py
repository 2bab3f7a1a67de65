"""How the signals stage fares on the blind set of bench/data/signals-blind/items.jsonl:
recall of the machine-written documents by language and by family, the human documents it
flags, and both against the threshold.

The set was written by a helper session that had not seen the rules or their tests: 60
machine-written news texts (10 in each of en, ru, uk, de, fr, es, the languages the README
promises) that carry one chatbot leftover each, 12 in pl, it, pt, tr, kk, be (outside the
promise), and 50 human texts that must not be flagged. Each document goes through
``SignalsStage().process`` as tests/eval/test_signals_gate.py feeds it (text and title).

    python -m bench.signals_blind [--misses] [--json out.json]

It measures; the floors stay in tests/pipeline/test_signals_blind.py.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pipeline.signals import THRESHOLD, SignalsStage
from storage.records import DocInput

SET = Path(__file__).parent / "data" / "signals-blind" / "items.jsonl"
PROMISED = ("en", "ru", "uk", "de", "fr", "es")
CURVE = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def load(path: Path = SET) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run(items: list[dict], stage: SignalsStage | None = None) -> list[dict]:
    """Each item with its score, decision and hits (rule, position, quoted, matched)."""
    stage = stage or SignalsStage()
    docs = [DocInput(it["id"], 1, f"https://blind.example/{i}", "blind", text=it["text"],
                     title=it["title"]) for i, it in enumerate(items)]  # fmt: skip
    return [
        {**it, "score": r.score, "flagged": r.machine_written,
         "hits": [(h.rule_id, h.position, h.quoted, h.matched) for h in r.hits]}
        for it, r in zip(items, stage.process(docs), strict=True)
    ]  # fmt: skip


def summary(rows: list[dict]) -> dict:
    machine = [r for r in rows if r["label"] == "machine"]
    human = [r for r in rows if r["label"] == "human"]
    promised = [r for r in machine if r["lang"] in PROMISED]
    by_lang = defaultdict(lambda: [0, 0])
    for r in machine:
        by_lang[r["lang"]][0] += r["flagged"]
        by_lang[r["lang"]][1] += 1
    return {
        "promised": (sum(r["flagged"] for r in promised), len(promised)),
        "outside": (sum(r["flagged"] for r in machine if r["lang"] not in PROMISED),
                    len(machine) - len(promised)),
        "by_lang": dict(by_lang),
        "by_family_promised": {
            f: (sum(r["flagged"] for r in promised if r["family"] == f),
                sum(r["family"] == f for r in promised))
            for f in sorted({r["family"] for r in promised})
        },
        "false_positives": [(r["id"], r["score"], r["hits"]) for r in human if r["flagged"]],
        "human": len(human),
        "curve": [(t, sum(r["score"] >= t for r in promised),
                   sum(r["score"] >= t for r in machine), sum(r["score"] >= t for r in human))
                  for t in CURVE],
        "misses": [(r["id"], r["score"], r["hits"]) for r in machine if not r["flagged"]],
    }  # fmt: skip


def report(s: dict, misses: bool = False) -> str:
    n, d = s["promised"]
    o, od = s["outside"]
    lines = [f"threshold {THRESHOLD}: recall {n}/{d} in the six promised languages, {o}/{od} "
             f"outside them; {len(s['false_positives'])}/{s['human']} human flagged"]  # fmt: skip
    lines.append("by language: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in s["by_lang"].items()))
    lines.append("by family (six languages): "
                 + ", ".join(f"{k} {a}/{b}" for k, (a, b) in s["by_family_promised"].items()))  # fmt: skip
    for fp in s["false_positives"]:
        lines.append(f"  false positive: {fp}")
    lines += ["", f"| threshold | machine-written, six languages (of {d}) | all languages "
              f"(of {d + od}) | human flagged (of {s['human']}) |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {t} | {six} | {every} | {human} |" for t, six, every, human in s["curve"]]
    if misses:
        lines += [f"  missed: {m}" for m in s["misses"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=SET)
    parser.add_argument("--misses", action="store_true", help="list the missed documents")
    parser.add_argument("--json", type=Path, help="write the rows and summary here")
    args = parser.parse_args()
    rows = run(load(args.set))
    s = summary(rows)
    print(report(s, args.misses))
    if args.json:
        args.json.write_text(json.dumps({"summary": s, "rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
