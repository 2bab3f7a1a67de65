"""Crash safety of `narrascope process`: a run killed with SIGKILL mid-embedding or
mid-clustering, or stopped by a write that fails (disk full), and then run again, ends in the
state of a run that was never interrupted, compared as a canonical dump
(tests/support/canonical.py): the same documents and versions, stage outputs, copy groups
and narratives (as sets of member URLs).

The corpus is the 16 oldest demo articles (three planted narratives with verbatim, edited and
translated copies, and filler), processed in batches of 4 so each stage writes several
batches. Work that is the same for every test is done once: the stages before embedding
(``translated``), then embedding and copy detection (``embedded``), then the reference
(``reference``: the rest of an uninterrupted `process` run)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import storage.stages
from pipeline.cli import cli
from pipeline.narratives import ClusterStage
from storage import connect
from storage.lock import holder
from tests.conftest import ROOT, run_cli
from tests.pipeline.test_failures import store_demo_articles
from tests.support.canonical import canonical_state

pytestmark = pytest.mark.slow  # processes the corpus twice with the real embedding model

DOCS, BATCH = 16, 4
BEFORE_EMBED = ("extract", "langid", "signals", "translate")

# The CLI with a kill -9 planted inside one batch's write transaction, after the stage's
# outputs are written and before the commit: the worst moment to die.
KILL_IN_WRITE = """
import os, runpy, signal, sys
import storage.stages as stages
real, batches = stages.write_outputs, []
def write_outputs(con, ctx, *args):
    real(con, ctx, *args)
    if ctx.stage == os.environ["KILL_STAGE"]:
        batches.append(1)
        if len(batches) == int(os.environ["KILL_BATCH"]):
            os.kill(os.getpid(), signal.SIGKILL)
stages.write_outputs = write_outputs
from pipeline.narratives import ClusterStage
ClusterStage.batch_factor = 1  # batches of [pipeline] batch_size: a run has several
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


# The same with SIGTERM (systemd's stop): raised in Python code once the outputs are written,
# or arriving while DuckDB runs a statement of the write ("query"), which DuckDB turns into
# RuntimeError("Query interrupted").
TERM_IN_WRITE = """
import os, runpy, signal, sys, threading
import storage.stages as stages
real, batches = stages.write_outputs, []
def write_outputs(con, ctx, *args):
    real(con, ctx, *args)
    if ctx.stage == "cluster":
        batches.append(1)
        if len(batches) == 3:
            if os.environ["TERM_AT"] == "query":
                # a query that would not end in days, with two parts that run at once: one
                # of DuckDB's own threads runs one, and the main thread waits for it in C
                con.execute("SET threads = 8")
                threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
                con.execute("SELECT count(*) FROM (SELECT range FROM range(1000000000000000) UNION ALL "
                            "SELECT range FROM range(1000000000000000)) t WHERE t.range % 7 = 3")
            else:
                os.kill(os.getpid(), signal.SIGTERM)
stages.write_outputs = write_outputs
from pipeline.narratives import ClusterStage
ClusterStage.batch_factor = 1
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


def stage_args(*stages: str) -> list[str]:
    return [arg for name in stages for arg in ("--stage", name)]


def handled(db: Path, stage: str) -> int:
    """Document versions the stage has committed results for."""
    with connect(db, read_only=True) as con:
        sql = "SELECT count(*) FROM stage_state WHERE stage = ?"
        return con.execute(sql, [stage]).fetchone()[0]


def assert_consistent(db: Path) -> None:
    """Nothing half-written or counted twice: each narrative's stored size is its members,
    and no narrative is left without members."""
    with connect(db, read_only=True) as con:
        [(wrong,)] = con.execute(
            "SELECT count(*) FROM narratives n FULL JOIN (SELECT narrative_id, count(*) AS c "
            "FROM narrative_members GROUP BY 1) m USING (narrative_id) "
            "WHERE n.size IS DISTINCT FROM m.c"
        ).fetchall()
    assert wrong == 0


def assert_nothing_committed_lost(before: dict, after: dict) -> None:
    """What the interrupted run had committed is still there, unchanged, after the rerun."""
    for url, doc in before["documents"].items():
        final = after["documents"][url]
        assert doc["versions"] == final["versions"]
        assert doc["stages"].items() <= final["stages"].items(), url
        assert set(doc["vectors"]) <= set(final["vectors"]), url
    for kind in ("copy_groups", "narratives"):  # a group only gains members later
        for group in before[kind]:
            assert any(set(group) <= set(g) for g in after[kind]), (kind, group)


def done_by_rerun(stdout: str, stage: str) -> int:
    return int(re.search(rf"^{stage} v\S+: (\d+) done", stdout, re.M).group(1))


def run_statuses(db: Path) -> list[str]:
    with connect(db, read_only=True) as con:
        sql = "SELECT status FROM runs WHERE kind = 'process' ORDER BY started_at"
        return [s for (s,) in con.execute(sql).fetchall()]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def config(work) -> Path:
    path = work / "narrascope.toml"
    path.write_text(f"[pipeline]\nbatch_size = {BATCH}\n")
    return path


def process(db: Path, config: Path, *args: str, check: bool = True):
    return run_cli("--config", str(config), "process", "--no-progress", *args, db=db, check=check)


@pytest.fixture(scope="module")
def translated(work, config) -> Path:
    db = work / "translated.duckdb"
    store_demo_articles(db, limit=DOCS)
    process(db, config, *stage_args(*BEFORE_EMBED))
    return db


@pytest.fixture(scope="module")
def embedded(work, config, translated) -> Path:
    db = work / "embedded.duckdb"
    shutil.copy(translated, db)
    process(db, config, *stage_args("embed", "dedup"))
    return db


@pytest.fixture(scope="module")
def reference(work, config, embedded) -> dict:
    """The canonical state after an uninterrupted run; checked to be worth comparing with."""
    db = work / "reference.duckdb"
    shutil.copy(embedded, db)
    process(db, config)
    state = canonical_state(db)
    assert len(state["documents"]) == DOCS
    assert all(
        set(doc["stages"].values()) == {"done"} and len(doc["stages"]) == 7 and doc["vectors"]
        for doc in state["documents"].values()
    )
    assert len(state["copy_groups"]) >= 2
    assert len([n for n in state["narratives"] if len(n) > 1]) >= 2
    return state


def copy_of(source: Path, tmp_path: Path) -> Path:
    db = tmp_path / "n.duckdb"
    shutil.copy(source, db)
    return db


@pytest.mark.timeout(400)
@pytest.mark.parametrize("command", ["process", "run"])
def test_a_run_killed_while_embedding_is_finished_by_the_next_run(
    tmp_path, config, translated, reference, command
):
    """``run`` (the cron entry point) too: its crawl has nothing new (no sources), its
    processing is killed mid-embedding, and the next ``run`` finishes the work."""
    db = copy_of(translated, tmp_path)
    args = ["process", "--no-progress"]
    if command == "run":
        sources = tmp_path / "sources.toml"
        sources.write_text("")
        args = ["run", "--sources", str(sources)]
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config),
           *args]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NARRASCOPE_CONFIG": ""})  # fmt: skip
    deadline = time.monotonic() + 300
    embedded = 0
    while embedded == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # the runner closes the file between batches: a reader gets its turn
        embedded = handled(db, "embed")
    assert proc.poll() is None, proc.communicate()[1]  # still embedding the next batches
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup, whatever it was doing
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    killed = canonical_state(db)  # the database opens
    embedded = handled(db, "embed")
    assert 0 < embedded < DOCS and embedded % BATCH == 0  # whole batches, not all of them
    assert handled(db, "cluster") == 0
    assert_consistent(db)

    out = run_cli("--config", str(config), *args, db=db).stdout
    assert done_by_rerun(out, "embed") == DOCS - embedded  # committed batches not redone
    final = canonical_state(db)
    assert_nothing_committed_lost(killed, final)
    assert_consistent(db)
    assert final == reference
    assert run_statuses(db)[-2:] == ["abandoned", "ok"]  # the killed run, found dead


@pytest.mark.timeout(300)
def test_a_run_killed_inside_a_clustering_write_is_finished_by_the_next_run(
    tmp_path, config, embedded, reference
):
    db = copy_of(embedded, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_WRITE, "--db", str(db), "--config", str(config),
         "process", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NARRASCOPE_CONFIG": "", "KILL_STAGE": "cluster", "KILL_BATCH": "3"},
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    killed = canonical_state(db)
    assert handled(db, "cluster") == 2 * BATCH  # the third batch died before its commit
    assert sum(len(n) for n in killed["narratives"]) == 2 * BATCH
    assert_consistent(db)

    out = process(db, config).stdout
    assert done_by_rerun(out, "cluster") == DOCS - 2 * BATCH
    final = canonical_state(db)
    assert_nothing_committed_lost(killed, final)
    assert_consistent(db)
    assert final == reference
    assert run_statuses(db)[-2:] == ["abandoned", "ok"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("at", ["python", "query"])
def test_sigterm_inside_a_write_rolls_it_back_and_records_the_run_interrupted(
    tmp_path, config, embedded, reference, at
):
    """systemd's stop (SIGTERM) mid-write: the batch rolls back, the run is recorded
    'interrupted' (not left 'running' for the next writer to find), the lock is released, and
    the exit code is 143; the next run finishes as if nothing had happened. [query]: the
    signal comes during a query that one of DuckDB's threads runs, while the main thread
    waits for it in C, where Python runs no handler: the query is interrupted, not waited
    for (it would take hours; before, SIGTERM waited for the query to end)."""
    db = copy_of(embedded, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", TERM_IN_WRITE, "--db", str(db), "--config", str(config),
         "process", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NARRASCOPE_CONFIG": "", "TERM_AT": at},
    )  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    [line] = proc.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: interrupted by SIGTERM: the batch in progress was rolled back")
    assert handled(db, "cluster") == 2 * BATCH  # the third batch was not committed
    assert_consistent(db)
    assert run_statuses(db)[-1] == "interrupted"
    assert holder(db) is None  # the writer lock was released

    out = process(db, config).stdout
    assert done_by_rerun(out, "cluster") == DOCS - 2 * BATCH
    assert_consistent(db)
    assert canonical_state(db) == reference
    assert run_statuses(db)[-2:] == ["interrupted", "ok"]  # not 'abandoned': it was recorded


@pytest.mark.timeout(300)
def test_a_disk_full_write_rolls_back_its_batch_and_the_next_run_finishes(
    tmp_path, config, embedded, reference, monkeypatch
):
    db = copy_of(embedded, tmp_path)
    real, batches = storage.stages.write_outputs, []

    def disk_full_in_the_second_batch(con, ctx, *args):
        real(con, ctx, *args)  # the batch's narratives and memberships are written ...
        if ctx.stage == "cluster":
            batches.append(1)
            if len(batches) == 2:  # ... then the disk fills up before the commit
                raise duckdb.IOException(f'Could not write "{db}.wal": No space left on device')

    monkeypatch.setattr(storage.stages, "write_outputs", disk_full_in_the_second_batch)
    monkeypatch.setattr(ClusterStage, "batch_factor", 1)  # several batches of BATCH
    args = ["--db", str(db), "--config", str(config), "process", "--no-progress"]
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 1, failed.output
    [line] = failed.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: stage cluster stopped: ")
    assert "No space left on device" in line and "nothing of that batch was written" in line
    assert handled(db, "cluster") == BATCH  # the first batch is kept, the second rolled back
    with connect(db, read_only=True) as con:
        [(members,)] = con.execute("SELECT count(*) FROM narrative_members").fetchall()
    assert members == BATCH
    assert_consistent(db)

    monkeypatch.setattr(storage.stages, "write_outputs", real)  # space again
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert done_by_rerun(again.stdout, "cluster") == DOCS - BATCH
    assert_consistent(db)
    assert canonical_state(db) == reference
    assert run_statuses(db)[-2:] == ["failed", "ok"]
