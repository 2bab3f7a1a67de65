"""A scrapy extension that stops a time-boxed crawl in time to process what it fetched
(`narrascope run --max-duration`; the arithmetic is in pipeline/deadline.py).

Settings: NARRASCOPE_CRAWL_STOP_AT, the wall-clock time (``time.time()``) at which the crawl
must stop if it fetched nothing more; NARRASCOPE_SECONDS_PER_PAGE, how much earlier each page
fetched moves it. Once past, the spider is closed with the reason ``max_duration``: responses
being received finish and are stored; requests still waiting, in the scheduler, in the
downloader's per-site queues (scrapy would send those before closing) or in a middleware (a
retry waiting out its backoff, a page waiting for its site's robots.txt), are dropped and left
for the next run: their pages have no crawl state yet, so the next run requests them again.
"""

from __future__ import annotations

import logging
import time

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.defer import deferred_from_coro

from crawlers.once import PAGE_CALLBACKS  # listings count by the pages they deliver
from storage.records import PageRecord

log = logging.getLogger(__name__)

REASON = "max_duration"
CHECK_EVERY = 0.5  # seconds
#: request.meta flag of a request dropped at the time limit (not fetched: a shared crawl's
#: scheduler leaves it in flight, to go back on the queue; crawlers/frontier/scheduler.py)
DROPPED = "narrascope_dropped_for_time"


class StoppedForTime(IgnoreRequest):
    """A request dropped because the crawl stopped at its time limit: not a failure (the
    spider records nothing for it; the next run requests it again)."""


class CrawlDeadline:
    def __init__(self, crawler, stop_at: float, per_page: float):
        self.crawler = crawler
        self.stop_at = stop_at
        # measured on the monotonic clock from here on: a wall clock set back or forward
        # while the crawl runs does not move its stop
        self.stop_mono = time.monotonic() + stop_at - time.time()
        self.per_page = per_page
        self.responses = 0  # received: each may be a document, once the spider has read it
        self.page_items = 0  # documents the spider made of them (an API page holds many)
        self.stopped = False
        self.task = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)
        crawler.signals.connect(self.scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler):
        stop_at = crawler.settings.getfloat("NARRASCOPE_CRAWL_STOP_AT")
        if not stop_at:
            raise NotConfigured
        return cls(crawler, stop_at, crawler.settings.getfloat("NARRASCOPE_SECONDS_PER_PAGE"))

    @property
    def pages(self) -> int:
        """Documents to process, counted as early as possible: responses waiting for the
        spider count before their items do."""
        return max(self.responses, self.page_items)

    def must_stop(self, now: float | None = None) -> bool:
        """``now``: on the monotonic clock."""
        return (now or time.monotonic()) >= self.stop_mono - self.per_page * self.pages

    def opened(self, spider) -> None:
        self.task = create_looping_call(self.check)
        self.task.start(CHECK_EVERY, now=True)

    def received(self, response, request, spider) -> None:
        """A page that may be new or changed (not a 304, robots.txt or a listing)."""
        if response.status == 200 and getattr(request.callback, "__name__", "") in PAGE_CALLBACKS:
            self.responses += 1

    def scraped(self, item, spider) -> None:
        if isinstance(item, PageRecord):
            self.page_items += 1

    def check(self) -> None:
        if self.stopped:  # requests that were inside a middleware reach the queues later
            self.crawler.stats.inc_value("narrascope/dropped_for_time", self.drop_queued())
            return
        if not self.must_stop():
            return
        self.stopped = self.crawler.narrascope_stopped_for_time = True
        log.warning(
            "crawl stopped to leave time for processing %d pages within --max-duration",
            self.pages,
        )
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=REASON))
        self.crawler.stats.inc_value("narrascope/dropped_for_time", self.drop_queued())

    def drop_queued(self) -> int:
        """Fail the requests waiting in the downloader's per-site queues with StoppedForTime.
        Scrapy hands the downloader up to CONCURRENT_REQUESTS at once and, closing, waits for
        all of them; at one site with a crawl delay that is minutes."""
        dropped = 0
        for slot in self.crawler.engine.downloader.slots.values():
            while slot.queue:
                request, waiting = slot.queue.popleft()
                slot.transferring.discard(request)  # never started (crawlers/downloader.py)
                request.meta[DROPPED] = True
                waiting.errback(StoppedForTime(f"the crawl stopped at its time limit: {request}"))
                dropped += 1
        return dropped

    def closed(self, spider, reason) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()


class DropAfterStop:
    """A downloader middleware that drops every request reaching it once the crawl stopped
    for time: those that were waiting out a retry's backoff or their site's robots.txt when
    the queues were emptied. It sits after the backoff and the robots check."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getfloat("NARRASCOPE_CRAWL_STOP_AT"):
            raise NotConfigured
        return cls(crawler)

    def process_request(self, request, spider=None):
        drop_if_stopped(self.crawler, request)


def drop_if_stopped(crawler, request) -> None:
    """Raise StoppedForTime, marking the request dropped, once the crawl stopped for time."""
    if getattr(crawler, "narrascope_stopped_for_time", False):
        crawler.stats.inc_value("narrascope/dropped_for_time")
        request.meta[DROPPED] = True
        raise StoppedForTime(f"the crawl stopped at its time limit: {request}")
