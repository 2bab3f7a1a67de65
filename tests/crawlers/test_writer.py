"""The crawl's writer: batches written by a thread of their own, in order, while downloads go
on; another process holding the database; a write that fails (real DuckDB files, real crawls
of 127.0.0.1 sites in subprocesses; the only fake is the injected write fault)."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import duckdb
import pytest

import crawlers.pipelines
import storage.db
import storage.documents
from crawlers.pipelines import DuckDBWriter
from storage import connect
from storage.records import EntryState, PageRecord
from tests.conftest import ROOT, run_cli
from tests.crawlers.test_evidence import feed_site
from tests.crawlers.test_spiders import FAST, article, rows, sources_file
from tests.storage.test_db import hold

URL = "https://news.example/a/{}"


def page(n, body: str = "", title: str | None = None) -> PageRecord:
    return PageRecord(
        url=URL.format(n), source="s", origin="crawl", fetched_at=datetime.now(UTC),
        html=f"<html><body><p>Статья {n}. {body}</p></body></html>", hint_title=title,
    )  # fmt: skip


def watermark() -> EntryState:
    return EntryState("https://news.example/wp-json/wp/v2/posts", "s", "wordpress",
                      datetime.now(UTC), lastmod="2026-10-01T00:00:00")  # fmt: skip


def wait_for(condition, timeout: float = 20.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "n.duckdb"
    with connect(path):
        pass
    return path


def stored(db, sql="SELECT url FROM document_versions"):
    with connect(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_items_are_written_in_batches_of_batch_size_and_the_rest_at_close(db):
    writer = DuckDBWriter(str(db), "run-1", batch_size=3, max_seconds=60)
    for n in range(7):
        writer.process_item(page(n))
    wait_for(lambda: writer.batches == 2)  # two full batches; the 7th item waits for more
    assert len(stored(db)) == 6 and writer.pending == 1
    writer.close()
    assert len(stored(db)) == 7 and writer.batches == 3 and writer.pending == 0
    assert writer.counts.new == 7 and writer.error is None


def test_batches_queued_behind_the_writer_are_written_in_the_order_they_came(db):
    # one URL whose body changes with every item, one item a batch: the versions come out in
    # the order of the items, though they queue up behind the writer thread
    writer = DuckDBWriter(str(db), "run-1", batch_size=1, max_seconds=60)
    for version in range(12):
        writer.process_item(page("v", body=f"edit {version}", title=f"edit {version}"))
    writer.process_item(watermark())  # yielded after its pages: written after them
    writer.close()
    versions = stored(db, "SELECT version, hint_title FROM document_versions ORDER BY version")
    assert versions == [(v + 1, f"edit {v}") for v in range(12)]
    assert writer.counts.new == 1 and writer.counts.changed == 11 and writer.batches == 13
    assert stored(db, "SELECT kind, lastmod FROM crawl_state WHERE kind = 'wordpress'") == [
        ("wordpress", "2026-10-01T00:00:00")
    ]


def test_a_slow_crawl_is_written_when_its_oldest_item_has_waited_max_seconds(db):
    writer = DuckDBWriter(str(db), "run-1", batch_size=100, max_seconds=0.3)
    writer.process_item(page(1))  # and then nothing for a while (slow sites)
    waited = wait_for(lambda: writer.batches == 1)
    assert 0.25 <= waited < 5 and stored(db) == [(URL.format(1),)]
    writer.close()
    assert writer.counts.new == 1


def test_a_failed_write_stops_the_writing_and_never_stores_a_watermark_without_its_pages(
    db, monkeypatch
):
    real, calls = crawlers.pipelines.store_pages, []

    def disk_full_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(crawlers.pipelines, "store_pages", disk_full_on_the_second_batch)
    writer = DuckDBWriter(str(db), "run-1", batch_size=2, max_seconds=60, max_waiting=1)
    for item in [page(1), page(2), page(3), page(4), page(5), watermark(), page(6)]:
        writer.process_item(item)  # never blocks on a writer that has stopped
    writer.close()
    assert "No space left on device" in writer.error and "\n" not in writer.error
    assert sorted(stored(db)) == [(URL.format(1),), (URL.format(2),)]
    # the pages of the failed batch and everything after it have no crawl state: fetched again
    assert sorted(stored(db, "SELECT url FROM crawl_state")) == [
        (URL.format(1),), (URL.format(2),)
    ]  # fmt: skip
    assert writer.counts.new == 2 and writer.not_written == 5 and len(calls) == 2


def test_a_write_that_fails_midway_leaves_nothing_of_its_batch(db, monkeypatch):
    """The disk fills up after a batch's documents, versions and crawl state are written but
    before its commit: the whole batch is rolled back, so the next crawl fetches it again."""
    real, calls = storage.documents.record_state, []

    def disk_full_in_the_second_batch(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setattr(storage.documents, "record_state", disk_full_in_the_second_batch)
    writer = DuckDBWriter(str(db), "run-1", batch_size=2, max_seconds=60, max_waiting=1)
    for item in [page(1), page(2), page(3), page(4)]:
        writer.process_item(item)
    writer.close()
    assert "No space left on device" in writer.error and len(calls) == 2
    first = [(URL.format(1),), (URL.format(2),)]
    assert sorted(stored(db)) == first
    assert sorted(stored(db, "SELECT url FROM crawl_state")) == first
    assert stored(db, "SELECT count(*) FROM documents") == [(2,)]
    assert writer.counts.new == 2 and writer.not_written == 2


def test_a_batch_waits_for_another_process_and_the_crawl_waits_only_when_far_behind(db):
    holder = hold(db, 1.5)  # a read-write connection in another process, for 1.5 s
    writer = DuckDBWriter(str(db), "run-1", batch_size=1, max_seconds=60, max_waiting=3)
    try:
        started = time.monotonic()
        for n in range(3):
            writer.process_item(page(n))  # queued behind the held file: no wait yet
        assert time.monotonic() - started < 0.5
        writer.process_item(page(3))  # a fourth item waiting is one too many: wait for it
        assert time.monotonic() - started > 0.8
    finally:
        writer.close()
        holder.wait()
    assert len(stored(db)) == 4 and writer.error is None


def test_a_file_locked_past_the_wait_fails_the_write_with_one_clear_line(db, monkeypatch):
    monkeypatch.setattr(storage.db, "LOCK_WAIT_SECONDS", 0.5)
    holder = hold(db, 10)
    try:
        writer = DuckDBWriter(str(db), "run-1", batch_size=1, max_seconds=60)
        writer.process_item(page(1))
        started = time.monotonic()
        writer.close()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    assert writer.error.startswith("could not write 1 crawled items")
    assert "cannot open" in writer.error and "lock" in writer.error and "\n" not in writer.error
    assert stored(db) == []


# -- whole crawls ---------------------------------------------------------------------------


def linked_site(local_site, count: int):
    """Pages /p/0../p/<count-1>, each an article linking to two more (a binary tree)."""
    routes = {f"/p/{i}": ("text/html", article(f"Страница {i}").replace(
        b"</body>", "".join(f'<a href="/p/{k}">{k}</a>' for k in (2 * i + 1, 2 * i + 2)
                            if k < count).encode() + b"</body>"), {}) for i in range(count)}  # fmt: skip
    routes["/"] = ("text/html", b'<html><body><a href="/p/0">start</a></body></html>', {})
    site = local_site(routes)
    site.server.RequestHandlerClass.stamps = []
    return site


HOLD_WHEN_FREE = """
import sys, time, duckdb
while True:  # the crawl has the file now and then (a batch, its lookups): take it when free
    try:
        con = duckdb.connect(sys.argv[1])
        break
    except duckdb.IOException:
        time.sleep(0.01)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_crawl_keeps_downloading_while_another_process_holds_the_database(tmp_path, local_site):
    count = 120
    site = linked_site(local_site, count)
    stamps = site.server.RequestHandlerClass.stamps
    sources = sources_file(tmp_path, home=site.base + "/", follow_links=True, max_depth=10)
    config = tmp_path / "narrascope.toml"  # about 10 requests a second: 12 s for the site
    config.write_text(
        "[crawl]\nautothrottle = false\ndownload_delay = 0.1\nwrite_batch = 20\nwrite_seconds = 1\n"
    )
    db = tmp_path / "n.duckdb"
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config),
           "crawl", "--sources", sources]  # fmt: skip
    crawl = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "NARRASCOPE_CONFIG": ""})  # fmt: skip
    wait_for(lambda: len(stamps) >= 10, timeout=60)
    # an analyst's read-write session, opened mid-crawl
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WHEN_FREE, str(db), "10"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "holding"
    held_from = time.monotonic()
    held_to = held_from + 10
    out, err = crawl.communicate(timeout=120)
    holder.wait()
    assert crawl.returncode == 0, err
    during = sorted(t for _, _, t in stamps if held_from + 0.5 < t < held_to - 0.5)
    assert len(during) >= 30, f"{len(during)} requests while the database was held"
    gaps = [
        b - a for a, b in zip([held_from + 0.5, *during], [*during, held_to - 0.5], strict=True)
    ]
    assert max(gaps) < 2.0  # downloads never stalled while the writer waited
    assert f"{count} new" in out
    # lookups that found the file locked went without stored state, and said so once
    assert err.count("crawl state unavailable") == 1, err
    assert len(rows(tmp_path, "SELECT url FROM document_versions")) == count
    status, summary = rows(tmp_path, "SELECT status, summary FROM runs")[0]
    assert status == "ok" and json.loads(summary)["without_state"] > 0


FAIL_ONE_BATCH = """
import os, runpy, sys
import crawlers.pipelines as pipelines
real, calls, failing = pipelines.store_pages, [], int(os.environ["FAIL_BATCH"])
def store_pages(*args, **kwargs):
    calls.append(1)
    if len(calls) == failing:  # the disk fills up under this batch
        raise OSError(28, "No space left on device")
    return real(*args, **kwargs)
pipelines.store_pages = store_pages
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


def test_a_failed_write_fails_the_run_and_the_next_crawl_fetches_what_was_lost(
    tmp_path, local_site
):
    pages = {f"/s/{i}": ("text/html", article(f"Страница {i}"), {}) for i in range(12)}
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    db = tmp_path / "n.duckdb"

    def crawl_failing(batch: int, size: int) -> str:
        config.write_text(FAST + f"write_batch = {size}\nwrite_seconds = 60\n")
        proc = subprocess.run(
            [sys.executable, "-c", FAIL_ONE_BATCH, "--db", str(db), "--config", str(config),
             "crawl", "--sources", sources],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "NARRASCOPE_CONFIG": "", "FAIL_BATCH": str(batch)},
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        [line] = proc.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith("error: crawl failed: could not write ")
        assert "No space left on device" in line and "the next crawl fetches it again" in line
        assert "crawl failed" in proc.stdout
        return line

    def stored() -> set[str]:
        return {u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")}

    # the last batch, written as the crawl closes, fails (it used to be recorded 'ok')
    assert "could not write 12 crawled items" in crawl_failing(batch=1, size=100)
    [(status, summary)] = rows(tmp_path, "SELECT status, summary FROM runs WHERE kind = 'crawl'")
    assert status == "failed" and "No space left on device" in json.loads(summary)["error"]
    assert stored() == set() and rows(tmp_path, "SELECT url FROM crawl_state") == []

    # a batch in mid-crawl fails: the crawl stops, what came before it is kept
    assert "could not write 4 crawled items" in crawl_failing(batch=2, size=4)
    assert len(stored()) == 4  # the first batch; nothing after the failed one
    assert {u for (u,) in rows(tmp_path, "SELECT url FROM crawl_state")} == stored()

    config.write_text(FAST)
    out = run_cli("--config", str(config), "crawl", "--sources", sources, db=db).stdout
    assert "8 new, 0 changed, 4 unchanged (4 not modified)" in out
    assert len(stored()) == 12
    assert [s for (s,) in rows(tmp_path, "SELECT status FROM runs ORDER BY started_at")] == [
        "failed", "failed", "ok"
    ]  # fmt: skip


def test_a_cron_run_whose_crawl_failed_processes_what_was_stored_and_exits_1(tmp_path, local_site):
    pages = {f"/s/{i}": ("text/html", article(f"Страница {i}"), {}) for i in range(12)}
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(
        FAST + 'write_batch = 4\nwrite_seconds = 60\n[pipeline]\nstages = ["extract", "langid"]\n'
    )
    db = tmp_path / "n.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", FAIL_ONE_BATCH, "--db", str(db), "--config", str(config),
         "run", "--sources", sources],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NARRASCOPE_CONFIG": "", "FAIL_BATCH": "2"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: crawl failed: could not write")
    assert "extract v2: 4 done" in proc.stdout  # the first batch was processed all the same
    assert rows(tmp_path, "SELECT kind, status FROM runs ORDER BY started_at") == [
        ("crawl", "failed"), ("process", "ok"), ("alerts", "ok")
    ]  # fmt: skip


FAIL_WARC = """
import os, runpy, sys
import crawlers.warc as warc
real, calls = warc.WarcArchive.write, []
def write(self, *args, **kwargs):
    calls.append(1)
    if len(calls) >= int(os.environ.get("FAIL_FROM", "3")):  # the disk fills up under it
        raise OSError(28, "No space left on device")
    return real(self, *args, **kwargs)
warc.WarcArchive.write = write
sys.argv = ["narrascope", *sys.argv[1:]]
runpy.run_module("pipeline.cli", run_name="__main__")
"""


def test_an_archive_that_cannot_be_written_fails_the_crawl(tmp_path, local_site):
    """A full disk under the WARC archive stops the crawl with one error and exit 1 (it used
    to end 'ok' with every later page a fetch_error); the next crawl archives and stores all."""
    pages = {f"/s/{i}": ("text/html", article(f"Страница {i}"), {}) for i in range(8)}
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(FAST)
    db = tmp_path / "n.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", FAIL_WARC, "--db", str(db), "--config", str(config),
         "crawl", "--sources", sources],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NARRASCOPE_CONFIG": ""},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: crawl failed: could not write the evidence archive")
    assert "No space left on device" in line
    [(status,)] = rows(tmp_path, "SELECT status FROM runs WHERE kind = 'crawl'")
    assert status == "failed"
    # nothing stored without its record
    assert rows(tmp_path, "SELECT count(*) FROM page_meta WHERE warc_file IS NULL") == [(0,)]
    # and the pages it could not archive are not the site's failure: no fetch_error each,
    # which made the source's health say its pages failed
    assert rows(tmp_path, "SELECT reason, count(*) FROM rejections GROUP BY ALL") == []

    out = run_cli("--config", str(config), "crawl", "--sources", sources, db=db).stdout
    assert "crawl ok" in out
    stored = rows(tmp_path, "SELECT v.url, m.warc_file FROM document_versions v "
                  "JOIN page_meta m USING (doc_id, version)")  # fmt: skip
    assert {u for u, _ in stored} == {site.base + p for p in pages}
    assert all(f for _, f in stored)


def test_a_robots_txt_the_archive_cannot_take_stops_the_crawl_not_the_site(tmp_path, local_site):
    """The disk full from the first response on, the site's robots.txt: its pages were all
    rejected as robots_txt ("unreachable", RFC 9309), and the site was one that "needs
    attention: nothing could be fetched". Now nothing of the site is fetched or rejected: the
    crawl stops with the archive's error, and the next crawl fetches it all."""
    pages = {f"/s/{i}": ("text/html", article(f"Страница {i}"), {}) for i in range(3)}
    site = feed_site(local_site, pages)
    log = site.server.RequestHandlerClass.log = []
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(FAST)
    proc = subprocess.run(
        [sys.executable, "-c", FAIL_WARC, "--db", str(tmp_path / "n.duckdb"), "--config",
         str(config), "crawl", "--sources", sources],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NARRASCOPE_CONFIG": "", "FAIL_FROM": "1"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[0]]
    assert "could not write the evidence archive" in proc.stderr
    assert "robots.txt" not in proc.stderr  # no "unreachable" warning
    assert [path for path, _ in log] == ["/robots.txt"]  # nothing else asked of the site
    assert rows(tmp_path, "SELECT count(*) FROM rejections") == [(0,)]
