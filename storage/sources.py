"""The sources a crawl read, kept in DuckDB so analysts can join documents to their tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from storage.db import transaction


@dataclass(frozen=True, slots=True)
class SourceRow:
    name: str
    home: str
    entry_points: list[str]
    languages: list[str]
    tags: dict[str, str]
    allowed_domains: list[str]
    max_pages: int | None


def record_sources(con: duckdb.DuckDBPyConnection, rows: list[SourceRow]) -> None:
    """Insert or update each source (one transaction); sources not named keep their rows."""
    now = datetime.now(UTC)
    with transaction(con):
        for r in rows:
            tags = {str(k): str(v) for k, v in r.tags.items()}
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, MAP(?::VARCHAR[], ?::VARCHAR[]), ?, ?, "
                "?, ?) ON CONFLICT (name) DO UPDATE SET home = excluded.home, "
                "entry_points = excluded.entry_points, languages = excluded.languages, "
                "tags = excluded.tags, allowed_domains = excluded.allowed_domains, "
                "max_pages = excluded.max_pages, last_listed_at = excluded.last_listed_at",
                [r.name, r.home, r.entry_points, r.languages, list(tags), list(tags.values()),
                 r.allowed_domains, r.max_pages, now, now],
            )  # fmt: skip
