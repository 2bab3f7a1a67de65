"""The dashboard must not block a cron run: `narrascope run` crawls the demo sites into a
fresh store and processes them while the dashboard serves pages over the same file in a
loop. The run exits 0; each page is either the page or the "being updated" notice (503 with
Retry-After), never an error; and once the run is done the narratives are there. A search
page, too, answers a held file with the notice at once, and never upgrades an older file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections import Counter

import duckdb
import pytest

from tests.conftest import ROOT, run_cli
from tests.dashboards.conftest import LOCAL

PATHS = ["/", "/narratives", "/sources", "/search?q=sanctions"]
TIMEOUT = 240


def check(r) -> str:
    """'page' or 'notice'; anything else fails the test."""
    assert "Traceback" not in r.text, r.text
    if r.status_code == 200:
        return "page"
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers.get("retry-after") and "being updated by a run" in r.text, r.text
    return "notice"


@pytest.fixture(scope="module")
def cron(tmp_path_factory):
    """A fresh store filled by `narrascope run` while the dashboard served pages over it:
    (database, the run's exit status and stderr, what the dashboard answered during the run,
    its slowest answer, /narratives after the run)."""
    from starlette.testclient import TestClient

    from crawlers.demo.server import DemoSites
    from dashboards.app import create_app

    tmp_path = tmp_path_factory.mktemp("cron")
    db = tmp_path / "ops.duckdb"
    run_cli("init", db=db)
    config = tmp_path / "narrascope.toml"
    config.write_text("[crawl]\ndownload_delay = 0\nautothrottle = false\n")
    sources = tmp_path / "sources.toml"
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    env = {**os.environ, "NARRASCOPE_CONFIG": "",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}  # fmt: skip
    seen: Counter[str] = Counter()
    slowest = 0.0
    with DemoSites() as sites, TestClient(create_app(db), base_url=LOCAL) as client:
        sources.write_text(sites.sources_toml())
        cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config),
               "run", "--sources", str(sources)]  # fmt: skip
        with out.open("w") as stdout, err.open("w") as stderr:
            run = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        started = time.monotonic()
        try:
            while run.poll() is None:
                assert time.monotonic() - started < TIMEOUT, "the run did not finish in time"
                for path in PATHS:
                    t = time.monotonic()
                    kind = check(client.get(path))
                    slowest = max(slowest, time.monotonic() - t)
                    if run.poll() is None:  # answered while the run was still going
                        seen[kind] += 1
        finally:
            if run.poll() is None:
                run.kill()
            run.wait()
        took = time.monotonic() - started
        after = client.get("/narratives")
    print(f"\nrun {took:.0f} s; during it {seen['page']} pages, {seen['notice']} notices; "
          f"slowest answer {slowest:.1f} s")  # fmt: skip
    return db, run.returncode, err.read_text(), seen, slowest, after


def test_pages_are_served_while_a_cron_run_writes_and_the_run_is_never_blocked(cron):
    _, returncode, stderr, seen, slowest, after = cron
    assert returncode == 0, stderr
    assert sum(seen.values()) >= 8, seen  # the dashboard kept answering while the run went
    assert seen["page"] >= 1, seen
    assert slowest < 10, slowest  # a busy file is a quick notice, not a long wait
    assert after.status_code == 200 and 'href="/narratives/' in after.text
    assert "Sanctions, Not War" in after.text


HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_search_answers_a_held_file_at_once_and_never_upgrades_an_older_one(cron, tmp_path):
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    held = tmp_path / "held.duckdb"
    shutil.copy(cron[0], held)
    holder = subprocess.Popen([sys.executable, "-c", HOLD + "time.sleep(60)", str(held)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with TestClient(create_app(held), base_url=LOCAL) as client:
            for path in ["/search?q=sanctions", "/search?q=sanctions&mode=semantic"]:
                started = time.monotonic()
                assert check(client.get(path)) == "notice", path
                assert time.monotonic() - started < 10, path  # not pipeline.search's 30 s
    finally:
        holder.kill()
        holder.wait()

    old = tmp_path / "old.duckdb"
    shutil.copy(cron[0], old)
    with duckdb.connect(str(old)) as con:  # as a file of the previous schema version
        con.execute("DELETE FROM schema_version WHERE version = "
                    "(SELECT max(version) FROM schema_version)")  # fmt: skip
    before = digest(old)
    with TestClient(create_app(old), base_url=LOCAL) as client:
        r = client.get("/search?q=sanctions")
    assert r.status_code == 503 and "narrascope init" in r.text, r.text
    assert digest(old) == before  # read-only: the dashboard never migrates a file
