"""Reading the store for the dashboard: a read-only connection per request, never held
between requests, so a cron run (DuckDB's one writer) is never blocked by the dashboard.

Every query a page shows comes with its SQL as the analyst can run it (`narrascope sql`):
the parameters written in as SQL literals. The query itself runs with bound parameters."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from storage import connect
from storage.db import DatabaseBusy, StorageError, lock_wait

#: how long a request waits for a writer's batch to finish before it shows the notice
BUSY_WAIT_SECONDS = 1.5


class Busy(DatabaseBusy):
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
    """The database the dashboard reads (opened per call, read-only, never migrated).

    v_narratives labels every narrative from all their documents' terms at once (seconds at
    100,000 documents), so its rows are kept between requests as an Arrow table, read again
    when the database file or its write-ahead log changed (size or modification time: every
    write changes one of them); a query that names v_narratives reads that table instead
    (the same rows, bench/bench_dashboard.py)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._narratives: tuple[tuple, object] | None = None  # (fingerprint, Arrow table)
        self._lock = threading.Lock()

    def fingerprint(self) -> tuple:
        def stat(path: Path) -> tuple:
            try:
                st = path.stat()
            except FileNotFoundError:
                return ()
            return st.st_size, st.st_mtime_ns

        return stat(self.path), stat(self.path.with_name(self.path.name + ".wal"))

    def _snapshot(self, con) -> None:
        """Register the current v_narratives rows on ``con`` under the view's name."""
        fingerprint = self.fingerprint()
        with self._lock:
            if self._narratives is None or self._narratives[0] != fingerprint:
                table = con.sql("SELECT * FROM v_narratives").to_arrow_table()
                self._narratives = (fingerprint, table)
            table = self._narratives[1]
        con.register("v_narratives", table)  # shadows the view on this connection

    def warm(self) -> None:
        """Read v_narratives now (the dashboard command does before it serves)."""
        self.query("SELECT count(*) FROM v_narratives")

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """One read-only connection for a request's queries (opening costs ~60 ms at
        100,000 documents), closed when the request is done."""
        try:
            with lock_wait(BUSY_WAIT_SECONDS), connect(self.path, read_only=True,
                                                      upgrade=False) as con:  # fmt: skip
                yield Reader(self, con)
        except DatabaseBusy as err:
            raise Busy(str(err)) from err

    def query(self, sql: str, params: dict | None = None, **paging) -> Result:
        with self.reading() as reader:
            return reader.query(sql, params, **paging)


class Reader:
    """A request's queries on its connection (Store.reading)."""

    def __init__(self, store: Store, con):
        self.store, self.con, self.path = store, con, store.path
        self._registered = False

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
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", run)}
        if "v_narratives" in run and not self._registered:
            self.store._snapshot(self.con)
            self._registered = True
        cur = self.con.execute(run, used)
        columns, rows = [d[0] for d in cur.description], cur.fetchall()
        more = page is not None and len(rows) > page_size
        return Result(shown(sql, params), columns, rows[:page_size] if more else rows, more)


__all__ = ["Busy", "Reader", "Result", "Store", "StorageError", "literal", "shown"]
