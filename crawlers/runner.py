"""Running a crawl in this process: scrapy settings from our config, a run record, a summary."""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path

from crawlers.sources import Source, host_matches, private_hosts, slot_domain
from pipeline import interrupt
from storage import connect
from storage.lock import writer_lock
from storage.runs import Run, recorded_run
from storage.sources import SourceRow, record_sources

# The [crawl] table of narrascope.toml and its defaults.
CRAWL_DEFAULTS = {
    "user_agent": "narrascope/0.1 (+https://github.com/narrascope/narrascope; research crawler)",
    "contact_url": "",
    "obey_robots": True,
    # the most seconds between two requests a robots.txt Crawl-delay can ask for (0: not read)
    "max_robots_delay": 30.0,
    "autothrottle": True,
    "download_delay": 0.5,
    "concurrent_per_domain": 4,
    # requests in flight at once in one crawl process, all sites together (scrapy's
    # CONCURRENT_REQUESTS; its default); concurrent_per_domain caps each site within it
    "concurrent_requests": 16,
    "max_bytes": 10 * 1024 * 1024,
    "timeout": 30,
    "retries": 2,
    "write_batch": 200,  # items per write transaction (each opens and closes the database)
    "write_seconds": 5.0,  # ... or once the oldest item has waited this long
    "log_level": "WARNING",
    "seen_expiry_days": 30,  # crawl state older than this is ignored: a full re-fetch
    "warc_dir": "warc",  # relative paths are next to the database; "" turns archiving off
    "warc_max_bytes": 1024**3,
    "wp_per_page": 100,
    "telegram_pages": 20,  # pages of channel history read back per run
    "min_article_chars": 500,  # link-following: paragraph text that makes a page an article
    "max_page_links": 2000,  # link-following: links read from one page (too_many_links past it)
    # crawl --frontier: seconds without a heartbeat after which a crawler counts as dead and
    # the others take over its requests
    "frontier_timeout": 15.0,
}


def warc_dir(db_path: str | Path, crawl: dict) -> Path | None:
    directory = {**CRAWL_DEFAULTS, **crawl}["warc_dir"]
    if not directory:
        return None
    path = Path(directory)
    return path if path.is_absolute() else Path(db_path).resolve().parent / path


def download_slots(sources: list[Source], crawl: dict) -> dict:
    """Per-domain delay from each source's crawl_delay (scrapy's DOWNLOAD_SLOTS). Sources
    sharing a domain share its slot, which keeps the largest of their delays (it took the
    last source's: a later crawl_delay = 0 undid an earlier 1 s); a subdomain's slot keeps
    its parent domains' delays too, which cover their subdomains."""
    delays: dict[str, float] = {}
    for source in sources:
        if source.crawl_delay is None:
            continue
        for domain in map(slot_domain, source.allowed_domains):
            delays[domain] = max(delays.get(domain, 0.0), source.crawl_delay)
    return {
        domain: {
            # no jitter: the delay is a floor the site asked for, not a mean around it
            "delay": max(d for parent, d in delays.items() if host_matches(domain, [parent])),
            "jitter": 0,
            "concurrency": crawl["concurrent_per_domain"],
        }
        for domain in delays
    }


def product_token(user_agent: str) -> str | None:
    """The product a User-Agent starts with, its version included ("narrascope/0.1
    (+https://...)" -> "narrascope/0.1"): what robots.txt groups are matched against, so
    that a group for "narrascope" or "narrascope/0.1" applies and none for a word further on."""
    found = re.match(r"\s*([^\s(;]+)", user_agent or "")
    return found.group(1) if found else None


def scrapy_settings(
    db_path: str, run_id: str, crawl: dict, sources: list[Source] = (), stop: tuple = ()
) -> dict:
    """``stop``: (wall-clock time, seconds per page) for a time-boxed crawl (crawlers/deadline.py)."""
    crawl = {**CRAWL_DEFAULTS, **crawl}
    user_agent = crawl["user_agent"]
    if crawl["contact_url"] and crawl["contact_url"] not in user_agent:
        user_agent = f"{user_agent} (+{crawl['contact_url']})"
    return {
        "BOT_NAME": "narrascope",
        "USER_AGENT": user_agent,
        # on where any source obeys robots.txt: a source's obey_robots = true holds under
        # [crawl] obey_robots = false; the others' requests say dont_obey_robotstxt
        "ROBOTSTXT_OBEY": crawl["obey_robots"] or any(s.obey_robots for s in sources),
        # robots.txt groups are matched against our product token (RFC 9309 2.2.1), with its
        # version; by default scrapy matches them against the whole User-Agent, where a group
        # for "crawler", "research" or "github" found a word of ours and won over "*"
        "ROBOTSTXT_USER_AGENT": product_token(user_agent),
        "NARRASCOPE_OBEY_ROBOTS": crawl["obey_robots"],
        "NARRASCOPE_MAX_ROBOTS_DELAY": crawl["max_robots_delay"],
        "AUTOTHROTTLE_ENABLED": crawl["autothrottle"],
        "AUTOTHROTTLE_START_DELAY": crawl["download_delay"],
        "DOWNLOAD_DELAY": crawl["download_delay"],
        # Scrapy's own starts every request queued for a site at once with no delay
        "DOWNLOADER": "crawlers.downloader.SlotBoundDownloader",
        "CONCURRENT_REQUESTS": crawl["concurrent_requests"],
        # requests go out in the order the spider asks for them (scrapy's default is last in,
        # first out): a listing asks for its pages never fetched first and re-checks last, and
        # a site that answers only the first few requests of a run answered the re-checks
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        # scrapy's, counting what it holds per source: a source's checks of pages fetched
        # before wait until it has nothing else queued (crawlers/spiders/held.py)
        "SCHEDULER": "crawlers.spiders.held.CountingScheduler",
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl["concurrent_per_domain"],
        "DOWNLOAD_MAXSIZE": crawl["max_bytes"],
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": crawl["timeout"],
        "RETRY_TIMES": crawl["retries"],
        # scrapy's default: a chain of distinct addresses this long is a loop in effect
        # (loops back to an address seen are cut where they close: crawlers/safety.py)
        "REDIRECT_MAX_TIMES": 20,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": crawl["log_level"],
        "LOG_INSTALL_ROOT_HANDLER": False,  # the command line configures logging
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524, 408, 429],
        "DOWNLOAD_SLOTS": download_slots(list(sources), crawl),
        # http(s) only: scrapy's file handler would read the crawl machine's files for a
        # file:// URL that a hostile listing names (its FTP and file handlers know no size limit)
        "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "s3": None, "data": None},
        # the lookup each connection makes refuses non-public answers (crawlers/safety.py)
        "TWISTED_DNS_RESOLVER": "crawlers.safety.PublicAddressResolver",
        "NARRASCOPE_PRIVATE_HOSTS": sorted(private_hosts(sources)),
        "DOWNLOADER_MIDDLEWARES": {
            "crawlers.safety.PrivateAddressMiddleware": 50,
            # RFC 9309: a robots.txt that answers 5xx or 429, or not at all, disallows the site
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawlers.robots.Rfc9309RobotsMiddleware": 100,
            "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
            "crawlers.safety.LoopSafeRedirectMiddleware": 600,
            # a page once a run, redirects included; above redirects and retries, to see
            # their answers before they become new requests
            "crawlers.once.FetchOnce": 650,
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "crawlers.safety.LoopSafeMetaRefreshMiddleware": 580,
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawlers.safety.BackoffRetryMiddleware": 550,
            "crawlers.deadline.DropAfterStop": 870,  # after backoff and robots.txt waits
            # next to the downloader: archives bytes as received, redirects included
            "crawlers.warc.WarcMiddleware": 880,
        },
        "NARRASCOPE_WARC_DIR": str(warc_dir(db_path, crawl) or ""),
        "NARRASCOPE_WARC_MAX_BYTES": crawl["warc_max_bytes"],
        "ITEM_PIPELINES": {"crawlers.pipelines.DuckDBWriter": 300},
        "EXTENSIONS": {
            "crawlers.deadline.CrawlDeadline": 0,  # only with ``stop``
            # scrapy's AutoThrottle, keeping each source's crawl_delay as its floor
            "scrapy.extensions.throttle.AutoThrottle": None,
            "crawlers.throttle.SourceDelayThrottle": 0,
        },
        "NARRASCOPE_CRAWL_STOP_AT": stop[0] if stop else 0,
        "NARRASCOPE_SECONDS_PER_PAGE": stop[1] if stop else 0,
        "NARRASCOPE_DB": str(db_path),
        "NARRASCOPE_RUN_ID": run_id,
        "NARRASCOPE_WRITE_BATCH": crawl["write_batch"],
        "NARRASCOPE_WRITE_SECONDS": crawl["write_seconds"],
        # scrapy starts CONCURRENT_ITEMS tasks for every callback's output; ours yield one
        # page, or requests, so a few suffice (100, the default, cost a third of the time)
        "CONCURRENT_ITEMS": 4,
    }


class _ScrapyLevel(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("scrapy") or record.levelno >= self.level


def quiet_scrapy(level: str) -> None:
    """Keep scrapy's records below ``level`` out of our log handlers: scrapy resets its
    loggers to DEBUG while starting and logs its version banner before LOG_LEVEL applies."""
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _ScrapyLevel) for f in handler.filters):
            handler.addFilter(_ScrapyLevel(numeric))


def source_row(source: Source) -> SourceRow:
    """What the database keeps of a source (table `sources`)."""
    return SourceRow(
        name=source.name, home=source.home, entry_points=source.kinds,
        languages=list(source.languages), tags=dict(source.tags),
        allowed_domains=list(source.allowed_domains), max_pages=source.max_pages,
    )  # fmt: skip


def run_crawl(
    db_path: str | Path, sources: list[Source], crawl: dict | None = None, stop: tuple = ()
) -> dict:
    """Crawl every source's entry points and the pages they list; return the run summary.
    ``stop`` = (wall-clock time, seconds per page fetched): stop in time to process what was
    fetched (``run --max-duration``); the run is then 'stopped early'.

    Holds the database's writer lock for the whole crawl and records the run in ``runs``:
    'failed' (with ``error``, one line) where a batch could not be written. Scrapy's reactor
    runs once per process: call this at most once per process.
    """
    crawl = {**CRAWL_DEFAULTS, **(crawl or {})}
    # tldextract must never fetch the public suffix list over the network
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    with writer_lock(db_path), recorded_run(db_path, "crawl") as run:
        with connect(db_path) as con:
            record_sources(con, [source_row(s) for s in sources])
        _crawl(db_path, sources, crawl, run, stop)
    return {**run.summary, "run_id": run.run_id, "status": run.status}


def _remember_stop_signals(process, ignored: set[int]) -> list[int]:
    """The stop signals scrapy's own handler receives during the crawl (its graceful stop is
    kept: requests in flight finish and are stored), so that the command can end with the
    right exit code (pipeline/interrupt.py), also where one comes as the crawl closes. A
    signal in ``ignored`` (ignored when the crawl began: SIGINT in a command a script put in
    the background) stays ignored, though scrapy handles it. Relies on scrapy's
    ``_signal_shutdown``; where that is gone, a stopped crawl counts as SIGTERM."""
    received: list[int] = []
    graceful = getattr(process, "_signal_shutdown", None)
    if callable(graceful):

        def shutdown(signum, frame):
            if signum in ignored:
                return
            received.append(signum)
            graceful(signum, frame)

        process._signal_shutdown = shutdown
    return received


def _crawl(db_path: str | Path, sources: list[Source], crawl: dict, run: Run, stop=()) -> None:
    """The scrapy part of a crawl: its outcome and summary into ``run``, health rows recorded."""
    from scrapy.crawler import CrawlerProcess

    from crawlers.spiders.sources import SourceSpider
    from storage.health import health_row, record_health

    run_id = run.run_id
    settings = scrapy_settings(str(db_path), run_id, crawl, sources, stop)
    quiet_scrapy(settings["LOG_LEVEL"])
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(settings["LOG_LEVEL"])  # scrapy set it to DEBUG
    crawler = process.create_crawler(SourceSpider)
    process.crawl(
        crawler,
        sources=sources,
        db_path=str(db_path),
        expiry_days=crawl["seen_expiry_days"],
        wp_per_page=crawl["wp_per_page"],
        telegram_pages=crawl["telegram_pages"],
        min_article_chars=crawl["min_article_chars"],
        max_page_links=crawl["max_page_links"],
    )
    status = "failed"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    signals = _remember_stop_signals(
        process, {s for s, h in handlers.items() if h == signal.SIG_IGN}
    )
    try:
        process.start()
        status = "ok"
    finally:
        # scrapy leaves its handlers in place, which from now on would ask a stopped reactor
        # to stop: a SIGTERM during `run`'s processing would be ignored
        for s, h in handlers.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        interrupt.watch_signals_again()  # the reactor had the wakeup descriptor
        stats = crawler.stats.get_stats() if crawler.stats else {}
        writer = getattr(crawler, "narrascope_writer", None)
        spider = crawler.spider
        counts = writer.counts if writer else None
        summary = {
            "sources": len(sources),
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "skipped": sum(h.get("skipped", 0) for h in spider.health.values()) if spider else 0,
            **(counts.as_dict() if counts else {}),
        }
        if spider is not None and spider.without_state:
            summary["without_state"] = spider.without_state  # looked up while locked
        if stats.get("finish_reason") == "max_duration":
            status = "stopped early"
            left = stats.get("scheduler/enqueued", 0) - stats.get("scheduler/dequeued", 0)
            left += stats.get("narrascope/dropped_for_time", 0)
            summary["stopped_early"] = {"reason": "max_duration", "requests_left": left}
        elif stats.get("finish_reason") not in (None, "finished", "shutdown"):
            status = f"stopped: {stats.get('finish_reason')}"
        # SIGTERM or SIGINT, however far the crawl had got (scrapy's graceful stop; or its
        # handler, as the last batch was written): `run` must not go on to process
        if signals or stats.get("finish_reason") == "shutdown":
            status = "interrupted"
            summary["signal"] = signals[0] if signals else int(signal.SIGTERM)
        run.status, run.summary = status, summary
        if writer is not None and writer.error:  # a batch could not be written
            summary["not_written"] = writer.not_written
            run.fail(writer.error)  # status 'failed', summary["error"]: one line
        warc = getattr(crawler, "narrascope_warc", None)
        if warc is not None and warc.error and run.status != "failed":
            run.fail(warc.error)
        health = []
        if spider is not None:
            health = [
                health_row(
                    run_id,
                    s.name,
                    dict(spider.health[s.name]),
                    counts.by_source.get(s.name, {}) if counts else {},
                    spider.body_chars[s.name],
                )  # fmt: skip
                for s in sources
            ]
        with connect(db_path) as con:
            record_health(con, health)
