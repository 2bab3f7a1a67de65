"""Opening the database while another process holds it."""

import subprocess
import sys
import threading
import time

import pytest

import storage.db
from storage import connect
from storage.db import DatabaseBusy, HeldReader, ReaderBusy, StorageError

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_an_open_waits_for_another_process_to_let_go(tmp_path):
    """A crawl writes a batch at a time; a reader (or the next batch) waits its turn."""
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    proc = hold(db, 2.0)
    started = time.monotonic()
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] > 0
    assert time.monotonic() - started > 0.5  # it did wait for the lock
    proc.wait()


def test_a_lock_held_too_long_is_a_clear_error(tmp_path, monkeypatch):
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    monkeypatch.setattr(storage.db, "LOCK_WAIT_SECONDS", 0.3)
    proc = hold(db, 5.0)
    try:
        with pytest.raises(StorageError, match="cannot open .*lock"):
            with connect(db):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_a_held_reader_gives_way_to_writes_in_its_own_process(tmp_path):
    """The spider reads crawl state through a held connection; the writer's batches in the same
    process take the file over (DuckDB refuses a read-only and a read-write handle at once)."""
    db = tmp_path / "n.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    reader = HeldReader(db)
    first = reader.connection()
    assert reader.connection() is first  # held between uses, not reopened
    with connect(db) as con:
        con.execute("INSERT INTO t VALUES (1)")
    assert not reader.held
    assert reader.connection().execute("SELECT count(*) FROM t").fetchone() == (1,)
    reader.release()
    assert not reader.held


def test_a_write_on_another_thread_waits_for_a_read_in_progress(tmp_path):
    """The crawl writes on a thread of its own while the spider reads on the reactor's: the
    write lets go of the held connection only once the read is done (not under it)."""
    db = tmp_path / "n.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    reader = HeldReader(db)
    written = threading.Event()

    def write():
        with connect(db) as con:
            con.execute("INSERT INTO t VALUES (1)")
        written.set()

    thread = threading.Thread(target=write)
    with reader.use() as con:
        thread.start()
        assert not written.wait(0.3)  # the write waits for the read ...
        assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)  # ... still open
    thread.join(30)
    assert written.is_set() and not reader.held
    with reader.use() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    reader.release()


def test_reads_go_on_through_the_connection_of_a_write_in_this_process(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    reader = HeldReader(db)
    with reader.use() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    turn, may_open, inserted, may_commit = (threading.Event() for _ in range(4))

    def write():
        with HeldReader.writing(db) as lend:
            turn.set()
            may_open.wait(10)
            with connect(db) as con, lend(con):
                con.execute("BEGIN")
                con.execute("INSERT INTO t VALUES (2)")
                inserted.set()
                may_commit.wait(10)
                con.execute("COMMIT")

    thread = threading.Thread(target=write)
    thread.start()
    turn.wait(10)  # the writer has the file to itself while it opens it: reads wait or give up
    assert not reader.held
    with pytest.raises(ReaderBusy):
        with reader.use(timeout=0.1):
            pass
    may_open.set()
    inserted.wait(10)
    with reader.use(timeout=0) as con:  # the write is open: reads go on, seeing what is committed
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    may_commit.set()
    thread.join(30)
    assert not thread.is_alive()
    with reader.use() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (2,)
    reader.release()


def test_a_read_that_must_not_wait_gives_up_at_once_on_another_process_lock(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    reader = HeldReader(db)
    proc = hold(db, 10)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match="cannot open .*lock"):
            with reader.use(timeout=0, open_wait=0):
                pass
        assert time.monotonic() - started < 1.0 and not reader.held
    finally:
        proc.kill()
        proc.wait()
    with reader.use(timeout=0, open_wait=0) as con:  # free again: it reads
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] > 0
    reader.release()


def test_other_processes_read_while_a_reader_is_held(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE t AS SELECT 42 AS x")
    reader = HeldReader(db)
    reader.connection()
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; print(duckdb.connect(sys.argv[1], "
             "read_only=True).execute('SELECT x FROM t').fetchone()[0])", str(db)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.stdout.strip() == "42", out.stderr
    finally:
        reader.release()


def test_sources_are_kept_and_updated_by_name(tmp_path):
    from storage.sources import SourceRow, record_sources

    def row(name, **tags):
        return SourceRow(name, f"https://{name}.example/", ["feeds"], ["ru"], tags,
                         [f"{name}.example"], 100)  # fmt: skip

    with connect(tmp_path / "n.duckdb") as con:
        record_sources(con, [row("a", country="RU", network="x"), row("b")])
        record_sources(con, [row("a", country="BY")])  # b left the sources file
        got = con.execute("SELECT name, tags['country'], tags['network'], "
                          "first_listed_at < last_listed_at FROM sources ORDER BY 1").fetchall()  # fmt: skip
    assert got == [("a", "BY", None, True), ("b", None, None, False)]


def test_bulk_rows_with_vectors_read_back_as_written(tmp_path, monkeypatch):
    """Rows with FLOAT[] columns travel as an Arrow table: lists, numpy arrays, NULLs and
    aware timestamps come back as written; rows Arrow cannot take go the plain way; a failing
    insert inside a transaction reports its own error."""
    import datetime as dt

    import numpy as np

    from storage import bulk
    from storage.db import transaction

    built = []
    real_arrow = bulk._arrow
    monkeypatch.setattr(bulk, "_arrow", lambda *a: built.append(real_arrow(*a)) or built[-1])
    cols = [("id", "VARCHAR"), ("n", "INTEGER"), ("seen", "TIMESTAMPTZ"), ("v", "FLOAT[]")]
    at = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    with connect(tmp_path / "b.duckdb") as con:
        con.execute(
            "CREATE TABLE t (id VARCHAR PRIMARY KEY, n INTEGER, seen TIMESTAMPTZ, v FLOAT[])"
        )
        bulk.insert_rows(con, "t", cols, [("a", 1, at, [0.5, -1.0]),
                                          ("b", None, None, np.array([0.25], np.float32))])  # fmt: skip
        bulk.insert_rows(con, "t", cols, [("a", 2, at, [2.0])])  # replaces
        bulk.insert_rows(con, "t", cols, [("c", "3", at, [1.0]), ("d", 4, at, [1.0])])  # mixed
        assert [b is not None for b in built] == [True, True, False]  # the last: the plain way
        with pytest.raises(StorageError, match="Constraint Error"), transaction(con):
            bulk.insert_rows(con, "t", cols, [("e", 5, at, [1.0]), ("e", 6, at, [1.0])],
                             replace=False)  # fmt: skip
        got = con.execute("SELECT id, n, epoch(seen), v FROM t ORDER BY id").fetchall()
    assert got == [("a", 2, at.timestamp(), [2.0]), ("b", None, None, [0.25]),
                   ("c", 3, at.timestamp(), [1.0]), ("d", 4, at.timestamp(), [1.0])]  # fmt: skip
