"""Exports at scale: synthetic stores of 1,000 to 100,000 documents (about 1,500 characters of
mixed Cyrillic and Latin text each, a fifth of them in copy groups, ten documents a narrative),
then `narrascope export` of each kind and format in a process of its own: its peak RSS and
time. DuckDB's COPY streams rows to the file, so peak memory should stay flat as stores grow.

Run: python -m bench.bench_export [1000 10000 100000]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage import connect
from storage.db import transaction

RUNS = [("documents", "parquet"), ("documents", "csv"), ("documents", "jsonl"),
        ("narratives", "parquet"), ("copies", "csv")]  # fmt: skip
SOURCES = 50
PER_NARRATIVE = 10

# One body: words of both scripts, so CSV and JSON writers handle multi-byte text.
_BODY = (
    "Каждую неделю звучат новые разговоры об урегулировании, и каждую неделю к ним прилагается "
    "одно и то же условие. Western capitals insist that any ceasefire be followed by a foreign "
    'presence; "a guarantee", they call it, with commas, quotes and line breaks.\n'
)


def build(db: Path, n: int, per_narrative: int = PER_NARRATIVE, hashed: bool = False) -> None:
    """A store of ``n`` documents written with set-based SQL into the real schema,
    ``per_narrative`` documents a narrative. Document ids count up (``%016x``), or with
    ``hashed`` look like the pipeline's, 16 hex digits of a hash, so the order of the
    ids is not the order the rows were written in and no lookup by id is helped by it."""
    words = _BODY.replace("'", "''")

    def id_(x: str) -> str:
        return f"left(md5('doc' || ({x})), 16)" if hashed else f"printf('%016x', {x})"

    with connect(db) as con, transaction(con):
        con.execute(f"CREATE TEMP TABLE nums AS SELECT range AS i FROM range({n})")
        con.execute(
            f"""INSERT INTO sources SELECT 'site' || i, 'https://site' || i || '.example/',
                   ['sitemaps'], ['ru'], MAP {{'country': CASE WHEN i % 2 = 0 THEN 'ru' ELSE 'de' END}},
                   ['site' || i || '.example'], NULL, TIMESTAMPTZ '2025-01-01', TIMESTAMPTZ '2025-01-01'
                FROM range({SOURCES}) t(i)"""
        )
        con.execute(
            f"""INSERT INTO documents SELECT {id_("i")},
                   'https://site' || (i % {SOURCES}) || '.example/' || i, 'site' || (i % {SOURCES}),
                   TIMESTAMPTZ '2025-01-01' + i * INTERVAL 5 MINUTE,
                   TIMESTAMPTZ '2025-01-01' + i * INTERVAL 5 MINUTE, 1
                FROM nums"""
        )
        con.execute(
            f"""INSERT INTO document_versions (doc_id, version, url, source, origin, run_id,
                   fetched_at, http_status, content_type, encoding, content_hash)
                SELECT {id_("i")}, 1,
                   'https://site' || (i % {SOURCES}) || '.example/' || i, 'site' || (i % {SOURCES}),
                   'crawl', 'bench', TIMESTAMPTZ '2025-01-01' + i * INTERVAL 5 MINUTE, 200,
                   'text/html', 'utf-8', md5(i::VARCHAR)
                FROM nums"""
        )
        con.execute(
            f"""INSERT INTO extractions SELECT {id_("i")}, 1, '2',
                   'Заголовок номер ' || i || ', "в кавычках"', NULL,
                   TIMESTAMPTZ '2025-01-01' + i * INTERVAL 5 MINUTE, NULL,
                   array_to_string(list_transform(range(200),
                       lambda x: w[(1 + hash(i * 1000 + x) % len(w))::BIGINT]), ' ')
                FROM nums, (SELECT string_split('{words}', ' ') AS w)"""
        )
        con.execute(
            f"""INSERT INTO languages SELECT {id_("i")}, 1, '2',
                   ['ru', 'en', 'uk', 'de'][1 + i % 4], 0.99, 'ensemble' FROM nums"""
        )
        con.execute(
            f"""INSERT INTO stage_state SELECT {id_("i")}, 1, s, '2', 'done', 'bench',
                   TIMESTAMPTZ '2025-01-01'
                FROM nums, (VALUES ('extract'), ('langid'), ('cluster')) t(s)"""
        )
        # a fifth of the documents copy the one before them (a group of two)
        con.execute(
            f"""INSERT INTO copy_members SELECT {id_("j")}, 'g' || (i // 5), now()
                FROM nums, (SELECT unnest([0, 1]) AS k) t, LATERAL (SELECT i - k AS j)
                WHERE i % 5 = 1"""
        )
        con.execute(
            f"""INSERT INTO copy_links SELECT {id_("i")}, {id_("i - 1")},
                   'near', 0.9, now() FROM nums WHERE i % 5 = 1"""
        )
        con.execute(
            f"""INSERT INTO narratives SELECT i, now(), now(), 'bench-model', {per_narrative},
                   now(), [1.0, 0.0, 0.0]
                FROM range({max(1, n // per_narrative)}) t(i)"""
        )
        con.execute(
            f"""INSERT INTO narrative_members SELECT {id_("i")}, i // {per_narrative},
                   0.8, 'nearest', now() FROM nums"""
        )
        con.execute(
            f"""INSERT INTO doc_term_lists SELECT {id_("i")}, [{{'term': w, 'n': 1}}
                   FOR w IN ['перемирие', 'ceasefire', 'guarantee']] FROM nums"""
        )
        con.execute("INSERT INTO runs VALUES ('bench', 'process', now(), now(), 'ok', '{}')")


def child(kind: str, fmt: str, db: str, out: str) -> None:
    """One export in this process; prints its peak RSS and time as JSON."""
    from storage.export import export

    started = time.perf_counter()
    manifest = export(Path(db), kind, Path(out), fmt=fmt)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(f["bytes"] for f in manifest["files"])
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": manifest["rows"],
                      "mb": size / 1e6}))  # fmt: skip


def measure(sizes: list[int]) -> None:
    print("| documents | export | format | rows written | file MB | seconds | peak RSS MB |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
            db = Path(tmp) / "store.duckdb"
            # in a process of its own: a child inherits its parent's peak RSS
            subprocess.run([sys.executable, "-m", "bench.bench_export", "--build", str(n), str(db)],
                           check=True)  # fmt: skip
            for kind, fmt in RUNS:
                out = Path(tmp) / f"{kind}-{fmt}"
                proc = subprocess.run(
                    [sys.executable, "-m", "bench.bench_export", "--child", kind, fmt, str(db),
                     str(out)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                rows = sum(r["rows"].values())
                print(f"| {n:,} | {kind} | {fmt} | {rows:,} | {r['mb']:.1f} | "
                      f"{r['seconds']:.1f} | {r['peak_mb']:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:6])
    elif sys.argv[1:2] == ["--build"]:
        build(Path(sys.argv[3]), int(sys.argv[2]))
    else:
        measure([int(a) for a in sys.argv[1:]] or [1000, 10000, 100000])
