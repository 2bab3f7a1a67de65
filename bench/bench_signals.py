"""The signals stage's speed: the bare rules on 1,664 news texts (SemEval-2022 Task 8 and the
tgcontest pairs), and `process --stage signals` on the same texts in a store (rules, writes
and bookkeeping)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def texts(shared: Path) -> list[dict]:
    csv.field_size_limit(1 << 30)
    docs = []
    with open(shared / "data" / "semsim" / "pairs.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            docs += [{"url": f"https://semeval.example/{row['pair_id']}/{side}",
                      "text": row[f"text{side}"], "lang": row[f"lang{side}"]}
                     for side in ("1", "2")]  # fmt: skip
    for path in sorted((shared / "data" / "clustering").glob("*.tsv")):
        with open(path, encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f, delimiter="\t")):
                docs += [{"url": f"https://tg.example/{path.stem}/{i}/{side}",
                          "text": row[f"INPUT:{side}_text"], "title": row[f"INPUT:{side}_title"]}
                         for side in ("first", "second")]  # fmt: skip
    return [d for d in docs if d["text"].strip()]


def main(shared: Path) -> None:
    from pipeline.runner import run_stages
    from pipeline.signals import SignalsStage
    from pipeline.stages import build_stages
    from storage.records import DocInput

    docs = texts(shared)
    chars = sum(len(d["text"]) for d in docs)
    stage = SignalsStage()
    inputs = [DocInput(str(i), 1, d["url"], "b", text=d["text"], title=d.get("title"))
              for i, d in enumerate(docs)]  # fmt: skip
    started = time.perf_counter()
    stage.process(inputs)
    bare = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src, db = tmp / "docs.jsonl", tmp / "b.duckdb"
        src.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
        cli = [sys.executable, "-m", "pipeline.cli", "--db", str(db)]
        subprocess.run([*cli, "import", str(src)], check=True, capture_output=True)
        subprocess.run([*cli, "process", "--stage", "extract", "--stage", "langid",
                        "--no-progress"], check=True, capture_output=True)  # fmt: skip
        report = run_stages(db, build_stages(["signals"], {}), batch_size=64).stages[0]
    print(f"{len(docs)} news texts, {chars / len(docs):.0f} characters on average\n")
    print("| signals | documents | seconds | docs/s |")
    print("|---|---|---|---|")
    print(
        f"| rules only (SignalsStage.process) | {len(docs)} | {bare:.2f} | {len(docs) / bare:.0f} |"
    )
    print(f"| `process --stage signals` (store) | {report.done} | {report.seconds:.2f} | "
          f"{report.done / report.seconds:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))
