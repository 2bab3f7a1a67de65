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
"""

from __future__ import annotations

from collections import deque
from time import monotonic

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

    def get_slot_key(self, request) -> str:
        key = super().get_slot_key(request)
        if request.meta.get(self.DOWNLOAD_SLOT) is None and key not in self.per_slot_settings:
            return configured_domain(key, self.per_slot_settings) or key
        return key

    def _get_slot(self, request, spider=None):
        key, slot = super()._get_slot(request)
        if not isinstance(slot.queue, _StartingQueue):
            slot.queue = _StartingQueue(slot.queue, slot.transferring)
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
