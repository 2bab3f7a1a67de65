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

#: views kept between requests as Arrow tables (Store), each with the views that read it,
#: in the order they are read (the later ones read the earlier ones)
SNAPSHOTS = {
    "v_copy_relations": ("v_documents", "v_copies", "v_sources", "v_narratives"),
    "v_sources": (),
    "v_narratives": (),
}

#: the languages of current documents, for the pages' language filters
LANGUAGES = """
SELECT DISTINCT l.lang
FROM languages l JOIN documents d ON d.doc_id = l.doc_id AND d.current_version = l.version
WHERE l.lang IS NOT NULL
ORDER BY l.lang"""

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

    Three views compute over the whole store whatever a query asks of them: v_copy_relations
    (every copy group's origin and links), v_narratives (every narrative's labels from all
    its documents' terms) and v_sources. Their rows are kept between requests as Arrow
    tables (SNAPSHOTS), each read when a query first needs it (by name, or through a view
    built on it: v_documents and v_copies read the kept copy relations) and again once the
    database file or its write-ahead log changed (size or modification time: every write
    changes one of them). The same rows, in a fraction of the time:
    bench/bench_dashboard.py."""

    def __init__(self, path: Path):
        self.path = Path(path)
        #: view -> (fingerprint, Arrow table); "languages" -> (fingerprint, list)
        self._kept: dict[str, tuple[tuple, object]] = {}
        self._lock = threading.Lock()

    def fingerprint(self) -> tuple:
        def stat(path: Path) -> tuple:
            try:
                st = path.stat()
            except FileNotFoundError:
                return ()
            return st.st_size, st.st_mtime_ns

        return stat(self.path), stat(self.path.with_name(self.path.name + ".wal"))

    def kept(self, con, name: str, read) -> object:
        """What ``read(con)`` gives, kept until the database changes."""
        fingerprint = self.fingerprint()
        with self._lock:
            found = self._kept.get(name)
            if found is None or found[0] != fingerprint:
                found = self._kept[name] = (fingerprint, read(con))
            return found[1]

    def register(self, con, sql: str) -> None:
        """Register on ``con``, under the views' names, the kept rows of every view in
        SNAPSHOTS that ``sql`` reads, directly or through the views built on them."""
        for view, readers in SNAPSHOTS.items():
            if any(re.search(rf"\b{name}\b", sql) for name in (view, *readers)):
                table = self.kept(con, view, lambda c, v=view: c.sql(f"SELECT * FROM {v}")
                                  .to_arrow_table())  # fmt: skip
                con.register(view, table)  # shadows the view on this connection

    def languages(self, con) -> list[str]:
        """The languages of current documents (the pages' language filters)."""
        return self.kept(
            con, "languages", lambda c: [r[0] for r in c.execute(LANGUAGES).fetchall()]
        )

    def warm(self) -> None:
        """Read every kept view now (the dashboard command does before it serves)."""
        with self.reading() as reader:
            self.register(reader.con, " ".join(SNAPSHOTS))
            self.languages(reader.con)

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

    @property
    def languages(self) -> list[str]:
        """The languages of current documents, for the language filters."""
        return self.store.languages(self.con)

    def query(self, sql: str, params: dict | None = None, *, page: int | None = None,
              page_size: int = 50) -> Result:  # fmt: skip
        """Run one SELECT; with ``page`` (1-based), one page of it and whether more follow.

        A query that pages itself (its own ``LIMIT $limit OFFSET $offset``, as the copy
        lineage does by copy group) gets a page of its first column's values: rows of up to
        ``page_size`` distinct values."""
        params = dict(params or {})
        own_limit = re.compile(r"\bLIMIT \$limit\b", re.IGNORECASE)
        inner = page is not None and own_limit.search(sql) is not None
        if page is not None:
            params["limit"] = page_size
            params["offset"] = (max(page, 1) - 1) * page_size
            if not inner:
                sql = sql.rstrip() + "\nLIMIT $limit OFFSET $offset"
        run = own_limit.sub("LIMIT $limit + 1", sql) if page is not None else sql
        self.store.register(self.con, run)
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", run)}
        cur = self.con.execute(run, used)
        columns, rows = [d[0] for d in cur.description], cur.fetchall()
        keys = list(dict.fromkeys(r[0] for r in rows)) if inner else range(len(rows))
        more = page is not None and len(keys) > page_size
        if more:
            kept = set(keys[:page_size])
            rows = [r for r in rows if r[0] in kept] if inner else rows[:page_size]
        return Result(shown(sql, params), columns, rows, more)


__all__ = ["Busy", "Reader", "Result", "Store", "StorageError", "literal", "shown"]
