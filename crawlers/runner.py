"""Running a crawl in this process: scrapy settings from our config, a run record, a summary."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crawlers.sources import Source
from storage import connect
from storage.runs import finish_run, start_run

DEFAULT_USER_AGENT = "narrascope/0.1 (+https://github.com/narrascope/narrascope; research crawler)"


def scrapy_settings(db_path: str, run_id: str, crawl: dict) -> dict:
    contact = crawl.get("contact_url")
    user_agent = crawl.get("user_agent", DEFAULT_USER_AGENT)
    if contact and contact not in user_agent:
        user_agent = f"{user_agent} (+{contact})"
    return {
        "BOT_NAME": "narrascope",
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": crawl.get("obey_robots", True),
        "AUTOTHROTTLE_ENABLED": crawl.get("autothrottle", True),
        "AUTOTHROTTLE_START_DELAY": crawl.get("download_delay", 0.5),
        "DOWNLOAD_DELAY": crawl.get("download_delay", 0.5),
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.get("concurrent_per_domain", 4),
        "DOWNLOAD_MAXSIZE": crawl.get("max_bytes", 10 * 1024 * 1024),
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": crawl.get("timeout", 30),
        "RETRY_TIMES": crawl.get("retries", 2),
        "REDIRECT_MAX_TIMES": 5,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": crawl.get("log_level", "WARNING"),
        "DOWNLOADER_MIDDLEWARES": {"crawlers.safety.PrivateAddressMiddleware": 50},
        "ITEM_PIPELINES": {"crawlers.pipelines.DuckDBWriter": 300},
        "NARRASCOPE_DB": str(db_path),
        "NARRASCOPE_RUN_ID": run_id,
        "NARRASCOPE_WRITE_BATCH": crawl.get("write_batch", 50),
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
