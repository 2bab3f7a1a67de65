"""A crawl shared through Redis (crawl --frontier, ingest --frontier): two crawler processes
and one ingester crawl the demo sites, fetch every page once and leave the database a
single-process crawl leaves; a crawler killed mid-run loses nothing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import duckdb
import pytest

from crawlers.demo.server import DemoSites
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FAST = "[crawl]\ndownload_delay = 0\nautothrottle = false\nfrontier_timeout = 2\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    """A throwaway redis-server on a free loopback port (Debian's; .ci/run installs it)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): "
                    "the shared-crawl tests need it")  # fmt: skip
    for module in ("redis", "scrapy_redis"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install "
                            "'narrascope[redis]'): the shared-crawl tests need it")  # fmt: skip
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The demo sites, logging every request: (sites, sources file, config file, log)."""
    tmp = tmp_path_factory.mktemp("frontier")
    log: list = []
    with DemoSites() as demo:
        for server in demo.servers.values():
            server.RequestHandlerClass.log = log
        (tmp / "sources.toml").write_text(demo.sources_toml())
        (tmp / "narrascope.toml").write_text(FAST)
        yield demo, tmp, log


def _env() -> dict:
    return {**os.environ, "NARRASCOPE_CONFIG": "", "PYTHONPATH": str(ROOT)}


def _cli(tmp, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli", "--config", str(tmp / "narrascope.toml"), *args,
           "--sources", str(tmp / "sources.toml")]  # fmt: skip
    return subprocess.Popen(cmd, cwd=tmp, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exited {proc.returncode}\n{out}\n{err}"
    return out


def frontier_crawl(tmp, db, url, crawlers: int = 2) -> list[str]:
    """ingest --frontier and ``crawlers`` crawlers; their outputs (ingest's last)."""
    ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", url)
    procs = [_cli(tmp, "crawl", "--frontier", url) for _ in range(crawlers)]
    return [_finish(p) for p in procs] + [_finish(ingest)]


def pages(log: list) -> Counter:
    """Requests per path, robots.txt aside (each crawler reads it once per host); a
    WordPress watermark (the time the last listing was read) shows as WATERMARK."""
    return Counter(
        re.sub(r"modified_after=[^&]+", "modified_after=WATERMARK", path)
        for path, _status in log
        if not path.endswith("/robots.txt")
    )


def snapshot(db) -> dict:
    """What a crawl leaves that must not depend on how many processes crawled."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        q = lambda sql: sorted(con.execute(sql).fetchall())  # noqa: E731
        return {
            "documents": q("SELECT canonical_url, source, current_version FROM documents"),
            "versions": q("SELECT url, version, source, http_status, content_hash, "
                          "hint_title, hint_published_at FROM document_versions"),
            "state": q("SELECT url, source, kind, etag, last_modified, content_hash, lastmod, "
                       "last_status FROM crawl_state WHERE kind <> 'wordpress'"),
            "wordpress": q("SELECT url FROM crawl_state WHERE kind = 'wordpress'"),
            "meta": q("SELECT v.url, m.author, m.meta, m.warc_file IS NOT NULL "
                      "FROM page_meta m JOIN document_versions v USING (doc_id, version)"),
            "rejections": q("SELECT reason, url FROM rejections"),
        }  # fmt: skip
    finally:
        con.close()


@pytest.fixture(scope="module")
def single(sites, tmp_path_factory):
    """A single-process crawl of the demo sites (twice: the second is incremental), run so
    that it also shows whether anything imported redis or scrapy_redis without --frontier."""
    demo, tmp, log = sites
    db = tmp_path_factory.mktemp("single") / "single.duckdb"
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('IMPORTED', sorted({m.split('.')[0] for m in "
        "sys.modules} & {'redis', 'scrapy_redis'})))\n"
        "from pipeline.cli import main\n"
        "main()\n"
    )
    runs = []
    for _ in range(2):
        log.clear()
        args = ["--db", str(db), "--config", str(tmp / "narrascope.toml"), "crawl",
                "--sources", str(tmp / "sources.toml")]  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp, env=_env(),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        runs.append((proc.stdout, pages(log), snapshot(db)))
    return runs


def test_a_crawl_without_frontier_imports_neither_redis_nor_scrapy_redis(single):
    first, again = single
    assert "IMPORTED []" in first[0] and "IMPORTED []" in again[0]
    assert "crawl ok" in first[0]


def test_two_crawlers_fetch_every_page_once_and_store_what_one_process_stores(
    sites, single, redis_url, tmp_path
):
    demo, tmp, log = sites
    db = tmp_path / "shared.duckdb"
    (first_out, first_pages, first_db), (again_out, again_pages, again_db) = single

    log.clear()
    *crawlers, ingest = frontier_crawl(tmp, db, redis_url)
    fetched = pages(log)
    assert fetched and max(fetched.values()) == 1, [p for p, n in fetched.items() if n > 1]
    assert set(fetched) == set(first_pages)
    assert all("ok" in out for out in crawlers)
    assert sum(int(out.split(": ")[1].split()[0]) for out in crawlers) > 0
    assert "crawl ok" in ingest and "0 rejected" in ingest
    assert snapshot(db) == first_db

    # the second run reads the crawl state ingest published: conditional GETs, watermarks
    log.clear()
    *_, ingest = frontier_crawl(tmp, db, redis_url)
    assert pages(log) == again_pages
    assert "0 new" in ingest and "0 new" in again_out
    assert snapshot(db) == again_db


def test_a_crawler_killed_mid_run_loses_nothing(sites, single, redis_url, tmp_path):
    import redis

    demo, tmp, log = sites
    (_, _, first_db), _ = single
    db = tmp_path / "killed.duckdb"
    client = redis.Redis.from_url(redis_url)
    routes = [r for s in demo.servers.values() for r in s.RequestHandlerClass.routes.values()]
    for _ctype, _body, headers in routes:
        headers["Delay"] = "0.3"  # slow pages: the crawl is still running when one dies
    try:
        ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", redis_url)
        victim, survivor = (_cli(tmp, "crawl", "--frontier", redis_url) for _ in range(2))
        held = f"narrascope:inflight:{socket.gethostname()}-{victim.pid}"
        deadline = time.monotonic() + 60
        # killed while it holds requests, after the entry points are queued
        while victim.poll() is None and not (
            client.hlen(held) and client.hget("narrascope:run", "seeded") == b"done"
        ):
            assert time.monotonic() < deadline, "the crawler never took a request"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL, "the crawl ended before the kill"
        _finish(survivor)
        _finish(ingest)
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    assert client.hlen(held) == 0  # its requests went back on the queue and were crawled
    shared = snapshot(db)
    assert shared["documents"] == first_db["documents"]
    assert shared["versions"] == first_db["versions"]
    assert shared["state"] == first_db["state"]


def test_crawlers_share_a_hosts_download_delay(redis_url):
    """Two crawlers (two clients) asking for the same host get slots a delay apart; another
    host, or one without a delay, does not wait."""
    import redis

    from crawlers.frontier.politeness import SharedPoliteness

    one, two = (
        SharedPoliteness(redis.Redis.from_url(redis_url), 0.0, {"slow.example": 0.5})
        for _ in range(2)
    )
    waits = [one.reserve("slow.example"), two.reserve("slow.example"), one.reserve("slow.example")]
    assert waits[0] < 0.05
    assert 0.4 < waits[1] <= 0.5 and 0.9 < waits[2] <= 1.0
    assert two.reserve("fast.example") == 0.0
