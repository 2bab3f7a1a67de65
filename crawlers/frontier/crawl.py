"""``narrascope crawl --frontier URL``: one crawler process of a shared crawl. It needs no
database: it waits for the run that ``ingest --frontier`` opened, takes requests from and
gives requests to the shared queue, and pushes what it crawls back to Redis."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from pathlib import Path

from crawlers.frontier import (
    INGEST_KEY,
    FrontierError,
    connect,
    key,
    redis_time,
    run_stop_at,
    sources_digest,
)
from crawlers.runner import CRAWL_DEFAULTS, quiet_scrapy, scrapy_settings
from crawlers.sources import Source

#: a crawler that finds no open run waits this long for ``ingest --frontier`` to open one
WAIT_SECONDS = 60.0


#: why a crawler stopped before the crawl was finished, as its exit message says it
STOPPED = {
    "frontier_unreachable": "lost the frontier (Redis unreachable, or it refused a push); "
    "what it held is crawled again by the others or the next run",
    "evicted": "the other crawlers declared it dead (its heartbeat lapsed: a host too busy "
    "for [crawl] frontier_timeout?) and took over its requests",
    "run_changed": "a new run was opened on the frontier (another `ingest --frontier`)",
    "ingest_gone": "`ingest --frontier` is gone (its heartbeat lapsed): nothing would be written",
    "warc_failed": "its WARC files could not be written",
    "shutdown": "it was interrupted",
}


def stop_at(run: dict, max_duration: float | None, server=None) -> float:
    """When this crawler stops fetching (this host's clock, ``time.time()``; 0: never): the
    earlier of the run's time limit (``ingest --max-duration``, published on Redis's clock:
    what is left of it is measured there, so hosts' clocks do not matter) and its own."""
    limits = []
    if published := run_stop_at(run):
        limits.append(time.time() + published - redis_time(server))
    if max_duration:
        limits.append(time.time() + max_duration)
    return min(limits, default=0.0)


def wait_for_run(server, wait: float = WAIT_SECONDS, digest: str | None = None) -> dict:
    """The run ingest opened (its run_id), once the crawl state is published; FrontierError
    when it was opened with other sources than ``digest`` (this host's)."""
    deadline = time.monotonic() + wait
    while True:
        run = {k.decode(): v.decode() for k, v in server.hgetall(key("run")).items()}
        # an "open" run without the ingest lock was left by an ingest that died: wait
        if run.get("state") == "open" and run.get("done") != "1" and server.exists(INGEST_KEY):
            if digest is not None and run.get("sources") != digest:
                raise FrontierError(
                    f"this host's sources differ from those ingest opened run {run['run_id']} "
                    f"with (digest {digest}, ingest's {run.get('sources')}): use the same "
                    "sources file on every crawl host and for ingest"
                )
            return run
        if time.monotonic() >= deadline:
            if run.get("done") == "1":  # the last run ended and no new one was opened
                raise FrontierError("the run on this frontier is over, and no new one was "
                                    f"opened within {wait:.0f} s: start `narrascope ingest "
                                    "--frontier URL` next to the database")  # fmt: skip
            if run.get("state") == "open" and run.get("done") != "1":
                raise FrontierError(f"run {run.get('run_id', '?')} on this frontier was left "
                                    "open by an ingest that is gone, and no new one was "
                                    f"opened within {wait:.0f} s: start `narrascope ingest "
                                    "--frontier URL` next to the database")  # fmt: skip
            raise FrontierError(
                f"no run opened on this frontier within {wait:.0f} s: start "
                "`narrascope ingest --frontier URL` next to the database first"
            )
        time.sleep(0.2)


def frontier_settings(url: str, run_id: str, worker: str, crawl: dict,
                      sources: list[Source], stop: float = 0.0) -> dict:  # fmt: skip
    """Our scrapy settings, with scrapy-redis's scheduler and dupefilter, items to Redis;
    ``stop``: when to stop fetching (crawlers/deadline.py), 0: never."""
    crawl = {**CRAWL_DEFAULTS, **crawl}
    settings = scrapy_settings("", run_id, crawl, sources, (stop, 0.0) if stop else ())
    directory = crawl["warc_dir"]
    return {
        **settings,
        "SCHEDULER": "crawlers.frontier.scheduler.FrontierScheduler",
        "SCHEDULER_QUEUE_CLASS": "crawlers.frontier.queue.JsonPriorityQueue",
        "SCHEDULER_PERSIST": True,  # scrapy-redis would clear the queue when one crawler ends
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "REDIS_URL": url,
        "ITEM_PIPELINES": {"crawlers.frontier.items.RedisItemPipeline": 300},
        "DOWNLOADER_MIDDLEWARES": {
            **settings["DOWNLOADER_MIDDLEWARES"],
            # a request dropped at the time limit does not first wait out its host's slot
            "crawlers.deadline.DropAfterStop": 855,
            "crawlers.frontier.politeness.SharedPoliteness": 860,
        },
        "EXTENSIONS": {  # the throttle that keeps crawl_delay; the time limit, if any
            **settings["EXTENSIONS"],
            **({} if stop else {"crawlers.deadline.CrawlDeadline": None}),
        },
        # WARC files stay on the crawler's host, named by run and crawler
        "NARRASCOPE_WARC_DIR": str(Path(directory).resolve()) if directory else "",
        "NARRASCOPE_RUN_ID": f"{run_id}-{worker}",
        "NARRASCOPE_DB": "",
        "NARRASCOPE_FRONTIER_WORKER": worker,
        "NARRASCOPE_FRONTIER_RUN": run_id,
        "NARRASCOPE_FRONTIER_TIMEOUT": float(crawl["frontier_timeout"]),
    }


def crawl_status(stats: dict) -> tuple[str, str]:
    """(status, why) of a crawler from its scrapy stats: 'ok', 'stopped early' (its time
    limit; not a failure), 'stopped: REASON' or 'failed' (its part of the run is incomplete
    on ingest's side: its closing report, or its leaving, failed)."""
    finish = stats.get("finish_reason")
    if finish is None:  # the crawl never opened (scrapy logged why)
        status, why = "failed", "the crawl could not start (see the log above)"
    elif finish == "finished":
        status, why = "ok", ""
    elif finish == "max_duration":  # not a failure: the queue is left for the others
        status, why = "stopped early", ""
    else:
        status, why = f"stopped: {finish}", STOPPED.get(finish, "see the log above")
    if stats.get("frontier/close_failed"):
        status = "failed" if status in ("ok", "stopped early") else status
        why = "; ".join(filter(None, (why, stats["frontier/close_failed"])))
    return status, why


def run_frontier_crawl(url: str, sources: list[Source], crawl: dict | None = None,
                       wait: float = WAIT_SECONDS, max_duration: float | None = None) -> dict:  # fmt: skip
    """Crawl as one of the frontier's crawlers until the shared crawl is finished, or until
    its time limit (``max_duration`` seconds, or the run's): then it stops fetching and
    what it held goes back on the queue ('stopped early'). Return this crawler's summary.
    Scrapy's reactor runs once per process."""
    from scrapy.crawler import CrawlerProcess

    from crawlers.frontier.spider import FrontierSpider

    crawl = {**CRAWL_DEFAULTS, **(crawl or {})}
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    server = connect(url)
    run = wait_for_run(server, wait, sources_digest(sources))
    worker = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    settings = frontier_settings(url, run["run_id"], worker, crawl, sources,
                                 stop_at(run, max_duration, server))  # fmt: skip
    quiet_scrapy(settings["LOG_LEVEL"])
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(settings["LOG_LEVEL"])
    crawler = process.create_crawler(FrontierSpider)
    process.crawl(
        crawler,
        sources=sources,
        db_path="",
        server=server,
        worker=worker,
        expiry_days=crawl["seen_expiry_days"],
        wp_per_page=crawl["wp_per_page"],
        telegram_pages=crawl["telegram_pages"],
        min_article_chars=crawl["min_article_chars"],
        max_page_links=crawl["max_page_links"],
    )
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    status, why = crawl_status(stats)
    return {
        "why": why,
        "refused": stats.get("frontier/refused", 0),
        "run_id": run["run_id"],
        "worker": worker,
        "status": status,
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "items": stats.get("item_scraped_count", 0),
    }
