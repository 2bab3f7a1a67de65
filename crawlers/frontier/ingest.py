"""``narrascope ingest --frontier URL``: the one process next to the database. It opens a
run on the frontier (publishing the crawl state for the crawlers), then pops the crawled
items and writes them with the crawl's own writer (crawlers/pipelines.py) until the crawlers
have finished, and records the run and the sources' health as a local crawl does."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crawlers.frontier import (
    INGEST_KEY,
    FrontierError,
    connect,
    key,
    redis_time,
    reset,
    sources_digest,
)
from crawlers.frontier import scripts as lua
from crawlers.frontier.items import ITEMS_KEY, BadItem, loads
from crawlers.frontier.spider import seen_to_json
from crawlers.pipelines import DuckDBWriter
from crawlers.runner import CRAWL_DEFAULTS, source_row
from crawlers.sources import Source
from storage import connect as connect_db
from storage.crawlstate import all_state
from storage.lock import writer_lock
from storage.records import Rejection
from storage.runs import recorded_run
from storage.sources import record_sources

log = logging.getLogger(__name__)

#: items popped from Redis per round trip
POP_COUNT = 500
#: ingest gives up when no crawler has been alive this long and the crawl is not finished
WAIT_SECONDS = 300.0


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


def open_run(server, run_id: str, con, digest: str = "", max_duration: float = 0.0) -> int:
    """A fresh frontier for ``run_id``: earlier runs' queue, filter and items are dropped.
    ``max_duration``: the crawlers stop fetching that many seconds from now, published as
    a time on Redis's clock (every crawler measures what is left of it there; 0: when the
    crawl is done)."""
    reset(server)
    published = publish_state(con, server)
    stop_at = redis_time(server) + max_duration if max_duration else 0.0
    server.hset(key("run"), mapping={"run_id": run_id, "state": "open", "sources": digest,
                                     "opened_at": datetime.now(UTC).isoformat(),
                                     "stop_at": repr(stop_at)})  # fmt: skip
    return published


def _live_workers(server) -> list[str]:
    workers = [w.decode() for w in server.smembers(key("workers"))]
    return [w for w in workers if server.exists(key("worker", w))]


def _crawl_over(server) -> bool:
    """The crawlers declared the crawl finished and every live one has left; a crawler
    killed after that (its heartbeat lapsed) is not waited for."""
    return server.hget(key("run"), "done") == b"1" and not _live_workers(server)


class IngestLock:
    """One ingest per frontier: a key set if absent, with a time to live, refreshed while
    ingest runs; crawlers stop when it lapses (ingest is gone)."""

    def __init__(self, server, ttl: float):
        self.server, self.ttl = server, ttl
        self.token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._refreshed = 0.0

    def acquire(self) -> None:
        if not self.server.set(INGEST_KEY, self.token, nx=True, px=int(self.ttl * 1000)):
            holder = (self.server.get(INGEST_KEY) or b"?").decode()
            raise FrontierError(
                f"another `ingest --frontier` ({holder}) runs on this frontier; one at a "
                f"time (if it died, its lock lapses within {self.ttl:.0f} s)"
            )
        self._refreshed = time.monotonic()

    def refresh(self) -> None:
        if time.monotonic() - self._refreshed < 1.0:
            return
        if self.server.get(INGEST_KEY) != self.token.encode():
            raise FrontierError("lost the frontier's ingest lock (this ingest stalled for "
                                f"more than {self.ttl:.0f} s?): the run is not complete")  # fmt: skip
        self.server.pexpire(INGEST_KEY, int(self.ttl * 1000))
        self._refreshed = time.monotonic()

    def release(self) -> None:
        self.server.register_script(lua.UNLOCK)(keys=[INGEST_KEY], args=[self.token])


def _no_other_crawlers(server, timeout: float) -> None:
    """Refuse to open a run while crawlers of another run still work; wait a little for
    those of a finished run to leave."""
    deadline = time.monotonic() + 2 * timeout + 1
    while live := _live_workers(server):
        run = {k.decode(): v.decode() for k, v in server.hgetall(key("run")).items()}
        if run.get("done") != "1" or time.monotonic() > deadline:
            raise FrontierError(
                f"crawlers of run {run.get('run_id', '?')} still work on this frontier "
                f"({', '.join(sorted(live)[:5])}): let them finish or stop them first"
            )
        time.sleep(0.2)


def run_ingest(db_path: str | Path, url: str, sources: list[Source], crawl: dict | None = None,
               poll: float = 1.0, wait: float = WAIT_SECONDS,
               max_duration: float | None = None) -> dict:  # fmt: skip
    """Open a run on the frontier and write what the crawlers push until they are done;
    fail when no crawler has been alive for ``wait`` seconds before the crawl finished.
    With ``max_duration`` (seconds) the crawlers stop fetching then, and ingest ends once
    they have left and what they pushed is written: the run is 'stopped early'."""
    crawl = {**CRAWL_DEFAULTS, **(crawl or {})}
    server = connect(url, retries=False)
    timeout = float(crawl["frontier_timeout"])
    lock = IngestLock(server, max(120.0, 4 * timeout))
    lock.acquire()
    run_id = None
    try:
        _no_other_crawlers(server, timeout)
        with writer_lock(db_path), recorded_run(db_path, "crawl") as run:
            run_id = run.run_id
            _ingest(server, lock, run, db_path, sources, crawl, poll, wait, max_duration or 0.0)
        return {**run.summary, "run_id": run.run_id, "status": run.status}
    finally:
        try:
            if run_id is not None and server.hget(key("run"), "run_id") == run_id.encode():
                server.hset(key("run"), "state", "closed")
            lock.release()
        except Exception as err:  # noqa: BLE001 - do not hide what ended the run
            log.error("could not close the run on the frontier: %s", err)


def _ingest(server, lock, run, db_path, sources, crawl, poll: float, wait: float,
            max_duration: float = 0.0) -> None:  # fmt: skip
    from storage.health import health_row, record_health

    with connect_db(db_path) as con:
        record_sources(con, [source_row(s) for s in sources])
        published = open_run(server, run.run_id, con, sources_digest(sources), max_duration)
    # this process's own clock for its own limit: monotonic
    limit = time.monotonic() + max_duration if max_duration else 0.0
    # a crawler stopped at the limit finishes its downloads, then leaves
    grace = float(crawl["timeout"]) + 2 * float(crawl["frontier_timeout"])
    log.info("frontier run %s open: %d URLs of crawl state published", run.run_id, published)
    writer = DuckDBWriter(str(db_path), run.run_id, crawl["write_batch"],
                          crawl["write_seconds"])  # fmt: skip
    reports: list[dict] = []
    names = {s.name for s in sources}
    bad: Counter = Counter()  # refused entries by reason (crawlers/frontier/items.py)
    seen: set[str] = set()  # every crawler that joined this run
    alive_at, looked_at, gone, timed_out, stuck = time.monotonic(), 0.0, None, False, []
    try:
        while writer.error is None:
            lock.refresh()
            popped = server.lpop(ITEMS_KEY, POP_COUNT)
            if not popped:
                if _crawl_over(server) and not server.llen(ITEMS_KEY):
                    break
                now = time.monotonic()
                past = bool(limit) and now >= limit
                if now - looked_at >= poll or past:
                    looked_at = now
                    seen.update(w.decode() for w in server.smembers(key("workers")))
                    live = _live_workers(server)
                    if live:
                        alive_at = now
                    if past and not live and not server.llen(ITEMS_KEY):
                        # every crawler left and what they pushed is written
                        timed_out = not _crawl_over(server)
                        if not seen:
                            gone = _no_crawler(now - alive_at)
                        break
                    if past and now >= limit + grace + wait:  # crawlers that do not stop
                        stuck = sorted(live)
                        break
                    if not past and not live and now - alive_at > wait:
                        gone = _no_crawler(wait)
                        break
                time.sleep(poll / 10)
                continue
            for data in popped:
                try:
                    item = loads(data, run.run_id, names)
                except BadItem as err:
                    bad[err.reason] += 1
                    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                    log.warning("refused an item from the frontier (%s): %.200s", err, text)
                    writer.process_item(Rejection("crawl", "bad_frontier_item", str(err)))
                    continue
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
        "refused": sum(r.get("refused", 0) for r in reports),
        "bad_items": sum(bad.values()),
        "bad_items_by_reason": dict(bad),
        "state_published": published,
        **counts.as_dict(),
    }
    lost = sorted(seen - {str(r.get("worker")) for r in reports} - set(stuck))
    if lost:  # killed, or its closing report was lost: its health counts are missing
        run.summary["lost_crawlers"] = lost
        log.warning("crawlers left without a closing report: %s", ", ".join(lost))
    stopped = [r for r in reports if r.get("finish_reason") not in ("finished", "max_duration")]
    if timed_out or stuck:
        run.status = "stopped early"
        run.summary["stopped_early"] = {"reason": "max_duration", "requests_left": _left(server)}
    # items of another run (a crawler of an earlier run still pushing) are only counted:
    # this run crawls those pages itself
    failing = Counter({k: n for k, n in bad.items() if k != "other_run"})
    if bad["other_run"]:
        log.warning("ignored %d items of another run (a crawler of an earlier run still "
                    "pushing?)", bad["other_run"])  # fmt: skip
    if writer.error:
        run.summary["not_written"] = writer.not_written
        run.fail(writer.error)
    elif gone or stuck or stopped or failing or run.summary["refused"] or (lost and timed_out):
        why = [gone] if gone else []
        if stuck:
            why.append(f"crawlers still running {grace + wait:.0f} s after the time limit: "
                       f"{', '.join(stuck)} (what they push now is not written; stop them)")  # fmt: skip
        if stopped:
            why.append("crawlers stopped before the crawl was finished: " + ", ".join(
                f"{r.get('worker')} ({r.get('finish_reason')})" for r in stopped))  # fmt: skip
        if lost and timed_out:
            why.append("crawlers left without a closing report (killed?): " + ", ".join(lost))
        if failing:
            why.append(refused_line(failing))
        if run.summary["refused"]:
            why.append(f"the crawlers refused {run.summary['refused']} queue entries (not "
                       "requests this crawl could have queued; their logs say why)")  # fmt: skip
        run.fail("; ".join(why))
    rows = [health_row(run.run_id, s.name, health[s.name][0],
                       counts.by_source.get(s.name, {}), health[s.name][1])
            for s in sources]  # fmt: skip
    with connect_db(db_path) as con:
        record_health(con, rows)


def _no_crawler(seconds: float) -> str:
    return (f"no crawler alive for {seconds:.0f} s and the crawl is not finished: start "
            "`narrascope crawl --frontier URL` on the crawl hosts (the next run crawls what "
            "is left)")  # fmt: skip


def _left(server) -> int:
    """Requests queued or in flight: what the next run crawls again."""
    inflight = server.scan_iter(match=key("inflight", "*"), count=1000)
    return int(server.zcard(key("requests"))) + sum(int(server.hlen(k)) for k in inflight)


#: how the ingest's error line names each kind of refused entry
REFUSED = {"not_json": "not JSON", "malformed": "not a narrascope item",
           "other_run": "of another run", "bad_warc": "with a WARC pointer not of this run",
           "other_source": "of a source not in ingest's sources"}  # fmt: skip


def refused_line(bad: Counter) -> str:
    """One line: how many entries of the items list were refused, and why."""
    kinds = ", ".join(f"{n} {REFUSED.get(reason, reason)}" for reason, n in bad.most_common())
    total = sum(bad.values())
    return (f"refused {total} frontier item{'s' * (total != 1)} ({kinds}; recorded as "
            "rejections 'bad_frontier_item'); everything else was written")  # fmt: skip


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
