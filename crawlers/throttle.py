"""AutoThrottle that keeps a source's ``crawl_delay``.

Scrapy's AutoThrottle moves every slot's delay between ``DOWNLOAD_DELAY`` and
``AUTOTHROTTLE_MAX_DELAY`` by the latency it sees, whatever delay the slot was configured
with: a source's ``crawl_delay = 2`` came down to the default 0.5 s after its first response,
and ``crawl_delay = 0`` went up to it. Here a slot with a configured delay (DOWNLOAD_SLOTS,
one per source domain: crawlers/runner.py, crawlers/downloader.py) takes that delay as its
minimum instead, and so is a site's robots.txt Crawl-delay (crawlers/downloader.py); a slow
site still slows it down further. (settings: ``EXTENSIONS``, in place
of scrapy's own.)
"""

from __future__ import annotations

from scrapy.extensions.throttle import AutoThrottle


class SourceDelayThrottle(AutoThrottle):
    def _spider_opened(self, spider) -> None:
        super()._spider_opened(spider)
        slots = self.crawler.settings.getdict("DOWNLOAD_SLOTS")
        self.floors = {key: float(s["delay"]) for key, s in slots.items() if "delay" in s}
        self._floor = None

    def _get_slot(self, request, spider):
        key, slot = super()._get_slot(request, spider)  # the key: the request's download_slot
        # read by _adjust_delay, called next: the source's crawl_delay, or its robots.txt's
        robots = getattr(self.crawler.engine.downloader, "robots_delays", {}).get(key)
        floors = [f for f in (self.floors.get(key), robots) if f is not None]
        self._floor = max(floors) if floors else None
        return key, slot

    def _adjust_delay(self, slot, latency: float, response) -> None:
        if self._floor is None:
            return super()._adjust_delay(slot, latency, response)
        saved = self.mindelay, self.maxdelay
        # the floor, and a ceiling no lower (AUTOTHROTTLE_MAX_DELAY, 60 s, would cut a
        # crawl_delay of 90 s to 60)
        self.mindelay, self.maxdelay = self._floor, max(self.maxdelay, self._floor)
        try:
            super()._adjust_delay(slot, latency, response)
        finally:
            self.mindelay, self.maxdelay = saved
