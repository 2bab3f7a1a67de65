"""A crawl shared through Redis (crawl --frontier, ingest --frontier): two crawler processes
and one ingester crawl the demo sites, fetch every page once and leave the database a
single-process crawl leaves; a crawler killed mid-run loses nothing; what is written to
Redis is not trusted; crawlers and ingest that lose each other stop and say so."""

from __future__ import annotations

import os
import re
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

FAST = "[crawl]\ndownload_delay = 0\nautothrottle = false\nfrontier_timeout = {timeout}\n"


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The demo sites, logging every request: (sites, sources file, config file, log)."""
    tmp = tmp_path_factory.mktemp("frontier")
    log: list = []
    with DemoSites() as demo:
        for server in demo.servers.values():
            server.RequestHandlerClass.log = log
        (tmp / "sources.toml").write_text(demo.sources_toml())
        (tmp / "narrascope.toml").write_text(FAST.format(timeout=10))
        # a short heartbeat timeout only where a crawler is killed: elsewhere a busy CI
        # machine could make a live crawler look dead
        (tmp / "kill.toml").write_text(FAST.format(timeout=4))
        yield demo, tmp, log


_STARTED: list[subprocess.Popen] = []  # every process a test started, ended at its teardown


@pytest.fixture(autouse=True)
def _no_leftovers(request):
    """A test that fails while its crawlers or ingest still run must not leave them to the
    next test (a leftover ingest holds the ingest lock): they are killed, and Redis is
    emptied before and after each test that uses it."""
    client = None
    if "redis_url" in request.fixturenames:
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        client.flushdb()
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=30)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass
    if client is not None:
        client.flushdb()


def _env(*paths) -> dict:
    return {**os.environ, "NARRASCOPE_CONFIG": "",
            "PYTHONPATH": os.pathsep.join(map(str, (ROOT, *paths)))}  # fmt: skip


def _cli(tmp, *args, config="narrascope.toml", sources=None, path=()) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli", "--config", str(tmp / config), *args,
           "--sources", str(sources or tmp / "sources.toml")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp, env=_env(*path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _STARTED.append(proc)
    return proc


def _finish(proc: subprocess.Popen, timeout: float = 120, code: int = 0) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # a hung crawler must not outlive the test
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout} s\n{out}\n{err}") from None
    assert proc.returncode == code, f"exited {proc.returncode}\n{out}\n{err}"
    return out, err


def _wait_until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def frontier_crawl(tmp, db, url, crawlers: int = 2) -> list[str]:
    """ingest --frontier and ``crawlers`` crawlers; their outputs (ingest's last)."""
    ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", url)
    procs = [_cli(tmp, "crawl", "--frontier", url) for _ in range(crawlers)]
    return [_finish(p)[0] for p in procs] + [_finish(ingest)[0]]


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
    assert re.search(r"^crawl ok:", first[0], re.M)


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
    assert all(re.search(r"^crawler \S+ ok: \d+ responses", out, re.M) for out in crawlers)
    assert sum(int(out.split(": ")[1].split()[0]) for out in crawlers) > 0
    assert re.search(r"^crawl ok:", ingest, re.M) and re.search(r"\b0 rejected\b", ingest)
    assert snapshot(db) == first_db

    # the second run reads the crawl state ingest published: conditional GETs, watermarks
    log.clear()
    *_, ingest = frontier_crawl(tmp, db, redis_url)
    assert pages(log) == again_pages
    assert re.search(r"\b0 new\b", ingest) and re.search(r"\b0 new\b", again_out)
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
        ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", redis_url, config="kill.toml")
        victim, survivor = (_cli(tmp, "crawl", "--frontier", redis_url, config="kill.toml")
                            for _ in range(2))  # fmt: skip
        pattern = f"narrascope:inflight:{socket.gethostname()}-{victim.pid}-*"
        deadline = time.monotonic() + 60
        held = None
        # killed while it holds requests, after the entry points are queued
        while victim.poll() is None and not (
            held and client.hlen(held) and client.hget("narrascope:run", "seeded") == b"done"
        ):
            assert time.monotonic() < deadline, "the crawler never took a request"
            held = held or next(iter(client.scan_iter(match=pattern)), None)
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL, "the crawl ended before the kill"
        _finish(survivor)
        out, _ = _finish(ingest)  # the crawl finished: nothing lost, the victim named
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    assert client.hlen(held) == 0  # its requests went back on the queue and were crawled
    assert re.search(r"^crawl ok:", out, re.M), out
    assert re.search(rf"^crawlers lost without a closing report .*-{victim.pid}-", out, re.M)
    shared = snapshot(db)
    assert shared["documents"] == first_db["documents"]
    assert shared["versions"] == first_db["versions"]
    assert shared["state"] == first_db["state"]


def _open_run(client, ingest) -> None:
    _wait_until(lambda: ingest.poll() is not None or client.hget("narrascope:run", "state")
                == b"open", "ingest never opened the run")  # fmt: skip
    assert ingest.poll() is None, ingest.communicate()


def test_what_is_written_to_redis_is_not_trusted(sites, single, redis_url, tmp_path):
    """Queue entries naming a class to import, a method that is not a parser, an unknown
    source, or carrying meta that would lift the crawler's limits, and items that are not
    ours or of another run: refused and counted (those of another run do not fail the run),
    nothing imported, no private address fetched, and the crawl still finishes. A crawler whose sources differ from ingest's refuses to start; ingest
    fails, naming the crawler, when one stopped before the crawl was finished."""
    import json

    import redis

    demo, tmp, log = sites
    (_, _, first_db), _ = single
    client = redis.Redis.from_url(redis_url)
    marker = tmp_path / "imported"
    (tmp_path / "narrascope_poison.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                                   "class Evil:\n    pass\n")  # fmt: skip
    other = tmp_path / "other-sources.toml"
    other.write_text((tmp / "sources.toml").read_text().replace("max_depth = 1", "max_depth = 2"))
    db = tmp_path / "poisoned.duckdb"
    log.clear()
    ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", redis_url)
    _open_run(client, ingest)

    out, err = _finish(_cli(tmp, "crawl", "--frontier", redis_url, sources=other), code=1)
    assert "sources differ" in err

    # a crawler that fails to queue the entry points gives the seeding back and stops: the
    # crawler below queues them instead of everyone waiting for it
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(
        "import redis\n"
        "from crawlers.frontier.scheduler import FrontierScheduler\n"
        "def commit_seed(self):\n"
        "    raise redis.ConnectionError('injected')\n"
        "FrontierScheduler.commit_seed = commit_seed\n"
    )  # fmt: skip
    out, err = _finish(_cli(tmp, "crawl", "--frontier", redis_url, path=[fault]), code=1)
    assert re.search(r"^crawler \S+ stopped: frontier_unreachable:", out, re.M), out + err
    assert "could not queue the entry points: injected" in err
    assert client.hget("narrascope:run", "seeded") is None

    home = demo.urls["demo-blog"]
    private = home.replace("127.0.0.1", "localhost") + "poisoned-private"
    good = {"url": home, "method": "GET", "headers": {}, "callback": "parse_page",
            "errback": "failed", "cb_kwargs": {"source": "demo-blog"}, "meta": {},
            "priority": 0, "dont_filter": True}  # fmt: skip
    refused = [
        json.dumps({**good, "_class": "narrascope_poison.Evil"}),
        json.dumps({**good, "callback": "closed"}),
        json.dumps({**good, "cb_kwargs": {"source": "not-configured-here"}}),
        "{not json",
        b"\xff\xfe",  # not UTF-8
        "[" * 100000,  # nested past the JSON decoder's recursion limit
        json.dumps({**good, "url": "http://elsewhere.example/"}),  # not the source's
    ]
    lifted = {"allow_private": True, "download_maxsize": 0, "proxy": "http://127.0.0.1:9",
              "redirect_urls": [home]}  # redirected from the source's own page  # fmt: skip
    client.zadd("narrascope:requests", {e: -1000 for e in refused})
    client.zadd("narrascope:requests", {json.dumps({**good, "url": private, "meta": lifted}): -999})
    run_id = client.hget("narrascope:run", "run_id").decode()
    forged = {"type": "NotModified", "run": run_id, "fields": {"url": home, "source": "demo-blog",
              "fetched_at": "2026-01-01T00:00:00+00:00", "warc": ["/etc/passwd", 0, 10]}}  # fmt: skip
    # a crawler of an earlier run still pushing: a Telegram cursor and a page, refused
    at, earlier = "2026-01-01T00:00:00+00:00", "20260101T000000Z-crawl-000000"
    zombie = [json.dumps({"type": t, "run": earlier, "fields": f}) for t, f in (
        ("EntryState", {"url": "https://t.me/s/zombie", "source": "demo-blog",
                        "kind": "telegram", "fetched_at": at, "lastmod": "99"}),
        ("PageRecord", {"url": home + "zombie", "source": "demo-blog", "origin": "crawl",
                        "fetched_at": at, "html": "<p>z</p>"}))]  # fmt: skip
    stray = {"type": "NotModified", "run": run_id, "fields": {"url": home,
             "source": "not-configured-here", "fetched_at": at}}  # fmt: skip
    client.rpush("narrascope:items", json.dumps(forged), "[1, 2]", *zombie, json.dumps(stray),
                 json.dumps({"type": "Health", "run": run_id, "worker": "gone-crawler",
                             "health": {}, "body_chars": {}, "finish_reason": "shutdown"}))  # fmt: skip

    out, err = _finish(_cli(tmp, "crawl", "--frontier", redis_url, path=[tmp_path]))
    assert re.search(r"^crawler \S+ ok: .*\b7 queue entries refused\b", out, re.M), out
    assert err.count("refused a queue entry") == 7
    assert not marker.exists()
    assert not [path for path, _status in log if "poisoned" in path]
    out, err = _finish(ingest, code=1)
    assert re.search(r"^crawl failed:", out, re.M)
    assert "gone-crawler (shutdown)" in err
    assert "refused 3 frontier items (1 with a WARC pointer not of this run, 1 not a " \
        "narrascope item, 1 of a source not in ingest's sources;" in err  # fmt: skip
    assert "ignored 2 items of another run" in err  # counted, recorded, not failing the run
    assert re.search(r"^2 items of another run ignored", out, re.M), out
    assert "the crawlers refused 7 queue entries" in err
    shared = snapshot(db)
    assert shared["documents"] == first_db["documents"]  # the crawl went on, nothing of zombie
    assert not [s for s in shared["state"] if "zombie" in s[0]]
    assert ("private_address", private) in shared["rejections"]
    assert [r for r in shared["rejections"] if r[0] == "bad_frontier_item"] == [
        ("bad_frontier_item", None)] * 5  # fmt: skip


def test_crawlers_and_ingest_that_lose_each_other_stop_and_say_so(sites, redis_url, tmp_path):
    """A second ingest is refused while one runs; a crawler the others declared dead stops
    (exit 1, 'evicted'); an ingest left without crawlers fails after --wait."""
    import redis

    demo, tmp, _log = sites
    client = redis.Redis.from_url(redis_url)
    routes = [r for s in demo.servers.values() for r in s.RequestHandlerClass.routes.values()]
    for _ctype, _body, headers in routes:
        headers["Delay"] = "1"  # the crawl is still running when the crawler is evicted
    try:
        crawler = _cli(tmp, "crawl", "--frontier", redis_url)  # waits for the run
        ingest = _cli(tmp, "--db", str(tmp_path / "lost.duckdb"), "ingest", "--frontier",
                      redis_url, "--wait", "20")  # fmt: skip
        _open_run(client, ingest)  # the workers of earlier runs are gone from now on
        _wait_until(lambda: crawler.poll() is not None or client.scard("narrascope:workers"),
                    "the crawler never joined")  # fmt: skip
        for worker in client.smembers("narrascope:workers"):
            client.srem("narrascope:workers", worker)
        # while the first waits --wait seconds for a crawler to come back
        second = _cli(tmp, "--db", str(tmp_path / "other.duckdb"), "ingest", "--frontier",
                      redis_url, "--wait", "5")  # fmt: skip
        _, err = _finish(second, code=1)
        assert "another `ingest --frontier`" in err
        out, err = _finish(crawler, code=1)
        assert re.search(r"^crawler \S+ stopped: evicted:", out + err, re.M), out + err
        out, err = _finish(ingest, code=1)
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    assert re.search(r"^crawl failed:", out, re.M)
    assert "no crawler alive for 20 s" in err and "(evicted)" in err, err


def test_crawlers_stop_when_ingest_is_gone(sites, redis_url, tmp_path):
    """Ingest's heartbeat lapses (it stalled or died): the crawlers stop (exit 1) rather than
    crawl for nobody, and ingest, if it still runs, fails instead of writing half a run."""
    import redis

    demo, tmp, _log = sites
    client = redis.Redis.from_url(redis_url)
    routes = [r for s in demo.servers.values() for r in s.RequestHandlerClass.routes.values()]
    for _ctype, _body, headers in routes:
        headers["Delay"] = "1"  # the crawl is still running when ingest goes
    try:
        crawler = _cli(tmp, "crawl", "--frontier", redis_url)  # waits for the run
        ingest = _cli(tmp, "--db", str(tmp_path / "gone.duckdb"), "ingest", "--frontier",
                      redis_url)  # fmt: skip
        _open_run(client, ingest)  # the workers of earlier runs are gone from now on
        _wait_until(lambda: crawler.poll() is not None or client.scard("narrascope:workers"),
                    "the crawler never joined")  # fmt: skip
        client.delete("narrascope:ingest")  # as if its time to live ran out
        out, err = _finish(crawler, code=1)
        assert re.search(r"^crawler \S+ stopped: ingest_gone:", out, re.M), out + err
        out, err = _finish(ingest, code=1)
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    assert "lost the frontier's ingest lock" in err, err
    assert client.hget("narrascope:run", "state") == b"closed"


def test_a_crawler_whose_pushes_fail_stops_and_loses_nothing(sites, single, redis_url, tmp_path):
    """Redis refuses writes for a while (here: out of memory) while a crawler holds pages:
    it stops (exit 1) without marking them done, and a crawler started later crawls them."""
    import redis

    demo, tmp, _log = sites
    (_, _, first_db), _ = single
    client = redis.Redis.from_url(redis_url)
    routes = [r for s in demo.servers.values() for r in s.RequestHandlerClass.routes.values()]
    for _ctype, _body, headers in routes:
        headers["Delay"] = "0.3"  # the crawl is still running when Redis fills up
    try:
        ingest = _cli(tmp, "--db", str(tmp_path / "full.duckdb"), "ingest", "--frontier",
                      redis_url, config="kill.toml")  # fmt: skip
        first = _cli(tmp, "crawl", "--frontier", redis_url, config="kill.toml")
        _wait_until(lambda: first.poll() is not None or (
            client.hget("narrascope:run", "seeded") == b"done"
            and any(client.hlen(k) for k in client.scan_iter(match="narrascope:inflight:*"))
        ), "the crawler never took a request")  # fmt: skip
        client.config_set("maxmemory", "1")  # every write that needs memory is refused
        try:
            out, err = _finish(first, code=1)
        finally:
            client.config_set("maxmemory", "0")
        assert re.search(r"^crawler \S+ stopped: frontier_unreachable:", out, re.M), out + err
        _finish(_cli(tmp, "crawl", "--frontier", redis_url, config="kill.toml"))
        _finish(ingest)
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    shared = snapshot(tmp_path / "full.duckdb")
    assert shared["documents"] == first_db["documents"]
    assert shared["state"] == first_db["state"]


def test_refused_items_and_a_lost_closing_report_fail_the_run(sites, single, redis_url, tmp_path):
    """A crawler whose closing report cannot be pushed exits 1 and says so; an ingest that
    refused an entry writes everything else and exits 1 naming how many it refused, and why
    (its run is recorded as failed with that line)."""
    import redis

    demo, tmp, _log = sites
    (_, _, first_db), _ = single
    client = redis.Redis.from_url(redis_url)
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(
        "import redis\n"
        "from crawlers.frontier.scheduler import FrontierScheduler\n"
        "close = FrontierScheduler.close\n"
        "def failing(self, reason):\n"
        "    push = self.server.rpush\n"
        "    def rpush(name, *values):\n"
        "        if any('\"Health\"' in str(v) for v in values):\n"
        "            raise redis.ConnectionError('injected')\n"
        "        return push(name, *values)\n"
        "    self.server.rpush = rpush\n"
        "    return close(self, reason)\n"
        "FrontierScheduler.close = failing\n"
    )  # fmt: skip
    db = tmp_path / "refused.duckdb"
    ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", redis_url, config="kill.toml")
    _open_run(client, ingest)
    client.rpush("narrascope:items", "{not json")
    out, err = _finish(_cli(tmp, "crawl", "--frontier", redis_url, config="kill.toml",
                            path=[fault]), code=1)  # fmt: skip
    assert re.search(r"^crawler \S+ failed: \d+ responses", out, re.M), out + err
    assert re.search(
        r"^error: crawler \S+ failed: could not push its closing report "
        r"\(its health counts are missing from the run\): injected$",
        err,
        re.M,
    ), err
    out, err = _finish(ingest, code=1)
    assert re.search(r"^crawl failed:", out, re.M), out
    line = ("refused 1 frontier item (1 not JSON; recorded as rejections "
            "'bad_frontier_item'); everything else was written")  # fmt: skip
    assert f"ingest failed: {line}" in err, err
    assert snapshot(db)["documents"] == first_db["documents"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        status, summary = con.execute("SELECT status, summary FROM runs").fetchone()
    finally:
        con.close()
    assert status == "failed" and line in summary and '"bad_items": 1' in summary


def test_a_shared_crawl_stops_at_its_time_limit(sites, single, redis_url, tmp_path):
    """ingest --max-duration: the crawlers stop fetching at the limit (exit 0, 'stopped
    early'), ingest writes what they pushed and ends, its run 'stopped early'; an item of
    another run does not fail it."""
    import json

    import redis

    demo, tmp, _log = sites
    (_, _, first_db), _ = single
    db = tmp_path / "timed.duckdb"
    routes = [r for s in demo.servers.values() for r in s.RequestHandlerClass.routes.values()]
    for _ctype, _body, headers in routes:
        headers["Delay"] = "2"  # the crawl takes longer than its limit
    try:
        crawler = _cli(tmp, "crawl", "--frontier", redis_url)  # waits for the run
        ingest = _cli(tmp, "--db", str(db), "ingest", "--frontier", redis_url,
                      "--max-duration", "5s")  # fmt: skip
        _open_run(redis.Redis.from_url(redis_url), ingest)
        zombie = {"type": "NotModified", "run": "20260101T000000Z-crawl-000000",
                  "fields": {"url": "http://x.example/", "source": "demo-blog",
                             "fetched_at": "2026-01-01T00:00:00+00:00"}}  # fmt: skip
        redis.Redis.from_url(redis_url).rpush("narrascope:items", json.dumps(zombie))
        out, err = _finish(crawler)
        assert re.search(r"^crawler \S+ stopped early: \d+ responses", out, re.M), out + err
        out, err = _finish(ingest)
    finally:
        for _ctype, _body, headers in routes:
            headers.pop("Delay", None)
    assert re.search(r"^crawl stopped early:", out, re.M), out + err
    left = re.search(r"^the crawlers stopped at --max-duration: (\d+) queued requests", out, re.M)
    assert left and int(left[1]) > 0, out
    assert re.search(r"^1 items of another run ignored", out, re.M), out
    documents = snapshot(db)["documents"]
    assert documents and set(documents) < set(first_db["documents"])
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT status FROM runs").fetchall() == [("stopped early",)]
    finally:
        con.close()


def test_ingest_with_a_time_limit_waits_for_its_crawlers_and_fails_without_them(
    sites, redis_url, tmp_path
):
    """ingest --max-duration: with no crawler at all it fails at the limit; past the limit
    and the crawlers' grace it keeps writing what a crawler still pushes until it leaves,
    and fails naming a crawler that does not leave within --wait more seconds."""
    import json

    import redis

    demo, tmp, _log = sites
    client = redis.Redis.from_url(redis_url)
    (tmp / "short.toml").write_text(FAST.format(timeout=1) + "timeout = 1\n")
    args = ("ingest", "--frontier", redis_url, "--max-duration", "1s", "--wait", "3")
    lonely = _cli(tmp, "--db", str(tmp_path / "none.duckdb"), *args, config="short.toml")
    _, err = _finish(lonely, code=1)
    assert "no crawler alive for" in err, err
    # two crawlers as ingest sees them: one leaves late (past limit + grace, 3 s), one never
    ingest = _cli(tmp, "--db", str(tmp_path / "late.duckdb"), *args, config="short.toml")
    _open_run(client, ingest)
    run_id = client.hget("narrascope:run", "run_id").decode()
    for worker in ("late-crawler", "stuck-crawler"):
        client.sadd("narrascope:workers", worker)
        client.set(f"narrascope:worker:{worker}", "1", ex=60)
    time.sleep(5)
    client.rpush("narrascope:items", json.dumps({
        "type": "Health", "run": run_id, "worker": "late-crawler", "health": {},
        "body_chars": {}, "finish_reason": "max_duration"}))  # fmt: skip
    client.delete("narrascope:worker:late-crawler")
    out, err = _finish(ingest, code=1)
    assert "crawlers still running 6 s after the time limit: stuck-crawler" in err, err
    assert "late-crawler" not in err
    con = duckdb.connect(str(tmp_path / "late.duckdb"), read_only=True)
    try:
        status, summary = con.execute("SELECT status, summary FROM runs").fetchone()
    finally:
        con.close()
    assert status == "failed" and '"crawlers": 1' in summary  # the late report was written


def test_stop_times_requests_and_statuses_at_the_time_limit(redis_url, monkeypatch):
    """The run's time limit is measured on Redis's clock (a host's clock off by an hour
    does not move it) and checked; a request finished after the stop leaves the in-flight
    hash unless it was dropped unfetched; a request is dropped before it waits for its
    host's slot; a crawler whose closing failed at its limit fails; a run left 'open' by
    a dead ingest is not joined."""
    import redis
    from scrapy.http import Request

    from crawlers.frontier import FrontierError, redis_time
    from crawlers.frontier import crawl as frontier_crawl_module
    from crawlers.frontier.crawl import crawl_status, frontier_settings, stop_at, wait_for_run
    from crawlers.frontier.scheduler import FrontierScheduler

    client = redis.Redis.from_url(redis_url)
    published = {"stop_at": repr(redis_time(client) + 100)}
    real = time.time
    monkeypatch.setattr(frontier_crawl_module.time, "time", lambda: real() + 3600)
    assert 98 < stop_at(published, None, client) - time.time() <= 100
    assert 9 < stop_at(published, 10, client) - time.time() <= 10
    monkeypatch.setattr(frontier_crawl_module.time, "time", real)
    for value in ("soon", "nan", "inf"):
        with pytest.raises(FrontierError, match=r"^narrascope:run stop_at is not a number"):
            stop_at({"stop_at": value}, None, client)

    class Crawler:
        narrascope_stopped_for_time = True

    scheduler = FrontierScheduler.__new__(FrontierScheduler)
    scheduler.server, scheduler.crawler, scheduler._holding = client, Crawler(), False
    scheduler._inflight, scheduler._unfinished = "narrascope:inflight:w", []
    client.hset(scheduler._inflight, mapping={"1": "a", "2": "b"})
    scheduler.finished(Request("http://a.example/", meta={"frontier_id": "1"}))
    dropped = {"frontier_id": "2", "narrascope_dropped_for_time": True}
    scheduler.finished(Request("http://b.example/", meta=dropped))
    assert client.hkeys(scheduler._inflight) == [b"2"]

    middlewares = frontier_settings(redis_url, "r", "w", {}, [], 1.0)["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["crawlers.deadline.DropAfterStop"] < middlewares[
        "crawlers.frontier.politeness.SharedPoliteness"]  # fmt: skip
    failed = {"finish_reason": "max_duration", "frontier/close_failed": "could not leave"}
    assert crawl_status(failed) == ("failed", "could not leave")

    client.hset("narrascope:run", mapping={"run_id": "r", "state": "open", "sources": "d"})
    with pytest.raises(FrontierError, match="left open by an ingest that is gone"):
        wait_for_run(client, 0.5, "d")
    client.set("narrascope:ingest", "x")
    assert wait_for_run(client, 0.5, "d")["run_id"] == "r"
