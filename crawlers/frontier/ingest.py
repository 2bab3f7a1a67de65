"""``narrascope ingest --frontier URL``: the one process next to the database. It opens a
run on the frontier (publishing the crawl state for the crawlers), then pops the crawled
items and writes them with the crawl's own writer (crawlers/pipelines.py) until the crawlers
have finished, and records the run and the sources' health as a local crawl does."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crawlers.frontier import connect, key, reset
from crawlers.frontier.items import ITEMS_KEY, loads
from crawlers.frontier.spider import seen_to_json
from crawlers.pipelines import DuckDBWriter
from crawlers.runner import CRAWL_DEFAULTS, source_row
from crawlers.sources import Source
from storage import connect as connect_db
from storage.crawlstate import all_state
from storage.lock import writer_lock
from storage.runs import recorded_run
from storage.sources import record_sources

log = logging.getLogger(__name__)

#: items popped from Redis per round trip
POP_COUNT = 500


def publish_state(con, server) -> int:
    """The database's crawl state into the frontier (replacing an older copy at once): the
    crawlers' conditional GETs, feed and sitemap skips, WordPress and Telegram watermarks."""
    staging, count = key("state-new"), 0
    server.delete(staging)
    for chunk in all_state(con):
        server.hset(staging, mapping={url: seen_to_json(seen) for url, seen in chunk})
        count += len(chunk)
    if count:
        server.rename(staging, key("state"))
    return count


def open_run(server, run_id: str, con) -> int:
    """A fresh frontier for ``run_id``: earlier runs' queue, filter and items are dropped."""
    reset(server)
    published = publish_state(con, server)
    server.hset(key("run"), mapping={"run_id": run_id, "state": "open",
                                     "opened_at": datetime.now(UTC).isoformat()})  # fmt: skip
    return published


def _live_workers(server) -> list[str]:
    workers = [w.decode() for w in server.smembers(key("workers"))]
    return [w for w in workers if server.exists(key("worker", w))]


def _crawl_over(server) -> bool:
    """The crawlers declared the crawl finished and every live one has left; a crawler
    killed after that (its heartbeat lapsed) is not waited for."""
    return server.hget(key("run"), "done") == b"1" and not _live_workers(server)


def run_ingest(db_path: str | Path, url: str, sources: list[Source], crawl: dict | None = None,
               poll: float = 1.0) -> dict:  # fmt: skip
    """Open a run on the frontier and write what the crawlers push until they are done."""
    from storage.health import health_row, record_health

    crawl = {**CRAWL_DEFAULTS, **(crawl or {})}
    server = connect(url)
    with writer_lock(db_path), recorded_run(db_path, "crawl") as run:
        with connect_db(db_path) as con:
            record_sources(con, [source_row(s) for s in sources])
            published = open_run(server, run.run_id, con)
        log.info("frontier run %s open: %d URLs of crawl state published", run.run_id, published)
        writer = DuckDBWriter(str(db_path), run.run_id, crawl["write_batch"],
                              crawl["write_seconds"])  # fmt: skip
        reports: list[dict] = []
        try:
            while writer.error is None:
                popped = server.lpop(ITEMS_KEY, POP_COUNT)
                if not popped:
                    if _crawl_over(server) and not server.llen(ITEMS_KEY):
                        break
                    time.sleep(poll / 10)
                    continue
                for data in popped:
                    item = loads(data)
                    if isinstance(item, dict):
                        reports.append(item)
                    else:
                        writer.process_item(item)
        finally:
            writer.close()
        health = health_by_source(reports, sources)
        counts = writer.counts
        run.summary = {
            "sources": len(sources),
            "crawlers": len(reports),
            "requests": sum(r.get("requests", 0) for r in reports),
            "responses": sum(r.get("responses", 0) for r in reports),
            "skipped": sum(h.get("skipped", 0) for h, _chars in health.values()),
            "state_published": published,
            **counts.as_dict(),
        }
        if writer.error:
            run.summary["not_written"] = writer.not_written
            run.fail(writer.error)
        rows = [health_row(run.run_id, s.name, health[s.name][0],
                           counts.by_source.get(s.name, {}), health[s.name][1])
                for s in sources]  # fmt: skip
        with connect_db(db_path) as con:
            record_health(con, rows)
    return {**run.summary, "run_id": run.run_id, "status": run.status}


def health_by_source(reports: list[dict], sources: list[Source]) -> dict:
    """Source name -> (summed health counters, all body lengths) over the crawlers' reports."""
    out = {s.name: (Counter(), []) for s in sources}
    for report in reports:
        for name, counters in report.get("health", {}).items():
            if name in out:
                out[name][0].update(counters)
        for name, chars in report.get("body_chars", {}).items():
            if name in out:
                out[name][1].extend(chars)
    return {name: (dict(c), chars) for name, (c, chars) in out.items()}
