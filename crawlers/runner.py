"""Running a crawl in this process: scrapy settings from our config, a run record, a summary."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crawlers.sources import Source
from storage import connect
from storage.runs import finish_run, start_run

# The [crawl] table of narrascope.toml and its defaults.
CRAWL_DEFAULTS = {
    "user_agent": "narrascope/0.1 (+https://github.com/narrascope/narrascope; research crawler)",
    "contact_url": "",
    "obey_robots": True,
    "autothrottle": True,
    "download_delay": 0.5,
    "concurrent_per_domain": 4,
    "max_bytes": 10 * 1024 * 1024,
    "timeout": 30,
    "retries": 2,
    "write_batch": 50,
    "log_level": "WARNING",
}


def scrapy_settings(db_path: str, run_id: str, crawl: dict) -> dict:
    crawl = {**CRAWL_DEFAULTS, **crawl}
    user_agent = crawl["user_agent"]
    if crawl["contact_url"] and crawl["contact_url"] not in user_agent:
        user_agent = f"{user_agent} (+{crawl['contact_url']})"
    return {
        "BOT_NAME": "narrascope",
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl["obey_robots"],
        "AUTOTHROTTLE_ENABLED": crawl["autothrottle"],
        "AUTOTHROTTLE_START_DELAY": crawl["download_delay"],
        "DOWNLOAD_DELAY": crawl["download_delay"],
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl["concurrent_per_domain"],
        "DOWNLOAD_MAXSIZE": crawl["max_bytes"],
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": crawl["timeout"],
        "RETRY_TIMES": crawl["retries"],
        "REDIRECT_MAX_TIMES": 5,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": crawl["log_level"],
        "DOWNLOADER_MIDDLEWARES": {"crawlers.safety.PrivateAddressMiddleware": 50},
        "ITEM_PIPELINES": {"crawlers.pipelines.DuckDBWriter": 300},
        "NARRASCOPE_DB": str(db_path),
        "NARRASCOPE_RUN_ID": run_id,
        "NARRASCOPE_WRITE_BATCH": crawl["write_batch"],
    }


def run_crawl(db_path: str | Path, sources: list[Source], crawl: dict | None = None) -> dict:
    """Crawl every source's feeds and the articles they link; return the run summary.

    Scrapy's reactor runs once per process: call this at most once per process.
    """
    from scrapy.crawler import CrawlerProcess

    from crawlers.spiders.feeds import FeedSpider

    crawl = crawl or {}
    # tldextract must never fetch the public suffix list over the network
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    with connect(db_path) as con:
        run_id = start_run(con, "crawl")
    settings = scrapy_settings(str(db_path), run_id, crawl)
    process = CrawlerProcess(settings, install_root_handler=False)
    logging.getLogger("scrapy").setLevel(settings["LOG_LEVEL"])
    crawler = process.create_crawler(FeedSpider)
    process.crawl(crawler, sources=sources)
    status = "failed"
    try:
        process.start()
        status = "ok"
    finally:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        writer = getattr(crawler, "narrascope_writer", None)
        summary = {
            "sources": len(sources),
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            **(writer.counts.as_dict() if writer else {}),
        }
        if stats.get("finish_reason") not in (None, "finished"):
            status = f"stopped: {stats.get('finish_reason')}"
        with connect(db_path) as con:
            finish_run(con, run_id, status, summary)
    summary["run_id"] = run_id
    summary["status"] = status
    return summary
