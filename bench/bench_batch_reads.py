"""Reading a stage's batch as the store grows: stores of 1,000, 10,000 and 100,000 documents of
the end-to-end corpus (bench/corpus.py: real sentences, 300-1,500 words), written into the real
schema as an import and the extract and langid stages leave them (ids of 16 hex digits, like
the pipeline's, so not in the order of the rows; rows in the order the documents arrived).
Then batches of 64 are read as the runner reads them (a page of pending keys with where
their rows are, `PendingKeys`, then `load_inputs`), twenty spread over the backlog, next to
`load_inputs` finding the rows by the keys alone (as the Ray engine reads), to the single
join by key that load_inputs used before (kept here as the reference) and to batches of 64
documents drawn at random (an order the stages never read in).

DuckDB stores long texts ZSTD-compressed, and a join that reads them while it matches keys
decompresses the whole column; load_inputs reads the texts by row id afterwards instead.

Last, the stages that read and write the most for their work, langid and signals, process
each whole store again as `narrascope process --stage langid --stage signals --force` would
(default configuration): their documents a second show what still grows with the store.

Run: python -m bench.bench_batch_reads SHARED [sizes...] [--keep DIR]
(--keep leaves each store as DIR/reads-N.duckdb.)
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.corpus import generate
from pipeline.config import DEFAULTS
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from storage.db import transaction
from storage.documents import seen_at_sql
from storage.longtext import by_row_id
from storage.stage_inputs import PAGE, PendingKeys, load_inputs, pending

BATCH = 64
BATCHES = 20
CHUNK = 5_000  # documents written per statement
WINDOW = 9_000  # dedup's window: 30 days either side at 300 documents a day (half of it)


def build(db: Path, docs: list[dict]) -> None:
    """The documents as `import`, `process --stage extract` and `--stage langid` leave them."""
    with connect(db) as con:
        for start in range(0, len(docs), CHUNK):
            part = docs[start : start + CHUNK]
            texts = ["\n\n".join(d["paragraphs"]) for d in part]
            cols = [
                [d["url"] for d in part],
                [d["title"] for d in part],
                [d["lang"] for d in part],
                [d["published"].isoformat() for d in part],
                texts,
                list(range(start, start + len(part))),
            ]
            with transaction(con):
                con.execute(
                    """CREATE OR REPLACE TEMP TABLE part AS SELECT left(md5(url), 16) AS doc_id,
                           * FROM (SELECT unnest(?::VARCHAR[]) AS url, unnest(?::VARCHAR[]) AS title,
                           unnest(?::VARCHAR[]) AS lang, unnest(?::VARCHAR[]) AS published,
                           unnest(?::VARCHAR[]) AS text, unnest(?::BIGINT[]) AS i)""",
                    cols,
                )
                at = "TIMESTAMPTZ '2026-11-01' + i * INTERVAL 1 SECOND"
                con.execute(
                    f"INSERT INTO documents SELECT doc_id, url, 'bench', {at}, {at}, 1 "
                    "FROM part ORDER BY i"
                )
                con.execute(
                    f"""INSERT INTO document_versions (doc_id, version, url, source, origin,
                           run_id, fetched_at, content_hash, text, hint_title, hint_published_at,
                           hint_lang)
                        SELECT doc_id, 1, url, 'bench', 'import', 'bench', {at}, md5(text), text,
                               title, published, lang FROM part ORDER BY i"""
                )
                con.execute(
                    "INSERT INTO extractions SELECT doc_id, 1, '2', title, NULL, NULL, NULL, "
                    "text FROM part ORDER BY i"
                )
                con.execute(
                    "INSERT INTO languages SELECT doc_id, 1, '2', lang, 0.99, 'ensemble' "
                    "FROM part ORDER BY i"
                )
                con.execute(
                    "INSERT INTO stage_state SELECT doc_id, 1, s, '2', 'done', 'bench', now() "
                    "FROM part, (VALUES ('extract'), ('langid')) t(s) ORDER BY i"
                )
        con.execute("CHECKPOINT")


def before(con, keys: list[tuple[str, int]]) -> list:
    """load_inputs' read until this benchmark: one join by key that reads every column."""
    return con.execute(
        f"""
        SELECT v.doc_id, v.version, v.url, v.source, v.text, e.text, e.title,
               v.hint_title, v.hint_published_at, v.hint_lang, l.lang, t.status, t.title,
               t.text, {seen_at_sql("e")}
        FROM document_versions v
        JOIN documents d ON d.doc_id = v.doc_id
        JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
          ON k.doc_id = v.doc_id AND k.version = v.version
        LEFT JOIN extractions e ON e.doc_id = v.doc_id AND e.version = v.version
        LEFT JOIN languages l ON l.doc_id = v.doc_id AND l.version = v.version
        LEFT JOIN translations t ON t.doc_id = v.doc_id AND t.version = v.version
        """,
        [[k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()


def window_lengths(con, doc_ids: list[str], by_row: bool) -> int:
    """The text lengths of ``doc_ids``, much as dedup reads its window's (which it finds by
    date, joined with the vectors and languages): in the join that finds them (before), or by
    row id afterwards (storage/longtext.py)."""
    join = (
        "FROM extractions x JOIN documents d ON d.doc_id = x.doc_id "
        "AND d.current_version = x.version WHERE x.doc_id IN (SELECT unnest(?::VARCHAR[]))"
    )
    if not by_row:
        return len(con.execute(f"SELECT x.doc_id, length(x.text) {join}", [doc_ids]).fetchall())
    rows = con.execute(f"SELECT x.rowid, x.doc_id, x.version {join}", [doc_ids]).fetchall()
    return len(by_row_id(con, "extractions", ("length(x.text)",), rows))


def ms(f) -> float:
    start = time.perf_counter()
    f()
    return (time.perf_counter() - start) * 1000


def measure(db: Path) -> dict:
    with connect(db, read_only=True) as con:
        keys = pending(con, "signals", "bench", ("langid",))
        step = max(1, (len(keys) - BATCH) // (BATCHES - 1))
        batches = [keys[i : i + BATCH] for i in range(0, len(keys) - BATCH + 1, step)][:BATCHES]
        rng = random.Random(0)
        drawn = [rng.sample(keys, BATCH) for _ in range(BATCHES // 2)]
        recent = [k[0] for k in keys[-WINDOW:]]
        first = load_inputs(con, batches[0], with_html=False)  # warm the caches once
        assert first[0].text, "the stage would read no text"
        page = PendingKeys("signals", "bench", ("langid",))
        page.page = len(keys)  # one page locates every batch below (not timed)
        page.take(con, BATCH)
        assert first == load_inputs(con, batches[0], with_html=False, located=page.located)
        # a run's page (8,192 keys, or the whole backlog) and its share of a batch of 64
        one_page = statistics.median(
            ms(lambda: PendingKeys("signals", "bench", ("langid",)).take(con, BATCH))
            for _ in range(3)
        )
        return {
            "docs": len(keys),
            "pending": statistics.median(
                ms(lambda: pending(con, "signals", "bench", ("langid",), BATCH))
                for _ in range(BATCHES // 2)
            ),
            "page": one_page,
            "page share": one_page * BATCH / min(len(keys), PAGE),
            "located": statistics.median(
                ms(lambda b=b: load_inputs(con, b, with_html=False, located=page.located))
                for b in batches
            ),
            "before": statistics.median(ms(lambda b=b: before(con, b)) for b in batches),
            "after": statistics.median(
                ms(lambda b=b: load_inputs(con, b, with_html=False)) for b in batches
            ),
            "after, as extract": statistics.median(
                ms(lambda b=b: load_inputs(con, b, with_html=True)) for b in batches
            ),
            "random, before": statistics.median(ms(lambda b=b: before(con, b)) for b in drawn),
            "random, after": statistics.median(
                ms(lambda b=b: load_inputs(con, b, with_html=False)) for b in drawn
            ),
            "mib_per_1000": os.path.getsize(db) / 2**20 / len(keys) * 1000,
            "window": [
                statistics.median(
                    ms(lambda b=by_row: window_lengths(con, recent, b)) for _ in range(3)
                )
                for by_row in (False, True)
            ],
        }


def stage_rates(db: Path) -> dict[str, float]:
    """Documents a second of langid and signals over the whole store, default configuration."""
    stages = build_stages(["langid", "signals"], DEFAULTS)
    report = run_stages(db, stages, batch_size=DEFAULTS["pipeline"]["batch_size"], force=True)
    return {s.stage: s.docs_per_s for s in report.stages}


def main(shared: Path, sizes: list[int], keep: Path | None = None) -> None:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            db = (keep or Path(tmp)) / f"reads-{n}.duckdb"
            db.unlink(missing_ok=True)
            start = time.perf_counter()
            build(db, generate(n, shared))
            print(f"{n}: built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            rows.append(measure(db) | {"rates": stage_rates(db)})
    print(f"Reading a batch of {BATCH} as the store grows: median ms of {BATCHES} batches spread "
          "over the backlog in the stages' order, and of 10 batches drawn at random; "
          "the texts are stored as DuckDB chose (ZSTD)\n")  # fmt: skip
    print("| documents | MiB / 1,000 docs | pending | one join by key (before) | load_inputs, keys "
          "matched | load_inputs, located with the page | a page of pending keys located (its "
          "share of a batch) | load_inputs with the imported text (as extract) "
          "| random: before | random: load_inputs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['docs']:,} | {r['mib_per_1000']:.1f} | {r['pending']:.1f} "
              f"| {r['before']:.1f} | {r['after']:.1f} | {r['located']:.1f} "
              f"| {r['page']:.0f} ({r['page share']:.1f}) | {r['after, as extract']:.1f} "
              f"| {r['random, before']:.1f} | {r['random, after']:.1f} |")  # fmt: skip
    print(f"\nThe text lengths of the last {WINDOW:,} documents stored (as the dedup stage reads "
          "its window's; all of them where the store is smaller), median ms of 3\n")  # fmt: skip
    print("| documents | in the join (before) | by row id |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['docs']:,} | {r['window'][0]:.1f} | {r['window'][1]:.1f} |")
    print("\nlangid and signals over the whole store (`process --stage langid --stage signals "
          "--force`, default configuration), documents a second\n")  # fmt: skip
    print("| documents | langid | signals |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['docs']:,} | {r['rates']['langid']:.0f} | {r['rates']['signals']:.0f} |")


if __name__ == "__main__":
    args = sys.argv[2:]
    kept = Path(args.pop(args.index("--keep") + 1)) if "--keep" in args else None
    args = [a for a in args if a != "--keep"]
    main(Path(sys.argv[1]), [int(a) for a in args] or [1_000, 10_000, 100_000], kept)
