"""One download delay per host across every crawler of a frontier: each request reserves the
next start time for its host in Redis (from Redis's clock, so hosts' clocks do not matter) and
waits for it. Scrapy's own delay still spaces each crawler's requests; this keeps N crawlers
from multiplying a site's rate by N."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.utils.asyncio import sleep

from crawlers.frontier import key

# now = Redis's clock (ms); the host's next start becomes max(now, its next start) + delay
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], start + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 60000)
return start - now
"""


class SharedPoliteness:
    """Downloader middleware: waits for the host's shared slot (the source's crawl_delay,
    else DOWNLOAD_DELAY); hosts without a delay pass straight through."""

    def __init__(self, server, default_delay: float, delays: dict[str, float], crawler=None):
        self.server, self.crawler = server, crawler
        self.default_delay = default_delay
        self.delays = delays  # host -> seconds (scrapy's DOWNLOAD_SLOTS)
        self._reserve = server.register_script(_RESERVE)

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy_redis.connection import from_settings

        settings = crawler.settings
        slots = settings.getdict("DOWNLOAD_SLOTS")
        delays = {host: float(slot.get("delay", 0)) for host, slot in slots.items()}
        return cls(from_settings(settings), settings.getfloat("DOWNLOAD_DELAY"), delays, crawler)

    def slot_for(self, host: str) -> str:
        """The slot a host's requests share: its source's domain (subdomains included)."""
        from crawlers.sources import configured_domain

        return configured_domain(host, self.delays) or host

    def delay_for(self, host: str) -> float:
        """The source's crawl_delay for its domains and their subdomains, else the default."""
        return self.delays.get(self.slot_for(host), self.default_delay)

    def reserve(self, host: str) -> float:
        """Take the host's next slot (one for a source's domain and its subdomains); seconds
        to wait for it (0 for hosts without a delay)."""
        delay = self.delay_for(host)
        if delay <= 0:
            return 0.0
        slot = self.slot_for(host)
        return self._reserve(keys=[key("polite", slot)], args=[int(delay * 1000)]) / 1000

    async def process_request(self, request, spider=None):
        wait = self.reserve((urlsplit(request.url).hostname or "").lower())
        if wait > 0:
            await sleep(wait)
            if self.crawler is not None:  # the crawl stopped at its time limit meanwhile
                from crawlers.deadline import drop_if_stopped

                drop_if_stopped(self.crawler, request)
        return None
