"""The one writer: how fast DuckDB takes each stage's results, against how fast one worker
computes them (issue 16, "Limits, measured").

Scaled out, workers compute (Ray Data, pipeline/engines/) and one process writes every
batch's results with the same set-based writes as the local runner (storage/stages.py), since
DuckDB allows one writing process per file. This measures both halves in one local run of
every default stage over the seeded corpus of bench/corpus.py (tiny Argos packages translate,
e5-small embeds): per stage, the seconds spent computing (prepare, lookups and process: what a
worker does) and writing (one transaction a batch: what the writer does), the rows and bytes
the writes add, and from them how many workers one writer can feed before it saturates
(writer docs/s over one worker's docs/s).

Run: python -m bench.bench_writer SHARED [N documents, default 100]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench import corpus
from bench.bench_end_to_end import install_tiny_packages


def table_rows(db: Path) -> int:
    from storage import connect

    with connect(db, read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names)


def file_bytes(db: Path) -> int:
    """The database after a checkpoint (what the writes added, not what the WAL holds)."""
    from storage import connect

    with connect(db) as con:
        con.execute("CHECKPOINT")
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.suffix != ".lock")


def measure(db: Path) -> list[dict]:
    """Every default stage in turn, with the runner's compute and write steps timed."""
    import pipeline.runner as runner
    from pipeline.stages import build_stages

    spent: dict = defaultdict(float)
    real_process, real_write = runner._process, runner._write

    def process(*args, **kwargs):
        # _process calls itself, through this name, to isolate the documents of a batch that
        # raised: only the outermost call is timed, or that batch would count twice
        spent["depth"] += 1
        started = time.perf_counter()
        try:
            return real_process(*args, **kwargs)
        finally:
            spent["depth"] -= 1
            if not spent["depth"]:
                spent["compute"] += time.perf_counter() - started

    def write(db_path, stage, items, extras, *args):
        started = time.perf_counter()
        try:
            return real_write(db_path, stage, items, extras, *args)
        finally:
            spent["write"] += time.perf_counter() - started
            spent["batches"] += 1

    runner._process, runner._write = process, write
    rows = []
    try:
        pipeline = build_stages(None, {})
        for stage in pipeline:
            spent.clear()
            before_rows, before_bytes = table_rows(db), file_bytes(db)
            report = runner.run_stages(db, [stage], pipeline=pipeline)
            [done] = report.stages
            rows.append({
                "stage": stage.name, "whole_batch": stage.whole_batch, "docs": done.done + done.rejected,
                "batches": int(spent["batches"]), "compute_s": spent["compute"],
                "write_s": spent["write"], "rows": table_rows(db) - before_rows,
                "mb": (file_bytes(db) - before_bytes) / 2**20,
            })  # fmt: skip
            print(f"{stage.name}: {rows[-1]}", file=sys.stderr, flush=True)
    finally:
        runner._process, runner._write = real_process, real_write
    return rows


def report(n: int, rows: list[dict]) -> None:
    print(f"One writer against one worker, every default stage over {n} documents "
          "(bench/corpus.py, batches of 64)\n")  # fmt: skip
    print("| stage | docs | worker docs/s (compute) | writer docs/s | writer rows/s "
          "| writer MB/s | rows written | MB added | workers one writer feeds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        compute = r["docs"] / r["compute_s"] if r["compute_s"] else float("inf")
        writer = r["docs"] / r["write_s"] if r["write_s"] else float("inf")
        ratio = writer / compute
        feeds = f"{ratio:.2g}" if ratio < 10 else f"{ratio:.0f}"
        feeds = "- (runs on the driver)" if r["whole_batch"] else feeds
        print(f"| {r['stage']} | {r['docs']} | {compute:.1f} | {writer:.1f} "
              f"| {r['rows'] / r['write_s']:.0f} | {r['mb'] / r['write_s']:.2f} | {r['rows']} "
              f"| {r['mb']:.2f} | {feeds} |")  # fmt: skip
    spread = [r for r in rows if not r["whole_batch"]]
    compute = sum(r["compute_s"] for r in spread)
    write = sum(r["write_s"] for r in rows)
    print(
        "\nMB added: the file after a checkpoint (DuckDB grows it in 256 KiB blocks). The "
        f"stages workers run: {compute:.1f} s computing; every stage's writes: {write:.1f} s. "
        f"One writer keeps up with about {compute / write:.0f} workers of this machine's speed "
        "before writing is the limit."
    )


def main() -> None:
    args = sys.argv[1:]
    shared = Path(args[0] if args else "../shared").resolve()
    n = int(args[1]) if len(args) > 1 else 100
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = str(tmp / var.lower())
        os.environ["ARGOS_PACKAGES_DIR"] = str(tmp / "argos-packages")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        install_tiny_packages(tmp)
        jsonl = corpus.write(corpus.generate(n, shared), tmp / "corpus", site=False)
        db = tmp / "writer.duckdb"
        from pipeline.cli import cli

        try:
            cli(["--db", str(db), "import", str(jsonl)], standalone_mode=False)
        except SystemExit as exit_:
            if exit_.code:
                raise
        rows = measure(db)
    report(n, rows)


if __name__ == "__main__":
    main()
