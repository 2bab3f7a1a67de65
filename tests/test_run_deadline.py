"""`narrascope run --max-duration`: a cron run that stops in time and leaves the rest to the
next run, losing nothing."""

import json
import time

import pytest

from pipeline.deadline import Deadline, parse_duration, seconds_per_document
from storage import connect
from tests.conftest import import_jsonl, run_cli
from tests.crawlers.test_evidence import feed_site
from tests.crawlers.test_spiders import article, sources_file

# cheap stages: the test is about time, not models
CONFIG = """[crawl]
download_delay = 0
autothrottle = false
concurrent_per_domain = 2
timeout = 5
[pipeline]
stages = ["extract", "langid"]
"""


def test_durations_are_read_as_cron_users_write_them():
    assert parse_duration("50m") == 3000
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90s") == parse_duration("90") == 90
    assert parse_duration("1.5h") == 5400
    for wrong in ("", "5x", "m", "-3", "0", "1h-5m"):
        with pytest.raises(ValueError):
            parse_duration(wrong)
    proc = run_cli("run", "--max-duration", "5 parsecs", check=False)
    assert proc.returncode == 2 and "is not a duration" in proc.stderr


def test_the_crawl_stops_early_enough_to_process_what_it_fetched():
    deadline = Deadline(100, started=1000.0)
    # 10 s of the limit are always kept; each document waiting or fetched takes its share
    assert deadline.crawl_stop_at(0.5, waiting=0, timeout=5) == 1090
    assert deadline.crawl_stop_at(0.5, waiting=20, timeout=30) == 1060
    # from past runs: stages that handled few documents (a model's loading time) do not count
    recent = [{"extract": {"done": 100, "rejected": 0, "seconds": 10},
               "embed": {"done": 90, "rejected": 10, "seconds": 50},
               "cluster": {"done": 3, "rejected": 0, "seconds": 9}},
              {"extract": {"done": 40, "seconds": 2}, "stopped_early": {"left": {}}}]  # fmt: skip
    assert seconds_per_document(recent) == pytest.approx(0.6)
    assert seconds_per_document([]) == seconds_per_document([{"embed": {"done": 1}}]) == 1.0


def test_a_limit_that_leaves_too_little_time_to_crawl_is_refused(tmp_path):
    """The last downloads' reserve (the download timeout) is the whole limit, or nearly: every
    run would stop its crawl at once, fetch nothing and still say the next run goes on."""
    assert Deadline(30).leaves_no_crawl(30) and Deadline(59).leaves_no_crawl(30)
    assert Deadline(60).leaves_no_crawl(30) is None and Deadline(15).leaves_no_crawl(5) is None
    sources = sources_file(tmp_path, home="http://127.0.0.1:9/")
    db = tmp_path / "n.duckdb"
    proc = run_cli("run", "--sources", sources, "--max-duration", "15s", db=db, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "--max-duration 15s leaves too little time to crawl" in proc.stderr
    assert "[crawl] timeout = 30s) to finish, so that much is kept back; give at least 1m" in (
        proc.stderr
    )
    assert not db.exists()  # refused before anything is opened


def test_a_time_boxed_run_stops_in_time_and_the_next_run_finishes(tmp_path, local_site):
    # 40 pages that take 1.5 s each, two at a time: 30 s of crawling; the run may take 15 s
    pages = {f"/p/{i}": ("text/html; charset=utf-8", article(f"Статья {i}"), {"Delay": "1.5"})
             for i in range(40)}  # fmt: skip
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    db = tmp_path / "n.duckdb"
    started = time.monotonic()
    out = run_cli("--config", str(config), "run", "--sources", sources, "--max-duration", "15s",
                  db=db).stdout  # fmt: skip
    took = time.monotonic() - started
    assert "crawl stopped early to leave time for processing" in out
    assert "run stopped early at its time limit (15s)" in out
    # the limit, plus starting Python and a busy machine's slack: not the 40 s of the crawl
    assert took < 15 + 8
    with connect(db, read_only=True) as con:
        crawl, process = con.execute(
            "SELECT status, summary FROM runs WHERE kind IN ('crawl', 'process') ORDER BY started_at"
        ).fetchall()
        fetched = con.execute("SELECT count(*) FROM document_versions").fetchone()[0]
    assert crawl[0] == "stopped early" and process[0] == "ok"
    left = json.loads(crawl[1])["stopped_early"]["requests_left"]
    assert 0 < fetched < 40 and left == 40 - fetched
    done = {s: json.loads(process[1])[s]["done"] for s in ("extract", "langid")}
    assert done == {"extract": fetched, "langid": fetched}  # all processed within the limit

    for path in pages:  # the site is quick again for the next run
        site.routes[path] = (*pages[path][:2], {})
    out = run_cli("--config", str(config), "run", "--sources", sources, db=db).stdout
    assert "stopped early" not in out
    with connect(db, read_only=True) as con:
        urls = [u for (u,) in con.execute("SELECT url FROM document_versions").fetchall()]
        languages = con.execute("SELECT count(*) FROM languages").fetchone()[0]
    assert sorted(urls) == sorted(site.base + p for p in pages)  # each page once
    assert languages == 40


def test_processing_stops_at_the_deadline_and_says_what_is_left(tmp_path):
    from pipeline.config import load_config
    from pipeline.runner import run_stages
    from pipeline.stages import build_stages

    db = tmp_path / "n.duckdb"
    docs = [{"url": f"https://example.org/{i}", "text": f"Текст номер {i}. " * 40}
            for i in range(6)]  # fmt: skip
    import_jsonl(tmp_path, db, docs)
    stages = build_stages(["extract", "langid"], load_config(None))
    report = run_stages(db, stages, batch_size=2, deadline=time.time() - 1)
    assert report.stopped_early and report.left == {"extract": 6, "langid": 0}
    assert report.as_dict()["stopped_early"]["left"] == report.left
    report = run_stages(db, stages, batch_size=2, deadline=time.time() + 600)
    assert not report.stopped_early and [s.done for s in report.stages] == [6, 6]


def test_process_with_a_time_limit_stops_in_time_and_the_next_process_finishes(tmp_path):
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    db = tmp_path / "n.duckdb"
    docs = [{"url": f"https://example.org/{i}", "text": f"Текст номер {i}. " * 40}
            for i in range(6)]  # fmt: skip
    import_jsonl(tmp_path, db, docs)
    # the limit is over before the first batch could start
    out = run_cli("--config", str(config), "process", "--no-progress", "--max-duration", "0.01",
                  db=db).stdout  # fmt: skip
    assert "processing stopped early to end within --max-duration" in out
    assert "extract 6, langid 0" in out
    with connect(db, read_only=True) as con:
        status, summary = con.execute(
            "SELECT status, summary FROM runs WHERE kind = 'process'").fetchone()  # fmt: skip
        assert con.execute("SELECT count(*) FROM languages").fetchone()[0] == 0
    assert status == "stopped early"
    assert json.loads(summary)["stopped_early"]["left"] == {"extract": 6, "langid": 0}

    out = run_cli("--config", str(config), "process", "--no-progress", "--max-duration", "10m",
                  db=db).stdout  # fmt: skip
    assert "stopped early" not in out
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM languages").fetchone()[0] == 6


def test_a_crawl_stopped_before_its_first_request_does_not_say_nothing_is_left():
    """The documents already waiting can take the whole limit: the crawl then stops before
    it requests anything, and "0 queued requests left" read as "nothing left to crawl"."""
    from pipeline.cli.formatting import format_crawl

    at_once = {"status": "stopped early", "responses": 0, "stopped_early": {"requests_left": 0}}
    assert "nothing was fetched, the documents already waiting take the time" in format_crawl(
        at_once
    )
    later = {**at_once, "responses": 14, "stopped_early": {"requests_left": 27}}
    assert "27 queued requests left for the next run" in format_crawl(later)


def test_a_time_boxed_crawl_that_read_no_new_page_says_the_next_may_do_the_same():
    """Listings and checks can take a whole slot (a site's crawl_delay times its listings):
    a helper's run of 25 s with a 3 s delay read robots.txt, the listings and two channel
    posts, stored nothing new, and said "the next run goes on from here" four runs in a row."""
    from pipeline.cli.formatting import format_crawl

    none_new = {"status": "stopped early", "responses": 7, "unchanged": 2,
                "stopped_early": {"requests_left": 34}}  # fmt: skip
    assert "no new or changed page was read before the time limit" in format_crawl(none_new)
    some_new = {**none_new, "new": 2}
    assert "34 queued requests left for the next run" in format_crawl(some_new)
    assert "no new or changed page" not in format_crawl(some_new)
