"""Stop signals (systemd's SIGTERM, Ctrl-C) end a writing command cleanly: the batch in
progress is not committed, the run is recorded 'interrupted', the writer lock is released,
the exit code is 128 + the signal, and `run` does not go on to process after an interrupted
crawl. (SIGTERM inside a processing write: tests/pipeline/test_crash_safety.py.)"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from storage import connect
from storage.lock import holder
from tests.conftest import ROOT, import_jsonl, run_cli
from tests.crawlers.test_evidence import feed_site
from tests.crawlers.test_spiders import article, sources_file
from tests.test_run_deadline import CONFIG  # cheap stages: the tests are about signals

# The CLI with SIGTERM sent to itself inside the first write of the extract stage: in `run`,
# after the crawl, whose scrapy handlers used to stay installed and swallow the signal; in
# `process --engine ray`, after ray.init installed a SIGTERM handler of its own (sys.exit(15)).
# With TERM_IN_QUERY set, the signal comes during a query that DuckDB's own threads run (see
# tests/pipeline/test_crash_safety.py): after a crawl, whose reactor had the descriptor that
# lets the process hear it there (pipeline/interrupt.py).
TERM_IN_EXTRACT = """
import os, runpy, signal, sys, threading
import storage.stages as stages
real = stages.write_outputs
def write_outputs(con, ctx, *args):
    real(con, ctx, *args)
    if ctx.stage == "extract" and os.environ.get("TERM_IN_QUERY"):
        con.execute("SET threads = 8")
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        con.execute("SELECT count(*) FROM (SELECT range FROM range(1000000000000000) UNION ALL "
                    "SELECT range FROM range(1000000000000000)) t WHERE t.range % 7 = 3")
    elif ctx.stage == "extract":
        os.kill(os.getpid(), signal.SIGTERM)
stages.write_outputs = write_outputs
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


# `run` with SIGTERM sent to itself as the crawl closes (its writer storing the last batch):
# after scrapy's graceful stop could act on it, with the crawl about to end as finished.
TERM_IN_CLOSE = """
import os, runpy, signal, sys, time
import crawlers.pipelines as pipelines
real = pipelines.DuckDBWriter.close
def close(self):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)
    real(self)
pipelines.DuckDBWriter.close = close
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


def wrapped(code: str, db, config, *args: str, env: dict | None = None, timeout: float = 240):
    return subprocess.run(
        [sys.executable, "-c", code, "--db", str(db), "--config", str(config), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "NARRASCOPE_CONFIG": "", **(env or {})},
    )  # fmt: skip


def start_run(db, config, sources, **popen) -> subprocess.Popen:
    """`run` in a process of its own, to be signalled."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config), "run",
         "--sources", sources],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NARRASCOPE_CONFIG": ""}, **popen,
    )  # fmt: skip


def runs(db) -> list[tuple[str, str]]:
    with connect(db, read_only=True) as con:
        return con.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall()


def setup(tmp_path, local_site, pages: int, delay: float):
    routes = {f"/p/{i}": ("text/html; charset=utf-8", article(f"Статья {i}"),
                          {"Delay": str(delay)} if delay else {}) for i in range(pages)}  # fmt: skip
    site = feed_site(local_site, routes)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    return sources, config, tmp_path / "n.duckdb"


def test_sigterm_during_the_crawl_stores_what_came_and_processes_nothing(tmp_path, local_site):
    # 40 pages of 1.5 s, two at a time: the signal comes about a third of the way through
    sources, config, db = setup(tmp_path, local_site, 40, 1.5)
    proc = start_run(db, config, sources)
    time.sleep(7)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15  # the requests in flight (5 s timeout), not the 30 s left
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out.startswith("crawl interrupted: ")
    assert err.strip().splitlines()[-1] == (
        "error: interrupted by SIGTERM during the crawl: the pages received were stored, and "
        "the next run requests the rest"
    )
    assert runs(db) == [("crawl", "interrupted")]  # no processing after the signal
    assert holder(db) is None
    with connect(db, read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM document_versions").fetchone()[0]
    assert 0 < stored < 40

    out = run_cli("--config", str(config), "process", "--no-progress", db=db).stdout
    assert f"extract v2: {stored} done" in out  # what the crawl stored is all there


@pytest.mark.parametrize("verbose", [False, True])
def test_sigterm_after_the_crawl_stops_the_processing(tmp_path, local_site, verbose):
    """-v adds the traceback, and the exit code stays the signal's."""
    sources, config, db = setup(tmp_path, local_site, 3, 0)
    verbosity = ["-v"] if verbose else []
    proc = wrapped(TERM_IN_EXTRACT, db, config, "run", "--sources", sources, *verbosity)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert proc.stdout.startswith("crawl ok: ") and " 3 new, " in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: interrupted by SIGTERM: ")
    assert ("Traceback" in proc.stderr) is verbose
    assert runs(db) == [("crawl", "ok"), ("process", "interrupted")]  # no alerts run either
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stage_state").fetchone()[0] == 0
    assert holder(db) is None


def test_sigterm_during_a_long_query_after_the_crawl_stops_the_processing(tmp_path, local_site):
    """The query is interrupted, not waited for (it would run for days): before, the crawl's
    reactor kept the descriptor the signal is heard through, and `run` waited."""
    sources, config, db = setup(tmp_path, local_site, 3, 0)
    proc = wrapped(TERM_IN_EXTRACT, db, config, "run", "--sources", sources,
                   env={"TERM_IN_QUERY": "1"}, timeout=120)  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: interrupted by SIGTERM: ")
    assert runs(db) == [("crawl", "ok"), ("process", "interrupted")]
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stage_state").fetchone()[0] == 0
    assert holder(db) is None


def test_sigterm_as_the_crawl_closes_still_stops_the_run(tmp_path, local_site):
    sources, config, db = setup(tmp_path, local_site, 3, 0)
    proc = wrapped(TERM_IN_CLOSE, db, config, "run", "--sources", sources)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert runs(db) == [("crawl", "interrupted")]
    with connect(db, read_only=True) as con:  # the last batch was still written
        assert con.execute("SELECT count(*) FROM document_versions").fetchone()[0] == 3


def test_a_sigint_ignored_from_the_start_stays_ignored_through_the_crawl(tmp_path, local_site):
    """A command a script starts in the background (`cmd &`) has SIGINT ignored: Ctrl-C in
    that terminal is not for it, though scrapy handles SIGINT during the crawl."""
    sources, config, db = setup(tmp_path, local_site, 8, 1.0)
    proc = start_run(db, config, sources,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert runs(db) == [("crawl", "ok"), ("process", "ok"), ("alerts", "ok")]


@pytest.mark.slow  # a Ray instance
def test_sigterm_on_the_ray_engine_is_an_interrupted_run(tmp_path):
    db = tmp_path / "n.duckdb"
    docs = [{"url": f"https://example.org/{i}", "text": f"Текст номер {i}. " * 40}
            for i in range(4)]  # fmt: skip
    import_jsonl(tmp_path, db, docs)
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG + '[process]\nengine = "ray"\n')
    proc = wrapped(TERM_IN_EXTRACT, db, config, "process", "--no-progress",
                   env={"RAY_AUTH_MODE": "disabled"})  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "error: interrupted by SIGTERM" in proc.stderr
    assert runs(db)[-1] == ("process", "interrupted")
    assert holder(db) is None


# `run` with SIGTERM arriving while Python runs a finalizer (an object's __del__, a weakref
# callback: the garbage collector runs them anywhere, scrapy's signal dispatcher leaves many
# at the crawl's end): an exception raised there is "ignored" by Python, so the handler's
# Interrupted never reached the command, which went on to exit 0. Sent inside the last write
# of the last stage, or inside the alerts' detection.
TERM_IN_A_FINALIZER = """
import os, runpy, signal, sys, time
import pipeline.notify as notify
import storage.stages as stages

class Dropped:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler runs here, inside the finalizer

if os.environ["TERM_IN"] == "alerts":
    real_alerts = notify.raise_alerts
    def raise_alerts(*args, **kwargs):
        Dropped()  # garbage at once
        return real_alerts(*args, **kwargs)
    notify.raise_alerts = raise_alerts
else:
    real_write = stages.write_outputs
    def write_outputs(con, ctx, *args):
        real_write(con, ctx, *args)
        if ctx.stage == "langid":
            Dropped()
    stages.write_outputs = write_outputs
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


@pytest.mark.parametrize("phase", ["process", "alerts"])
def test_sigterm_during_a_finalizer_still_stops_the_run(tmp_path, local_site, phase):
    sources, config, db = setup(tmp_path, local_site, 3, 0)
    proc = wrapped(TERM_IN_A_FINALIZER, db, config, "run", "--sources", sources,
                   env={"TERM_IN": phase})  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: interrupted by SIGTERM")
    assert runs(db)[-1] == (phase, "interrupted")
    assert holder(db) is None


def _full_pipe() -> tuple[int, int, int]:
    """A pipe whose buffer is already full (read end, write end, bytes in it): a command
    writing to it waits, as `narrascope process | less` does before the pager reads."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filled = 0
    try:
        while True:
            filled += os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    return read_end, write_end, filled


def _stopped_while_reporting(db, config, args: list[str], done_sql: str) -> tuple:
    """``args`` with its standard output a full pipe, SIGTERM once ``done_sql`` finds its
    work in the store (the report then waits for its reader), then the reader reads: (exit
    code, stderr, what the reader got, the run recorded last)."""
    read_end, write_end, filled = _full_pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config), *args],
        cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NARRASCOPE_CONFIG": ""},
    )  # fmt: skip
    os.close(write_end)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            with connect(db, read_only=True) as con:  # the work is done: the report waits
                if con.execute(done_sql).fetchone()[0]:
                    break
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
    finally:
        os.read(read_end, filled)  # the pager reads at last
        shown = b""
        while chunk := os.read(read_end, 65536):
            shown += chunk
        os.close(read_end)
        err = proc.communicate(timeout=60)[1]
    return proc.returncode, err, shown, runs(db)[-1]


PAGE = {"url": "https://a.test/1", "title": "Grain", "text": "Grain exports fell again. " * 20}


@pytest.mark.parametrize("command", ["process", "import"])
def test_sigterm_while_a_writer_prints_its_report_agrees_with_the_recorded_run(tmp_path, command):
    """`narrascope process | less` (or `import`), stopped (systemd, Ctrl-C) while its report
    waits for the pager: the exit code, the error line and `runs` agree. Before, the run was
    recorded `ok` first and the report printed after: `process` exited 143 with "error: ...
    the batch in progress was rolled back" beside a run recorded `ok`, and `import`, past its
    lock, died of the signal without a word (-15) with its run `ok`; nobody saw the report."""
    db, config = tmp_path / "n.duckdb", tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    if command == "process":
        import_jsonl(tmp_path, db, [PAGE])
        args = ["process", "--no-progress"]
        done = "SELECT count(*) FROM stage_state WHERE stage = 'langid'"
    else:
        run_cli("init", db=db)
        (tmp_path / "in.jsonl").write_text(json.dumps(PAGE) + "\n")
        args = ["import", str(tmp_path / "in.jsonl")]
        done = "SELECT count(*) FROM documents"
    code, err, shown, recorded = _stopped_while_reporting(db, config, args, done)
    assert recorded[0] == command
    if code == 143:
        assert recorded[1] == "interrupted", (recorded, err)
        assert "error: interrupted by SIGTERM" in err
    else:  # the report got out first: a run that did its work, and says so
        assert (code, recorded[1]) == (0, "ok"), (code, recorded, err)
        assert shown.strip()
    assert holder(db) is None


def _has_open(pid: int, path) -> bool:
    """Whether process ``pid`` has the file ``path`` open (its DuckDB connection)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
                   for fd in os.listdir(f"/proc/{pid}/fd"))  # fmt: skip
    except (FileNotFoundError, PermissionError):  # an fd closed meanwhile
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_a_reading_commands_long_query_at_once(tmp_path, signum):
    """Ctrl-C on a runaway `narrascope sql` query: DuckDB's own threads run it, and Python's
    handler waited for them to finish (before, the query ran on for minutes after Ctrl-C;
    SIGTERM ended the process with no word)."""
    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "sql",
         "SELECT sum(hash(i::VARCHAR || 'x')) FROM range(100000000000) t(i)"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        waited = time.monotonic()
        while not _has_open(proc.pid, db) and time.monotonic() - waited < 60:
            time.sleep(0.05)
        time.sleep(0.5)  # the query is running
        proc.send_signal(signum)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    name = signal.Signals(signum).name
    assert (proc.returncode, err.strip().splitlines()) == (
        128 + signum,
        [f"error: interrupted by {name}: the query was stopped (this command writes nothing)"],
    )
    assert time.monotonic() - sent < 10


# Ctrl-C (or SIGTERM) as `process` is about to take the writer lock, before its handlers are
# in place.
STOP_BEFORE_LOCK = """
import os, runpy, signal, sys, time
import storage.lock as lock
def writer_lock(*args, **kwargs):
    os.kill(os.getpid(), int(os.environ["STOP_WITH"]))
    time.sleep(5)
lock.writer_lock = writer_lock
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_stop_signal_before_a_command_takes_the_lock_is_said_and_exits_128_plus_it(
    tmp_path, signum
):
    """Before, Ctrl-C there made click say "Aborted!" and exit 1, which a cron wrapper reads
    as a failure; SIGTERM ended the process with no word on stderr."""
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    run_cli("init", db=tmp_path / "n.duckdb")
    proc = wrapped(STOP_BEFORE_LOCK, tmp_path / "n.duckdb", config, "process", timeout=60,
                   env={"STOP_WITH": str(int(signum))})  # fmt: skip
    said = {signal.SIGINT: "error: interrupted by SIGINT: it stopped before it finished",
            signal.SIGTERM: "error: interrupted by SIGTERM"}  # fmt: skip
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (128 + signum, [said[signum]])
