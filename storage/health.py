"""Source health: per-source counts of each crawl run, and the sources whose health dropped."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows

HEALTH_COLUMNS = [
    ("run_id", "VARCHAR"),
    ("source", "VARCHAR"),
    ("recorded_at", "TIMESTAMPTZ"),
    ("fetched", "INTEGER"),
    ("new", "INTEGER"),
    ("changed", "INTEGER"),
    ("unchanged", "INTEGER"),
    ("not_modified", "INTEGER"),
    ("skipped", "INTEGER"),
    ("rejected", "INTEGER"),
    ("errors", "JSON"),
    ("empty_bodies", "INTEGER"),
    ("median_body_chars", "INTEGER"),
]


def health_row(run_id: str, source: str, spider: dict, stored: dict, lengths: list[int]) -> dict:
    """One source's counts for a run: fetches and errors as the spider saw them, new /
    changed / unchanged as storage found them."""
    errors = {k.split(":", 1)[1]: n for k, n in spider.items() if k.startswith("error:")}
    return {
        "run_id": run_id,
        "source": source,
        "recorded_at": datetime.now(UTC),
        "fetched": spider.get("fetched", 0),
        "new": stored.get("new", 0),
        "changed": stored.get("changed", 0),
        "unchanged": stored.get("unchanged", 0),
        "not_modified": stored.get("not_modified", 0),
        "skipped": spider.get("skipped", 0),
        "rejected": stored.get("rejected", 0),
        "errors": json.dumps(errors, sort_keys=True),
        "empty_bodies": spider.get("empty_bodies", 0),
        "median_body_chars": int(statistics.median(lengths)) if lengths else None,
    }


def record_health(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    insert_rows(con, "source_health", HEALTH_COLUMNS,
                [tuple(r[name] for name, _ in HEALTH_COLUMNS) for r in rows])  # fmt: skip


def latest_health(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """source -> its latest run's health (v_source_health), as dicts."""
    cursor = con.execute("SELECT * FROM v_source_health ORDER BY source")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
