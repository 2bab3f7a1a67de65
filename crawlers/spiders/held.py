"""The checks of pages fetched before, held back until their source has asked for every page
never read (crawlers/spiders/listed.py asks which to hold).

On a site that answers only a few requests a run (429 to the rest), the checks a listing asks
for took the answers ahead of the pages another listing of the site names, run after run: a
section's stored stories were checked and the next section's stories never read. Scrapy's
request priority cannot put them last: the engine hands requests on to the downloader's
per-site queues, first come first served, as soon as they are asked for. So they stay here
until nothing of their source is queued, downloading or being read (the source asks for no
more new pages then), looked at every ``CHECK_EVERY`` seconds, and all of them once the crawl
is idle. A source's checks do not wait for another source's pages: a slow site (a long crawl
delay) reading new pages holds back only its own.

A held check is charged to its source's page budget when it goes out, not when its listing
asks for it: the pages never read that another listing of the source names come first (a
section answered first had spent the budget on its checks, and the next section's new
stories waited for a later run). They go out those fetched longest ago first, as many as the
budget has left; the rest wait for a later run, their state untouched (so they come first
then)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from scrapy import signals
from scrapy.core.scheduler import Scheduler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.asyncio import create_looping_call

CHECK_EVERY = 0.25  # seconds


class CountingScheduler(Scheduler):
    """Scrapy's scheduler, counting the requests it holds per source (``meta["source"]``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.by_source: Counter[str] = Counter()

    @classmethod
    def from_crawler(cls, crawler):
        scheduler = super().from_crawler(crawler)
        crawler.narrascope_scheduler = scheduler  # HeldChecks reads its counts
        return scheduler

    def enqueue_request(self, request) -> bool:
        queued = super().enqueue_request(request)
        if queued:
            self.by_source[request.meta.get("source")] += 1
        return queued

    def next_request(self):
        request = super().next_request()
        if request is not None:
            self.by_source[request.meta.get("source")] -= 1
        return request


class HeldChecks:
    """Per source, the check requests held back; ``hold`` one, and they are asked for once
    their source is quiet (or the crawl idle), each as ``spend(source)`` allows (the page
    budget)."""

    def __init__(self, crawler, spend: Callable[[object], bool]):
        self.crawler = crawler
        self.spend = spend
        self.held: dict[str, list] = {}  # source name -> [(last fetched, order, source, request)]
        self.task = None
        # set by the spider once every entry point is queued: until then a source with
        # nothing in flight may still have listings to come
        self.started = False
        crawler.signals.connect(self.idle, signal=signals.spider_idle)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    def hold(self, source, request, fetched) -> None:
        """Hold ``request``, a check of ``source``'s page last fetched at ``fetched``."""
        entries = self.held.setdefault(source.name, [])
        entries.append((fetched, len(entries), source, request))
        if self.task is None:
            self.task = create_looping_call(self.release_quiet)
            self.task.start(CHECK_EVERY, now=False)

    def _busy(self) -> set[str]:
        """The sources with a request queued, downloading or being read."""
        engine = self.crawler.engine
        scheduler = getattr(self.crawler, "narrascope_scheduler", None)
        counts = getattr(scheduler, "by_source", None)
        if counts is None:  # another scheduler: every source counts as busy until idle
            return set(self.held)
        busy = {name for name, n in counts.items() if n > 0}
        slot = engine.scraper.slot
        waiting = [r for _, r, _ in slot.queue] + list(slot.active) if slot else []
        busy.update(r.meta.get("source") for r in [*engine.downloader.active, *waiting])
        return busy

    def release_quiet(self) -> None:
        if not self.held or not self.started or self.crawler.engine.spider is None:
            return
        busy = self._busy()
        for source in [s for s in self.held if s not in busy]:
            self._release(source)

    def _release(self, name: str) -> None:
        for _, _, source, request in sorted(self.held.pop(name), key=lambda e: e[:2]):
            if self.spend(source):
                self.crawler.engine.crawl(request)
            else:  # the budget is spent: checked first next run (its state is untouched)
                self.crawler.stats.inc_value("narrascope/held_checks_left")

    def idle(self) -> None:
        if self.held:
            for source in list(self.held):
                self._release(source)
            raise DontCloseSpider

    def closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
