"""Dedup and cluster as the window fills: the end-to-end corpus (bench/corpus.py) puts every
size in the same 60 days, so the 30-day window around a document holds a share of all N
documents, and the work of the two windowed stages per document grows with N. (At a constant
number of documents a day, bench/bench_copies_narratives.py, it does not.) For cluster, the
window is not all of it: bench/bench_cluster_close.py finds its time per document growing as
much with the dates spread out: from closing the file after each batch (a cost that reaches
a ceiling), reading the window's narratives, and reading the batch's documents (its
``--profile`` table).

Each size is imported, extracted, language-identified and embedded, then ``process --stage
dedup`` and ``process --stage cluster`` run as their own measured processes (wall time, peak
RSS). The vectors come from use-multilingual to keep the run short: e5-small would take
about an hour to embed 10,000 documents here. The copy links and narratives found are printed
with the times, so the work done can be compared.

Run: python -m bench.bench_dense_window SHARED [--sizes 2000,10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import corpus
from bench.bench_end_to_end import measured

MODEL = "use-multilingual"
CONFIG = f"""[pipeline]
stages = ["extract", "langid", "embed", "dedup", "cluster"]
[embed]
model = "{MODEL}"
[dedup]
embed_model = "{MODEL}"
[cluster]
embed_model = "{MODEL}"
"""


def one_size(n: int, shared: Path, tmp: Path) -> dict:
    work = tmp / str(n)
    jsonl = corpus.write(corpus.generate(n, shared), work, site=False)
    config = work / "narrascope.toml"
    config.write_text(CONFIG)
    db = work / "bench.duckdb"
    cli = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config)]
    before = [["import", str(jsonl)],
              ["process", "--no-progress", "--stage", "extract", "--stage", "langid",
               "--stage", "embed"]]  # fmt: skip
    for args in before:
        if measured([*cli, *args], 4 * 3600)["rc"] != 0:
            raise SystemExit(f"{args[0]} failed at {n} documents")
    out = {"n": n}
    for stage in ("dedup", "cluster"):
        out[stage] = measured([*cli, "process", "--no-progress", "--stage", stage], 4 * 3600)
    from storage import connect

    with connect(db, read_only=True) as con:
        out["copy_links"] = con.execute("SELECT count(*) FROM copy_links").fetchone()[0]
        out["narratives"] = con.execute("SELECT count(*) FROM narratives").fetchone()[0]
    return out


def report(results: list[dict]) -> None:
    print(f"Vectors: {MODEL}; every size in the same 60 days.\n")
    print("| documents | dedup s | dedup ms/doc | cluster s | cluster ms/doc | peak RSS MiB "
          "(dedup / cluster) | copy links | narratives |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    first = results[0]
    for r in results:
        cells = []
        for stage in ("dedup", "cluster"):
            m = r[stage]
            if m["rc"] != 0:
                cells += [f"failed ({m['rc']})", ""]
                continue
            per_doc = m["seconds"] / r["n"]
            base = first[stage]["seconds"] / first["n"]
            grown = f" ({per_doc / base:.2f}x)" if r is not first else ""
            cells += [f"{m['seconds']:.1f}", f"{per_doc * 1000:.1f}{grown}"]
        peaks = f"{r['dedup']['peak_mib']:.0f} / {r['cluster']['peak_mib']:.0f}"
        print(f"| {r['n']:,} | " + " | ".join(cells)
              + f" | {peaks} | {r['copy_links']:,} | {r['narratives']:,} |")  # fmt: skip
    print("\nms/doc: each stage's wall time (its own process, start-up included) per document;"
          f" in brackets, against {first['n']:,} documents.")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", type=Path, nargs="?", default=Path("../shared"))
    parser.add_argument("--sizes", default="2000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        results = [one_size(int(n), args.shared, Path(name)) for n in args.sizes.split(",")]
    report(results)


if __name__ == "__main__":
    main()
