"""Opening the database: path resolution, connection settings and schema migration."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from storage.migrations import LATEST_VERSION, MIGRATIONS

DEFAULT_DB = "narrascope.duckdb"

#: How long an open waits for another process's lock on the file to go away. Our writers
#: hold the file for one batch at a time (well under a second), so a crawl's writer and a
#: reader take turns instead of failing.
LOCK_WAIT_SECONDS = 30.0


class StorageError(RuntimeError):
    """A database operation failed; the DuckDB error is kept as ``__cause__``."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer narrascope than this one."""


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """``--db`` wins, then ``NARRASCOPE_DB``, then ``./narrascope.duckdb``."""
    return Path(path or os.environ.get("NARRASCOPE_DB") or DEFAULT_DB)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file; 0 for an empty one."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _refuse_newer(version: int, known: int) -> None:
    if version > known:
        raise SchemaTooNewError(
            f"database schema is version {version}, this narrascope knows up to {known}: "
            "upgrade narrascope (pip install -U narrascope) to open it"
        )


def migrate(con: duckdb.DuckDBPyConnection, migrations=MIGRATIONS) -> list[int]:
    """Bring the schema up to date; return the versions applied. Each step is one transaction."""
    current = schema_version(con)
    _refuse_newer(current, migrations[-1][0])
    applied = []
    for version, _description, statements in migrations:
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if version == 1:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                )
            for statement in statements:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            con.execute("COMMIT")
        except duckdb.Error as err:
            con.execute("ROLLBACK")
            raise StorageError(f"migration to schema version {version} failed: {err}") from err
        applied.append(version)
    return applied


def _open(db_path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    pause = 0.02
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
            break
        except duckdb.IOException as err:
            if "lock" not in str(err).lower() or time.monotonic() + pause > deadline:
                raise StorageError(f"cannot open {db_path}: {err}") from err
            time.sleep(pause)  # another process holds it for a batch: take turns
            pause = min(pause * 2, 0.1)
        except duckdb.Error as err:
            raise StorageError(f"cannot open {db_path}: {err}") from err
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def connect(
    path: str | os.PathLike | None = None, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for the duration of a ``with`` block, migrated and set to UTC.

    Hold it no longer than needed: while a process has the file open for writing, no other
    process can open it at all (DuckDB's single-writer rule); an open waits up to
    ``LOCK_WAIT_SECONDS`` for such a lock to go away. A read-only open of an older
    file migrates it first, briefly read-write.
    """
    db_path = resolve_db_path(path)
    if not read_only and (held := _held.get(os.path.realpath(db_path))) is not None:
        held.release()  # DuckDB refuses a read-write and a read-only handle in one process
    if read_only and not db_path.exists():
        raise StorageError(f"no database at {db_path}: run `narrascope init --db {db_path}` first")
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(db_path, read_only)
    try:
        if not read_only:
            migrate(con)
        else:
            version = schema_version(con)
            _refuse_newer(version, LATEST_VERSION)
            if version < LATEST_VERSION:
                con.close()
                with connect(db_path):
                    pass
                con = _open(db_path, read_only=True)
        yield con
    finally:
        con.close()


_held: dict[str, HeldReader] = {}


class HeldReader:
    """A read-only connection that one process keeps between uses, for a caller that reads
    many times a second (the spider looks up crawl state for every page whose links it
    follows). Opening DuckDB costs about 12 ms; reusing a held connection, nothing.

    The owner calls ``release()`` when it goes idle and when it is done. Writing through
    ``connect()`` in the same process releases it first, since DuckDB refuses a read-only and
    a read-write handle on one file in one process; the next ``connection()`` opens it again.
    While it is held, other processes can read the file but not write it (they wait, see
    ``LOCK_WAIT_SECONDS``).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_db_path(path)
        self._key = os.path.realpath(self.path)
        self._stack: ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def held(self) -> bool:
        return self._con is not None

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            stack = ExitStack()
            self._con = stack.enter_context(connect(self.path, read_only=True))
            self._stack = stack
            _held[self._key] = self
        return self._con

    def release(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._con = self._stack, None, None
            _held.pop(self._key, None)
            stack.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One atomic unit of writes: commit on success, roll back and raise StorageError on failure."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except duckdb.Error as err:
        con.execute("ROLLBACK")
        raise StorageError(f"write failed and was rolled back: {err}") from err
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
