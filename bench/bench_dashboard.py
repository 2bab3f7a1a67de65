"""The dashboard at scale: a synthetic store of 100,000 documents and 5,000 narratives (the
generator of bench/bench_export.py with hashed ids, twenty documents a narrative, then the
first 2,000 documents moved into one large narrative), then every page requested 20 times through the
app in this process (Starlette's test client: no network in the way). Prints the median and
the worst server time of each page; the target is under 1 s for both.

Run: python -m bench.bench_dashboard [documents]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_export import build
from storage import connect
from storage.db import transaction

REQUESTS = 20
LOCAL = "http://127.0.0.1"  # without a token the app answers loopback hosts only
LARGEST = 2_000


def store(db: Path, n: int) -> None:
    build(db, n, per_narrative=20, hashed=True)  # ids as the pipeline's: no help from order
    with connect(db) as con, transaction(con):
        # one narrative of LARGEST documents: its page is the heaviest
        con.execute(
            "UPDATE narrative_members SET narrative_id = 0 WHERE doc_id IN "
            "(SELECT doc_id FROM documents ORDER BY first_seen_at, doc_id LIMIT ?)",
            [LARGEST],
        )
        con.execute(
            "DELETE FROM narratives WHERE narrative_id NOT IN "
            "(SELECT DISTINCT narrative_id FROM narrative_members)"
        )
        con.execute("UPDATE narratives SET size = ? WHERE narrative_id = 0", [LARGEST])


def measure(n: int) -> None:
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        db = Path(tmp) / "store.duckdb"
        started = time.perf_counter()
        store(db, n)
        with connect(db, read_only=True) as con:
            narratives, documents = con.execute(
                "SELECT count(*), sum(size) FROM narratives"
            ).fetchone()
            doc = con.execute("SELECT max(doc_id) FROM documents").fetchone()[0]
        print(f"{documents:,} documents, {narratives:,} narratives (built in "
              f"{time.perf_counter() - started:.0f} s)\n")  # fmt: skip
        pages = {
            "overview": "/",
            "narratives": "/narratives",
            "narratives, filtered": "/narratives?lang=ru&min_sites=2&sort=documents",
            "narratives, page 40": "/narratives?page=40",
            f"narrative ({LARGEST:,} documents)": "/narratives/0",
            "narrative (20 documents)": "/narratives/200",
            "document": f"/documents/{doc}",
            # every body draws 200 words from the same 45: both occur in 98% of documents
            "search, keywords in 98% of documents": "/search?q=guarantee+ceasefire",
            "search, keyword in one title": "/search?q=92249",
            "sources": "/sources",
        }
        print("| page | requests | median s | worst s | status |")
        print("|---|---:|---:|---:|---|")
        app = create_app(db, embed={})
        t = time.perf_counter()
        app.state.store.warm()  # as `narrascope dashboard` does before it serves
        print(f"kept views read before serving: {time.perf_counter() - t:.1f} s\n")
        with TestClient(app, base_url=LOCAL) as client:
            for name, path in pages.items():
                times, statuses = [], set()
                for _ in range(REQUESTS):
                    t = time.perf_counter()
                    statuses.add(client.get(path).status_code)
                    times.append(time.perf_counter() - t)
                print(f"| {name} | {REQUESTS} | {statistics.median(times):.2f} | "
                      f"{max(times):.2f} | {', '.join(map(str, sorted(statuses)))} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
