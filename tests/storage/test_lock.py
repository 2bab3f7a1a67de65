"""One writer at a time: a second writer exits 75 at once, readers keep working, a dead
holder's lock is taken over."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import connect
from storage.lock import LockHeld, holder, writer_lock
from storage.runs import start_run
from tests.conftest import ROOT, run_cli
from tests.pipeline.test_failures import narratives, store_demo_articles

WORDS_CONFIG = """
[pipeline]
stages = ["extract", "langid", "dedup", "cluster"]
[dedup]
translated = false
[cluster]
vectors = "words"
"""


def hold_lock(db, seconds: float = 60) -> subprocess.Popen:
    """Another process that holds the database's writer lock (as a long crawl would)."""
    code = (
        "import sys, time\n"
        "from storage.lock import writer_lock\n"
        f"with writer_lock({str(db)!r}, 'narrascope run --sources big.toml'):\n"
        "    print('held', flush=True)\n"
        f"    time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def running_crawl(db) -> subprocess.Popen:
    """Another process with a crawl recorded as running (and the writer lock), once it holds."""
    code = (
        "import time\nfrom storage.runs import recorded_run\n"
        f"with recorded_run({str(db)!r}, 'crawl'):\n"
        "    print('held', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def handled_twice(con) -> int:
    """Documents a stage handled more than once (two writers at work would make some)."""
    return con.execute(
        "SELECT count(*) FROM (SELECT doc_id, stage FROM stage_state GROUP BY ALL "
        "HAVING count(*) > 1)"
    ).fetchone()[0]


class Finished(subprocess.CompletedProcess):
    pid: int


def race(db, config, *args: str) -> tuple[Finished, subprocess.CompletedProcess, float]:
    """Start a writer, and the same command again as soon as the first holds the lock: (the
    first, finished; the second; how long the second took)."""
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config), *args]
    env = {**os.environ, "NARRASCOPE_CONFIG": ""}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while holder(db) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    out, err = first.communicate(timeout=300)
    done = Finished(cmd, first.returncode, out, err)
    done.pid = first.pid
    return done, second, took


def test_the_lock_is_reentrant_in_a_process_and_exclusive_between_processes(tmp_path):
    db = tmp_path / "d.duckdb"
    with writer_lock(db, "first"), writer_lock(db, "nested"):  # re-entrant: no deadlock
        assert holder(db)["command"] == "first" and holder(db)["pid"] == os.getpid()
    assert holder(db) is None
    other = hold_lock(db)
    try:
        with pytest.raises(LockHeld, match=rf"pid {other.pid} \(narrascope run --sources big"):
            with writer_lock(db):
                pass
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux)")
def test_a_lock_file_naming_a_live_process_that_does_not_hold_it_names_no_writer(tmp_path):
    """A writer killed with -9 leaves its pid in the lock file; once that pid belongs to
    another process, `status` named that process as the writer and its run as alive."""
    db = tmp_path / "d.duckdb"
    store_demo_articles(db, limit=1)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Path(f"{db}.lock").write_text(json.dumps({
            "pid": other.pid, "command": "narrascope run", "started_at": "2026-12-06T00:00:00+00:00",
        }))  # fmt: skip
        assert holder(db) is None
        status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
        assert status["writer"] is None
        with writer_lock(db, "mine"):  # and a real holder is still named
            assert holder(db)["command"] == "mine"
    finally:
        other.kill()
        other.wait()


def can_take(db) -> bool:
    """Whether another process could take the lock now."""
    code = (
        "import sys\nfrom storage.lock import LockHeld, writer_lock\n"
        f"try:\n    with writer_lock({str(db)!r}):\n        pass\nexcept LockHeld:\n"
        "    sys.exit(75)\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_lock_is_held_until_the_last_thread_leaves_and_a_symlink_shares_it(tmp_path):
    import threading

    db = tmp_path / "d.duckdb"
    entered, leave = threading.Event(), threading.Event()

    def inner():
        with writer_lock(db):
            entered.set()
            leave.wait(30)

    with writer_lock(db):
        worker = threading.Thread(target=inner)
        worker.start()
        assert entered.wait(10)
    assert not can_take(db)  # the outer block left, the thread is still inside
    leave.set()
    worker.join()
    assert can_take(db)
    link = tmp_path / "link.duckdb"
    link.symlink_to(db)
    with writer_lock(db):
        assert not can_take(link)


def test_a_second_writer_exits_75_at_once_and_readers_keep_working(tmp_path):
    db = tmp_path / "d.duckdb"
    store_demo_articles(db, limit=3)
    (tmp_path / "s.jsonl").write_text('{"url": "https://x.example/1", "text": "Hello there."}\n')
    other = hold_lock(db)
    try:
        for args in (
            ["process", "--no-progress"],
            ["import", str(tmp_path / "s.jsonl")],
            ["cluster"],
            ["init"],
            ["run", "--sources", str(tmp_path / "none.toml")],
        ):
            started = time.monotonic()
            proc = run_cli(*args, db=db, check=False)
            took = time.monotonic() - started
            assert proc.returncode == 75, (args, proc.stderr)
            [line] = proc.stderr.strip().splitlines()
            assert f"pid {other.pid}" in line and "narrascope run --sources big.toml" in line
            assert "started 20" in line  # the holder's start time
            assert took < 5, (args, took)  # no waiting (most of it is starting Python)
        # -v adds the traceback and keeps the code a scheduler reads as "try again"
        loud = run_cli("-v", "process", "--no-progress", db=db, check=False)
        assert loud.returncode == 75 and "Traceback" in loud.stderr, loud.stderr
        assert loud.stderr.strip().splitlines()[-1].startswith("error: ")
        # readers never take the lock
        assert "writing now: pid" in run_cli("status", db=db).stdout
        assert run_cli("sql", "SELECT count(*) AS n FROM documents", "--format", "csv",
                       db=db).stdout.split() == ["n", "3"]  # fmt: skip
        assert run_cli("search", "ceasefire", db=db).returncode == 0
    finally:
        other.kill()
        other.wait()
    with connect(db, read_only=True) as con:  # nothing was written by the refused commands
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM stage_state").fetchone()[0] == 0


def test_a_killed_holders_lock_is_taken_over_and_its_run_closed(tmp_path):
    db = tmp_path / "d.duckdb"
    store_demo_articles(db, limit=2)
    other = running_crawl(db)
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)  # while it lives
    assert [(r["status"], r["alive"]) for r in status["last_runs"]] == [("running", True)]
    os.kill(other.pid, signal.SIGKILL)
    other.wait()
    # before the next writer: status says the run recorded as running has no process
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert [(r["status"], r["alive"]) for r in status["last_runs"]] == [("running", False)]
    text = run_cli("status", db=db).stdout
    assert "(no process holds the writer lock: killed? the next writer marks it abandoned)" in text
    proc = run_cli("process", "--stage", "extract", "--no-progress", db=db)
    assert "extract v2: 2 done" in proc.stdout
    assert f"took over the writer lock of {db} from pid {other.pid}" in proc.stderr
    assert "no longer running" in proc.stderr
    assert "was left unfinished by a process that died: marked abandoned" in proc.stderr
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall()
    assert runs == [("crawl", "abandoned"), ("process", "ok")]


def test_a_writer_whose_lock_file_was_deleted_still_keeps_the_others_out(tmp_path):
    """An operator deletes the lock file of a live run, taking it for a stale one. Before, the
    next `run` made a new lock file, wrote beside the first and marked its run abandoned (both
    exit 0; the narratives were clustered twice, under new ids), `init` ran in the middle of
    it, and `status` called the live writer killed. Its running run names its process."""
    from storage.lock import lock_path

    db = tmp_path / "d.duckdb"
    store_demo_articles(db, limit=2)
    other = running_crawl(db)
    try:
        lock_path(db).unlink()
        for args in (["process", "--no-progress"], ["init"]):
            proc = run_cli(*args, db=db, check=False)
            assert proc.returncode == 75, (args, proc.stderr)
            [line] = proc.stderr.strip().splitlines()
            assert f"pid {other.pid}" in line and "lock file d.duckdb.lock was deleted" in line
            assert "started 20" in line  # the run's start, from its row
        status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
        assert [(r["status"], r["alive"]) for r in status["last_runs"]] == [("running", True)]
        assert status["writer"]["pid"] == other.pid
        # to the second, as a lock file says it (it printed microseconds)
        assert re.fullmatch(
            r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", status["writer"]["started_at"]
        )
        with connect(db, read_only=True) as con:
            assert con.execute("SELECT count(*) FROM stage_state").fetchone()[0] == 0
        # a writer that looked before the run was recorded: recording its own run refuses
        with connect(db) as con, pytest.raises(LockHeld, match="d.duckdb.lock was deleted"):
            start_run(con, "process")
    finally:
        other.kill()
        other.wait()
    # once it has gone (killed), the next writer takes over and closes its run
    proc = run_cli("process", "--stage", "extract", "--no-progress", db=db)
    assert "was left unfinished by a process that died: marked abandoned" in proc.stderr
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall()
    assert runs == [("crawl", "abandoned"), ("process", "ok")]


def test_a_store_another_process_holds_open_for_writing_keeps_a_writer_out(tmp_path):
    """A writer whose lock file was deleted, in the middle of a batch (or another DuckDB
    client writing): the flock is free, but the file does not open. The writer lock says so
    (exit 75 in the CLI) once the open has waited, rather than a bare DuckDB error."""
    from storage.db import lock_wait

    db = tmp_path / "d.duckdb"
    with connect(db):
        pass
    code = f"import duckdb, time\nc = duckdb.connect({str(db)!r})\nprint('open', flush=True)\ntime.sleep(60)"
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "open"
        with (
            lock_wait(0.5),
            pytest.raises(LockHeld, match="held open for writing by another process"),
        ):
            with writer_lock(db):
                pass
    finally:
        other.kill()
        other.wait()
    with writer_lock(db):  # once it has gone
        assert holder(db) is not None


def test_two_process_runs_started_together_end_as_one_run(tmp_path):
    config = tmp_path / "words.toml"
    config.write_text(WORDS_CONFIG)
    reference = tmp_path / "reference.duckdb"
    store_demo_articles(reference)
    run_cli("--config", str(config), "process", "--no-progress", db=reference)

    db = tmp_path / "d.duckdb"
    store_demo_articles(db)
    first, second, took = race(db, config, "process", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 75, second.stderr
    assert f"pid {first.pid}" in second.stderr and took < 5
    assert narratives(db) == narratives(reference)
    with connect(db, read_only=True) as con:
        assert handled_twice(con) == 0  # each document handled once per stage
        assert con.execute("SELECT count(*) FROM narratives").fetchone()[0] == len(narratives(db))


def demo_feed_site(local_site):
    """The demo articles as blog pages behind one RSS feed."""
    from crawlers.demo.render import blog_page, rss
    from crawlers.demo.server import load_articles

    articles = sorted(load_articles(), key=lambda a: a["date"])
    routes: dict = {"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {})}
    for a in articles:
        html = blog_page(title=a["title"], paragraphs=a["body"].strip().split("\n\n"),
                         date=a["date"], author="x")  # fmt: skip
        routes[f"/{a['slug']}/"] = ("text/html; charset=utf-8", html.encode(), {})
    site = local_site(routes)
    items = [{"title": a["title"], "url": f"{site.base}/{a['slug']}/", "date": a["date"],
              "summary": ""} for a in articles]  # fmt: skip
    routes["/feed/"] = (
        "application/rss+xml",
        rss(title="d", link=site.base, items=items).encode(),
        {},
    )
    return site


def test_two_cron_runs_started_together_end_as_one_run(tmp_path, local_site):
    site = demo_feed_site(local_site)
    config = tmp_path / "words.toml"
    config.write_text(WORDS_CONFIG + "[crawl]\ndownload_delay = 0\nautothrottle = false\n")
    sources = tmp_path / "s.toml"
    sources.write_text(f'[[source]]\nname = "d"\nhome = "{site.base}/"\n'
                       f'feeds = ["{site.base}/feed/"]\nallow_private = true\n')  # fmt: skip
    reference = tmp_path / "reference.duckdb"
    run_cli("--config", str(config), "run", "--sources", str(sources), db=reference)

    db = tmp_path / "d.duckdb"
    first, second, _ = race(db, config, "run", "--sources", str(sources))
    assert first.returncode == 0, first.stderr
    assert second.returncode == 75 and f"pid {first.pid}" in second.stderr, second.stderr
    assert narratives(db) == narratives(reference)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall() == [
            ("crawl", "ok"),
            ("process", "ok"),
            ("alerts", "ok"),
        ]  # the refused run left no trace
        assert handled_twice(con) == 0


def test_a_writer_records_its_command_with_each_url_cut_to_scheme_and_host(tmp_path, monkeypatch):
    """`status` prints the writer's command, and its lock file and running run keep it: a
    webhook's secret path or a Redis password typed on the command line was kept there."""
    from storage.lock import lock_path
    from storage.runs import recorded_run

    db = tmp_path / "d.duckdb"
    monkeypatch.setattr(sys, "argv", [
        "/usr/bin/narrascope", "alerts", "--webhook", "https://chat.example.org/hooks/T0KEN-s3cret",
        "ingest", "--frontier", "redis://:pa55@10.0.0.5:6379/0", "--sources", "s.toml"])  # fmt: skip
    with recorded_run(db, "alerts"):
        held = lock_path(db).read_text(encoding="utf-8")
        with connect(db, read_only=True) as con:
            [(row,)] = con.execute("SELECT summary FROM runs WHERE status = 'running'").fetchall()
    # the run's row names the lock files it holds (where a writer looks when one was deleted);
    # the lock file is the lock, and names its holder only
    assert json.loads(row)["writer"]["lock_inodes"] == [lock_path(db).stat().st_ino]
    assert set(json.loads(held)) == {"pid", "host", "process_start", "command", "started_at"}
    for kept in (json.loads(held)["command"], json.loads(row)["writer"]["command"]):
        assert kept == ("narrascope alerts --webhook https://chat.example.org/... ingest "
                        "--frontier redis://10.0.0.5:6379/... --sources s.toml")  # fmt: skip
