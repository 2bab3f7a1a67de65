"""Scrapy's downloader with its per-site concurrency held.

Scrapy 2.19 starts a download as a scheduled coroutine and counts the request as
"transferring" only once that coroutine first runs. Its queue loop (``while slot.queue and
slot.free_transfer_slots() > 0``) runs before any of them has, so with no download delay it
starts every request queued for a site at once: a site configured for 2 saw 6 or 7 in
flight (tests/crawlers/test_concurrency.py). With a delay the loop starts one request per
turn and the count catches up, which is why the default configuration never showed it.

Here a request counts as transferring from the moment it leaves the slot's queue. Scrapy's
own ``_download`` adds it again (a set: no change) and removes it when the download ends,
whatever the outcome, so nothing is counted twice or left behind.

A source's ``crawl_delay`` is a slot of its own per allowed domain (DOWNLOAD_SLOTS): its
subdomains' requests go to that slot too (``allowed_domains`` includes subdomains), whose
delay AutoThrottle keeps as its floor (crawlers/throttle.py).

A site's robots.txt ``Crawl-delay`` for our product token raises its slot's delay to at
least that many seconds (capped by ``[crawl] max_robots_delay``, as Nutch's
``fetcher.max.crawl.delay``), with no jitter below it; AutoThrottle keeps it as a floor too.
"""

from __future__ import annotations

from collections import deque
from time import monotonic

from scrapy import signals
from scrapy.core.downloader import Downloader
from scrapy.utils.asyncio import call_later

from crawlers.sources import configured_domain


class _StartingQueue(deque):
    """A slot's queue that marks each request it hands out as transferring, and holds them
    all until ``held_until`` (monotonic), where the site asked for a pause (Retry-After)."""

    def __init__(self, items, transferring: set):
        super().__init__(items)
        self.transferring = transferring
        self.held_until = 0.0

    def popleft(self):
        request, deferred = super().popleft()
        self.transferring.add(request)
        return request, deferred


class SlotBoundDownloader(Downloader):
    """Scrapy's Downloader whose slots hold their concurrency with no download delay too
    (settings: ``DOWNLOADER = "crawlers.downloader.SlotBoundDownloader"``), and whose
    configured slots take their domains' subdomains."""

    def __init__(self, crawler):
        super().__init__(crawler)
        #: slot key -> the seconds its sites' robots.txt asked for (Crawl-delay), capped
        self.robots_delays: dict[str, float] = {}
        self._robots_cap = self.settings.getfloat("NARRASCOPE_MAX_ROBOTS_DELAY", 30.0)
        self._robots_agent = self.settings.get("ROBOTSTXT_USER_AGENT") or self.settings.get(
            "USER_AGENT"
        )
        crawler.signals.connect(self._robots_parsed, signal=signals.robots_parsed)

    def _robots_parsed(self, robotparser, request) -> None:
        """The robots.txt of ``request``'s site was read: keep its Crawl-delay for our product
        token (the group robots.txt's rules come from) as its slot's least delay."""
        reader = getattr(robotparser, "crawl_delay", None)
        delay = reader(self._robots_agent) if reader and self._robots_cap > 0 else None
        if not delay or not delay > 0:  # none, 0, or what protego could not read
            return
        delay = min(float(delay), self._robots_cap)
        key = self.get_slot_key(request)
        if delay > self.robots_delays.get(key, 0.0):
            self.robots_delays[key] = delay
            if key in self.slots:
                self._hold(self.slots[key], delay)

    @staticmethod
    def _hold(slot, delay: float) -> None:
        if slot.delay < delay or slot.jitter:
            slot.delay, slot.jitter = max(slot.delay, delay), 0.0

    def get_slot_key(self, request) -> str:
        key = super().get_slot_key(request)
        if request.meta.get(self.DOWNLOAD_SLOT) is None and key not in self.per_slot_settings:
            return configured_domain(key, self.per_slot_settings) or key
        return key

    def _get_slot(self, request, spider=None):
        key, slot = super()._get_slot(request)
        if not isinstance(slot.queue, _StartingQueue):
            slot.queue = _StartingQueue(slot.queue, slot.transferring)
        if key in self.robots_delays:  # a slot made again after an idle minute keeps it
            self._hold(slot, self.robots_delays[key])
        return key, slot

    def _process_queue(self, slot) -> None:
        """Scrapy's, but nothing leaves a slot held for a Retry-After until it has run out
        (crawlers/safety.py sets ``held_until``): the slot's raised delay alone let the next
        pages go at half of it, jittered, or sooner once AutoThrottle had lowered it."""
        wait = getattr(slot.queue, "held_until", 0.0) - monotonic()
        if wait > 0 and not slot.latercall:
            slot.latercall = call_later(wait, self._latercall, slot)
            return
        super()._process_queue(slot)
