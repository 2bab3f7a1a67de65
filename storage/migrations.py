"""Ordered, append-only schema migrations. Never edit a released step: add a new one.

Each step is (version, description, statements), one module each under storage/schema/.
Statements run in one transaction together with the schema_version row that records them."""

from __future__ import annotations

from storage.schema import ALL

MIGRATIONS: list[tuple[int, str, list[str]]] = list(ALL)
LATEST_VERSION = MIGRATIONS[-1][0]
