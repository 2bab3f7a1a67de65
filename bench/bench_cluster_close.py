"""Where the cluster stage's time per document grows: the window, or writing the narratives.

The end-to-end corpus (bench/corpus.py) puts every size in the same 60 days. Here dedup
(without translated copies) and then cluster run with ``vectors = "words"`` (no model) on
stores written as bench/bench_batch_reads.py writes them: N documents in 60 days, and the
same documents with their dates spread over ten times as long (as many a day as a tenth of
them). Each batch's close of the file is timed: DuckDB checkpoints when the writer closes
the file, and the checkpoint writes what the batch changed.

Then, on the store the run left, how long a close takes after a transaction that updates
one narrative's vector sum, its size only, or replaces one of its language parts. Last,
DuckDB alone: a table of vectors (384 floats, as e5-small's, and 2,048, as the words
vectors) appended 64 rows per transaction, 25,600 rows in all, each close timed. DuckDB
stores an update of a list column as a delete and an append, so this is what each batch of
narrative writes costs as the tables grow.

With ``--per-day N`` each size is spread instead to about N documents a day (10,000 in its
60 days and 100,000 over 600 at 167 a day): a crawl's rate, so the window holds as many
documents at every size, and what still grows per document grows with the store. The
table gives dedup's time too, and each batch's time without its close, per quarter of the
run, to show whether it levels off. The corpus's order is not its dates' order, so each
batch spans all its days, as a backfill crawled at once would; ``--dated`` stores the
documents in the order they were published, as a crawl that follows its sites stores them:
first seen in date order, their rows in that order too. (Making them first seen when published
on a store written in the corpus's order is not the same: each batch's texts then lie all over
the table, and reading them by row id cost 127 ms a batch of 64 against 47 at 10,000.)

With ``--statements`` each SQL statement of each cluster run is timed (bench/statements.py)
and a table per run gives the slowest, in ms a batch over the run, its first and its last
quarter. With ``--profile`` each cluster run is profiled (cProfile, so slower) and a table gives the
milliseconds a batch spends reading the active narratives, reading its documents, writing,
and opening and closing the file.

Run: python -m bench.bench_cluster_close SHARED [sizes...] [--factors 1,10 | --per-day N]
     [--dated] [--profile] [--statements]
     (default sizes 1000 10000; each size in its 60 days and spread ten times as far)
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb
import numpy as np

from bench.bench_batch_reads import build
from bench.corpus import generate
from bench.statements import StatementTimer
from pipeline import runner
from pipeline.config import DEFAULTS
from pipeline.narratives import ClusterStage
from pipeline.stages import build_stages
from storage import connect
from storage import db as storage_db

SETTINGS = copy.deepcopy(DEFAULTS)
SETTINGS["dedup"]["translated"] = False
SETTINGS["cluster"]["vectors"] = "words"
BATCH = DEFAULTS["pipeline"]["batch_size"]  # cluster and dedup take 8 times as many


def stretch(db: Path, factor: int) -> None:
    """Spread the documents' dates ``factor`` times as far from the corpus's first day."""
    with connect(db) as con:
        con.execute(f"""UPDATE document_versions SET hint_published_at = strftime(
            TIMESTAMPTZ '2026-09-01' + (TRY_CAST(hint_published_at AS TIMESTAMPTZ)
            - TIMESTAMPTZ '2026-09-01') * {int(factor)}, '%Y-%m-%dT%H:%M:%S+00:00')""")


# what ``--profile`` reports per batch: (module path, function) -> docs/benchmarks.md's name for it
PROFILED = {
    ("storage/outputs/narrative_lookup.py", "narrative_context"): "read the active narratives",
    ("storage/stage_inputs.py", "load_inputs"): "read the batch's documents",
    ("storage/outputs/narratives.py", "write"): "write",
    ("storage/db.py", "connect"): "open and close the file",
}


def per_batch(profile: cProfile.Profile) -> dict[str, float]:
    """Cumulative ms per batch of the PROFILED functions, and of the whole run."""
    stats = pstats.Stats(profile).stats  # (file, line, function) -> (cc, calls, tt, ct, ..)
    found = {
        PROFILED[key]: ct
        for (file, _, function), (_, _, _, ct, _) in stats.items()
        for key in PROFILED
        if file.endswith(key[0]) and function == key[1]
    }
    batches = next(
        (calls for (file, _, function), (_, calls, *_) in stats.items()
         if file.endswith("storage/outputs/narratives.py") and function == "write"),
        1,
    )  # fmt: skip
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    return {"batches": batches, "all": total * 1000 / batches} | {
        name: ct * 1000 / batches for name, ct in found.items()
    }


def cluster_timed(db: Path, profile: bool = False, statements: bool = False) -> dict:
    """Dedup, then cluster with each of its read-write opens timed: open, work, close; with
    ``profile``, cluster runs under cProfile (slower) and its costs per batch are returned;
    with ``statements``, each SQL statement's ms per batch (bench/statements.py)."""
    dedup = runner.run_stages(db, build_stages(["dedup"], SETTINGS), batch_size=BATCH)
    closes: list[float] = []  # ms to close each read-write open
    work: list[float] = []  # ms from each read-write open to its close
    real = storage_db.connect

    @contextmanager
    def connect_timed(path=None, *, read_only=False, upgrade=True):
        opened = time.perf_counter()
        with real(path, read_only=read_only, upgrade=upgrade) as con:
            yield con
            closing = time.perf_counter()
        if not read_only:
            closes.append((time.perf_counter() - closing) * 1000)
            work.append((closing - opened) * 1000)

    runner.connect = connect_timed
    profiler = cProfile.Profile() if profile else None
    timer = StatementTimer() if statements else None
    try:
        if profiler:
            profiler.enable()
        with timer.timing() if timer else nullcontext():
            report = runner.run_stages(db, build_stages(["cluster"], SETTINGS), batch_size=BATCH)
    finally:
        if profiler:
            profiler.disable()
        runner.connect = real
    with connect(db, read_only=True) as con:
        narratives = con.execute("SELECT count(*) FROM narratives").fetchone()[0]
    return {
        "dedup_s": dedup.stages[0].seconds,
        "seconds": report.stages[0].seconds,
        "docs_per_s": report.stages[0].docs_per_s,
        "closes": closes,
        "work": work,
        "close_s": sum(closes) / 1000,
        "narratives": narratives,
        "profile": per_batch(profiler) if profiler else None,
        "statements": timer.table() if timer else None,
    }


def close_after(db: Path, sql: str, repeat: int = 3) -> float:
    """Median ms to close the file after one transaction of ``sql``."""
    out = []
    for _ in range(repeat):
        con = duckdb.connect(str(db))
        con.execute(sql)
        start = time.perf_counter()
        con.close()
        out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out)


def appends(dim: int, rows: int = 25_600, batch: int = 64, parts: int = 8) -> list[float]:
    """DuckDB alone: mean ms to close the file after each transaction that appends ``batch``
    vectors of ``dim`` floats, in ``parts`` equal stretches of ``rows`` rows."""
    rng = np.random.default_rng(0)
    closes = []
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "vectors.duckdb")
        duckdb.connect(db).execute("CREATE TABLE v (id BIGINT PRIMARY KEY, v FLOAT[])").close()
        for start in range(0, rows, batch):
            con = duckdb.connect(db)
            con.execute(
                "INSERT INTO v SELECT unnest(?::BIGINT[]), unnest(?::FLOAT[][])",
                [list(range(start, start + batch)),
                 rng.random((batch, dim), dtype=np.float32).tolist()],
            )  # fmt: skip
            begin = time.perf_counter()
            con.close()
            closes.append((time.perf_counter() - begin) * 1000)
    k = len(closes) // parts
    return [statistics.mean(closes[i * k : (i + 1) * k]) for i in range(parts)]


def quarters(values: list[float]) -> list[float]:
    k = max(1, len(values) // 4)
    return [statistics.median(values[i * k : (i + 1) * k]) for i in range(4) if values[i * k :]]


def main(
    shared: Path,
    sizes: list[int],
    factors: tuple[int, ...] = (1, 10),
    profile: bool = False,
    per_day: int | None = None,
    dated: bool = False,
    statements: bool = False,
) -> None:
    """Each size in its 60 days spread by each of ``factors``, or, with ``per_day``, spread
    so that it holds about that many documents a day; ``dated``: stored in date order.
    """
    rows, last = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            base = Path(tmp) / f"base-{n}.duckdb"
            docs = generate(n, shared)
            if dated:  # stored, and so first seen, in the order they were published
                docs.sort(key=lambda d: d["published"])
            build(base, docs)
            spreads = (max(1, round(n / (60 * per_day))),) if per_day else factors
            for factor in spreads:
                db = Path(tmp) / f"run-{n}-{factor}.duckdb"
                db.write_bytes(base.read_bytes())
                if factor != 1:
                    stretch(db, factor)
                r = cluster_timed(db, profile, statements)
                rows.append((n, 60 * factor, r))
                print(f"{n} in {60 * factor} days: {r['seconds']:.1f} s", file=sys.stderr)
                last = db
        first = "(SELECT min(narrative_id) FROM narratives)"
        writes = {
            "update one narrative's vector_sum": (
                f"UPDATE narratives SET vector_sum = vector_sum WHERE narrative_id = {first}"
            ),
            "update one narrative's size": (
                f"UPDATE narratives SET size = size WHERE narrative_id = {first}"
            ),
            "replace one language part": (
                "BEGIN; CREATE TEMP TABLE p AS SELECT * FROM narrative_parts LIMIT 1; "
                "DELETE FROM narrative_parts WHERE narrative_id = (SELECT narrative_id FROM p) "
                "AND lang = (SELECT lang FROM p); INSERT INTO narrative_parts SELECT * FROM p; "
                "COMMIT"
            ),
            "insert one stage_state row": (
                "INSERT INTO stage_state VALUES ('bench', 1, 'bench', '1', 'done', 'bench', "
                "now()) ON CONFLICT DO NOTHING"
            ),
        }
        after = {name: close_after(last, sql) for name, sql in writes.items()}
    curves = {dim: appends(dim) for dim in (384, 2048)}
    order = "stored in date order" if dated else "stored in the corpus's order"
    size = BATCH * ClusterStage.batch_factor
    print(f"cluster (`vectors = \"words\"`, batches of {size}) after dedup, documents {order}; "
          "each batch's close of the file timed (DuckDB checkpoints on close)\n")  # fmt: skip
    print("| documents | days | dedup s | cluster s | docs/s | narratives | closes s | close ms: "
          "first 5 | close ms: median of each quarter of the run | batch ms without its close: "
          "median of each quarter |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, days, r in rows:
        c = r["closes"]
        print(f"| {n:,} | {days} | {r['dedup_s']:.1f} | {r['seconds']:.1f} | "
              f"{r['docs_per_s']:.0f} | {r['narratives']:,} | {r['close_s']:.1f} | "
              f"{', '.join(f'{x:.0f}' for x in c[:5])} | "
              f"{', '.join(f'{x:.0f}' for x in quarters(c))} | "
              f"{', '.join(f'{x:.0f}' for x in quarters(r['work']))} |")  # fmt: skip
    print(f"\nClosing the file after one transaction, on the last store ({rows[-1][0]:,} "
          "documents), median ms of 3\n")  # fmt: skip
    print("| transaction | close ms |")
    print("|---|---|")
    for name, ms in after.items():
        print(f"| {name} | {ms:.0f} |")
    if profile:
        names = list(PROFILED.values())
        print("\ncProfile of each cluster run: cumulative ms per batch (profiled, so slower)\n")
        print("| documents | days | batches | all | " + " | ".join(names) + " |")
        print("|---|---|---|---|" + "---|" * len(names))
        for n, days, r in rows:
            pb = r["profile"]
            print(f"| {n:,} | {days} | {pb['batches']} | {pb['all']:.0f} | "
                  + " | ".join(f"{pb.get(k, 0):.0f}" for k in names) + " |")  # fmt: skip
    for n, days, r in rows if statements else ():
        print(f"\nSQL statements of cluster at {n:,} documents in {days} days: ms a batch, over "
              "the run and in its first and last quarter\n")  # fmt: skip
        print("| statement | ms a batch | first quarter | last quarter |")
        print("|---|---|---|---|")
        for key, ms, first, last in r["statements"]:
            print(f"| `{key.replace('|', '/')}` | {ms:.1f} | {first:.1f} | {last:.1f} |")
    print("\nDuckDB alone: closing the file after appending 64 vectors, mean ms in each "
          "stretch of 3,200 rows of 25,600\n")  # fmt: skip
    print("| floats a vector | " + " | ".join(f"to {3200 * (i + 1):,}" for i in range(8)) + " |")
    print("|---|" + "---|" * 8)
    for dim, means in curves.items():
        print(f"| {dim:,} | " + " | ".join(f"{m:.0f}" for m in means) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", type=Path)
    parser.add_argument("sizes", type=int, nargs="*", default=[1_000, 10_000])
    spread = parser.add_mutually_exclusive_group()
    spread.add_argument("--factors", default="1,10", help="date spreads, e.g. 1,10")
    spread.add_argument(
        "--per-day", type=int, help="spread each size to about this many documents a day"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each cluster run")
    parser.add_argument(
        "--statements", action="store_true", help="time each SQL statement of each cluster run"
    )
    parser.add_argument(
        "--dated", action="store_true", help="store the documents in the order they were "
        "published, as a crawl that follows its sites does (by default, the corpus's order)"
    )  # fmt: skip
    args = parser.parse_args()
    factors = tuple(int(f) for f in args.factors.split(","))
    main(args.shared, args.sizes, factors, args.profile, args.per_day, args.dated, args.statements)
