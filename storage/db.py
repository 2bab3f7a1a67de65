"""Opening the database: path resolution, connection settings, the schema brought up to date
on open (storage/migrations.py), and turns between this process's readers and writers."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path

import duckdb

from storage.errors import NotNarrascopeError as NotNarrascopeError  # re-exported
from storage.errors import SchemaTooNewError as SchemaTooNewError
from storage.errors import StorageError
from storage.migrations import LATEST_VERSION, refuse_foreign, refuse_newer
from storage.migrations import migrate as migrate  # re-exported, as are these
from storage.migrations import schema_version as schema_version

DEFAULT_DB = "narrascope.duckdb"

#: How long an open waits for another process's lock on the file to go away. Our writers
#: hold the file for one batch at a time (well under a second), so a crawl's writer and a
#: reader take turns instead of failing.
LOCK_WAIT_SECONDS = 30.0


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """``--db`` wins, then ``NARRASCOPE_DB``, then ``./narrascope.duckdb``."""
    return Path(path or os.environ.get("NARRASCOPE_DB") or DEFAULT_DB)


class DatabaseBusy(StorageError):
    """Another process held the file's lock for longer than the open would wait."""


_local = threading.local()
#: DuckDB's Python client loses its Arrow scan ("Table Function with name python_arrow_scan
#: does not exist") on a connection opened while another thread of the process opens the
#: same file: opens take turns (each attempt is quick; a locked file fails it at once)
_opening = threading.Lock()
#: every connection and cursor this process has open, for ``interrupt_queries``
_live: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
_live_lock = threading.Lock()


def _track(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    with _live_lock:
        _live.add(con)
    return con


def interrupt_queries() -> int:
    """Interrupt the query running on each open connection of this process, from any thread
    (``DuckDBPyConnection.interrupt``); return how many connections were open. A connection
    with no query running is not affected: the next query on it runs. For a stop signal
    that DuckDB has not seen (pipeline/interrupt.py)."""
    with _live_lock:
        open_now = list(_live)
    for con in open_now:
        try:
            con.interrupt()
        except duckdb.Error:  # closed meanwhile
            pass
    return len(open_now)


@contextmanager
def lock_wait(seconds: float) -> Iterator[None]:
    """Opens on this thread wait at most ``seconds`` for another process's lock on a file
    (0: one attempt) instead of ``LOCK_WAIT_SECONDS``; they raise ``DatabaseBusy`` when it
    stays locked. For callers that would rather retry later, or do without, than wait."""
    previous = getattr(_local, "wait", None)
    _local.wait = seconds
    try:
        yield
    finally:
        _local.wait = previous


def _open(db_path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    wait = getattr(_local, "wait", None)
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    pause = 0.02
    while True:
        try:
            with _opening:
                con = _track(duckdb.connect(str(db_path), read_only=read_only))
            break
        except duckdb.IOException as err:
            if "lock" not in str(err).lower():
                raise StorageError(f"cannot open {db_path}: {err}") from err
            if time.monotonic() + pause > deadline:
                raise DatabaseBusy(f"cannot open {db_path}: {err}") from err
            time.sleep(pause)  # another process holds it for a batch: take turns
            pause = min(pause * 2, 0.1)
        except duckdb.Error as err:
            raise StorageError(f"cannot open {db_path}: {err}") from err
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def connect(
    path: str | os.PathLike | None = None, *, read_only: bool = False, upgrade: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database for the duration of a ``with`` block, migrated and set to UTC.

    Hold it no longer than needed: while a process has the file open for writing, no other
    process can open it at all (DuckDB's single-writer rule); an open waits up to
    ``LOCK_WAIT_SECONDS`` for such a lock to go away. A read-only open of an older
    file migrates it first, briefly read-write and under the writer lock (storage/lock.py),
    or says why it cannot (a writer at work, a file it may not write); with ``upgrade=False``
    (a reader that must never write, like the dashboard) it raises StorageError instead. A
    DuckDB file that narrascope did not write is refused, read or written.
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
        version = schema_version(con)
        if version == 0:
            refuse_foreign(con, db_path)
        if not read_only:
            migrate(con)
        else:
            refuse_newer(version, LATEST_VERSION)
            if version < LATEST_VERSION and not upgrade:
                raise StorageError(
                    f"{db_path} has schema version {version}, this narrascope reads "
                    f"{LATEST_VERSION}: run `narrascope init --db {db_path}` to upgrade it"
                )
            if version < LATEST_VERSION:
                con.close()
                _upgrade_for_reader(db_path, version)
                con = _open(db_path, read_only=True)
        yield con
    finally:
        con.close()


def _upgrade_for_reader(db_path: Path, version: int) -> None:
    """Migrate an older file for a read-only open, as a writer would: under the writer lock,
    so never in the middle of another command's writes (before, a reader upgraded a store a
    crawl was writing, batches apart)."""
    from storage.lock import LockHeld, writer_lock  # storage.lock imports this module

    what = f"{db_path} has schema version {version}, this narrascope reads {LATEST_VERSION}"
    try:
        with writer_lock(db_path, command=f"schema upgrade of {db_path} for a reader"):
            with connect(db_path):
                pass
    except LockHeld as err:
        raise LockHeld(f"{what}, and cannot be upgraded while another writes it: {err}") from err
    except (OSError, StorageError) as err:
        raise StorageError(
            f"{what}, and it cannot be upgraded here ({err}): someone who may write it can "
            f"run `narrascope init --db {db_path}`"
        ) from err


_held: dict[str, HeldReader] = {}


class ReaderBusy(StorageError):
    """A read through a HeldReader gave up waiting for a write of this process to the file."""


class _Turns:
    """Who may use one file in this process: lookups through its HeldReader and writes through
    ``HeldReader.writing`` take turns (``lock``); while a write lends its connection, lookups
    read through ``lent``, a connection of their own on the writer's database."""

    def __init__(self):
        self.lock = threading.RLock()  # re-entrant: a read-only open may migrate (a write)
        self.lent: duckdb.DuckDBPyConnection | None = None


_turns: dict[str, _Turns] = {}
_turns_guard = threading.Lock()


def _turns_for(key: str) -> _Turns:
    with _turns_guard:
        return _turns.setdefault(key, _Turns())


class HeldReader:
    """A read-only connection that one process keeps between uses, for a caller that reads
    many times a second (the spider looks up crawl state for every page whose links it
    follows). Opening DuckDB costs about 12 ms; reusing a held connection, nothing.

    The owner calls ``release()`` when it goes idle and when it is done. Writing in the same
    process takes it over, since DuckDB refuses a read-only and a read-write handle on one file
    in one process: ``connect()`` lets go of it first (waiting for a read in progress), and a
    write inside ``HeldReader.writing()`` also keeps reads off the file until it has its
    connection, then lends them a connection on it, so reads go on while it writes. The next
    read after the write opens the file again. While it is held, other processes can read the
    file but not write it (they wait, see ``LOCK_WAIT_SECONDS``).

    Thread-safe: reads (``use``) on one thread, writes on another.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = resolve_db_path(path)
        self._key = os.path.realpath(self.path)
        self._turns = _turns_for(self._key)
        self._stack: ExitStack | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def held(self) -> bool:
        return self._con is not None

    @contextmanager
    def use(
        self, timeout: float | None = None, open_wait: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for the reads of one ``with`` block. Waits up to ``timeout`` seconds
        (None: as long as it takes) for a write of this process that is opening or closing
        the file, then raises ``ReaderBusy``; opening waits up to ``open_wait`` seconds for
        another process's lock (None: ``LOCK_WAIT_SECONDS``), then raises ``DatabaseBusy``."""
        if not self._turns.lock.acquire(timeout=-1 if timeout is None else timeout):
            raise ReaderBusy(f"{self.path} is being written by this process")
        try:
            if self._turns.lent is not None:
                yield self._turns.lent
            else:
                yield self._open(open_wait)
        finally:
            self._turns.lock.release()

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The held connection, opened if needed, for a caller that reads on one thread and
        writes nowhere else meanwhile (otherwise use ``use()``)."""
        with self._turns.lock:
            return self._open(None)

    def _open(self, wait: float | None) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            stack = ExitStack()
            with lock_wait(wait) if wait is not None else nullcontext():
                con = stack.enter_context(connect(self.path, read_only=True))
            self._con, self._stack = con, stack
            _held[self._key] = self
        return self._con

    def release(self, wait: bool = True) -> None:
        """Close the held connection. ``wait=False`` returns at once when a write of this
        process has the file (it has let go of the connection already)."""
        if not self._turns.lock.acquire(blocking=wait):
            return
        try:
            self._close()
        finally:
            self._turns.lock.release()

    def _close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._con = self._stack, None, None
            _held.pop(self._key, None)
            stack.close()

    @staticmethod
    @contextmanager
    def writing(
        path: str | os.PathLike | None,
    ) -> Iterator[Callable[[duckdb.DuckDBPyConnection], AbstractContextManager]]:
        """This process's turn to write ``path``, for a writer on another thread than the
        reader's: waits for a read in progress, closes the held reader and keeps reads off
        the file (they wait, see ``use``) until the block ends or until it calls
        ``lend(con)`` with its open write connection, whose ``with`` block the reads go on
        through a connection of their own on the same database (seeing committed data)::

            with HeldReader.writing(path) as lend, connect(path) as con, lend(con):
                ...  # write
        """
        key = os.path.realpath(resolve_db_path(path))
        turns = _turns_for(key)
        turns.lock.acquire()
        try:
            if (held := _held.get(key)) is not None:
                held._close()
            yield lambda con: _lend(turns, con)
        finally:
            turns.lock.release()


def utc_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of ``con`` (a session of its own) with the store's time zone: a new session
    takes the machine's, and times, dates and date filters would then follow the machine."""
    cursor = _track(con.cursor())
    cursor.execute("SET TimeZone = 'UTC'")
    return cursor


@contextmanager
def _lend(turns: _Turns, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Inside ``HeldReader.writing``: reads go on through a cursor of ``con`` for the block."""
    cursor = utc_cursor(con)
    try:
        turns.lent = cursor
        turns.lock.release()
        try:
            yield
        finally:
            turns.lock.acquire()
            turns.lent = None
    finally:
        cursor.close()


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
