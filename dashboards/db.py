"""Reading the store for the dashboard: a read-only connection per request, never held
between requests, so a cron run (DuckDB's one writer) is never blocked by the dashboard.

Every query a page shows comes with its SQL as the analyst can run it (`narrascope sql`):
the parameters written in as SQL literals. The query itself runs with bound parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from storage import connect
from storage.db import DatabaseBusy, StorageError, lock_wait

#: how long a request waits for a writer's batch to finish before it shows the notice
BUSY_WAIT_SECONDS = 1.5


class Busy(Exception):
    """A run holds the database for writing right now: show "updating, retry in a moment"."""


@dataclass
class Result:
    """A query's rows and the SQL that produced them, as shown on the page."""

    sql: str
    columns: list[str]
    rows: list[tuple]
    more: bool = False  # paged: a next page exists
    dicts: list[dict] = field(init=False)

    def __post_init__(self) -> None:
        self.dicts = [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def literal(value) -> str:
    """A Python value as a DuckDB SQL literal (for the SQL shown, not for running it)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        return f"TIMESTAMPTZ '{value.isoformat()}'" if isinstance(value, datetime) else (
            f"DATE '{value.isoformat()}'")  # fmt: skip
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def shown(sql: str, params: dict) -> str:
    """The SQL with each $name replaced by its literal, dedented, ready for `narrascope sql`."""
    text = re.sub(r"\$([a-z_]+)\b", lambda m: literal(params[m.group(1)]), sql)
    lines = text.strip("\n").splitlines()
    indent = min((len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()), default=0)
    return "\n".join([lines[0].strip()] + [x[indent:] for x in lines[1:]])


class Store:
    """The database the dashboard reads (opened per call, read-only, never migrated)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def query(self, sql: str, params: dict | None = None, *, page: int | None = None,
              page_size: int = 50) -> Result:  # fmt: skip
        """Run one SELECT; with ``page`` (1-based), one page of it and whether more follow."""
        params = dict(params or {})
        run = sql
        if page is not None:
            params["limit"] = page_size
            params["offset"] = (max(page, 1) - 1) * page_size
            sql = sql.rstrip() + "\nLIMIT $limit OFFSET $offset"
            run = sql.replace("LIMIT $limit", "LIMIT $limit + 1")
        columns, rows = self._run(run, params)
        more = page is not None and len(rows) > page_size
        return Result(shown(sql, params), columns, rows[:page_size] if more else rows, more)

    def _run(self, sql: str, params: dict) -> tuple[list[str], list[tuple]]:
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
        try:
            with lock_wait(BUSY_WAIT_SECONDS), connect(self.path, read_only=True,
                                                      upgrade=False) as con:  # fmt: skip
                cur = con.execute(sql, used)
                return [d[0] for d in cur.description], cur.fetchall()
        except DatabaseBusy as err:
            raise Busy(str(err)) from err

    def check(self) -> None:
        """Open once: a missing file, a newer or older schema raise StorageError."""
        self._run("SELECT 1", {})


__all__ = ["Busy", "Result", "Store", "StorageError", "literal", "shown"]
