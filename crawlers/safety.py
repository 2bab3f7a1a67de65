"""Downloader middlewares for safe, polite crawling: private addresses refused (after
redirects too), redirect loops cut and recorded, retries that back off."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.asyncio import sleep

#: request meta key: monotonic time before which a retried request must not be sent
NOT_BEFORE = "narrascope_not_before"
_NOT_BEFORE = NOT_BEFORE  # the name it had first


class PrivateAddressRefused(IgnoreRequest):
    """The request resolves to an address that this source may not reach."""


def is_public_host(host: str) -> bool:
    """True when every address the host resolves to is globally routable."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return True  # unresolvable: let the downloader report the DNS error itself
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return False
    return True


class PrivateAddressMiddleware:
    """Refuse requests (redirect targets included: they pass through here again) whose host
    resolves to a non-public address, unless the host belongs to a source that explicitly
    allows private addresses (the spider's ``private_hosts``, which also covers the
    robots.txt requests scrapy makes for them) or ``request.meta['allow_private']`` is set."""

    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _allowed_hosts(self) -> tuple[str, ...]:
        spider = getattr(self.crawler, "spider", None)
        return tuple(getattr(spider, "private_hosts", ()))

    def process_request(self, request, spider=None):
        host = (urlsplit(request.url).hostname or "").lower()
        if request.meta.get("allow_private"):
            return None
        if any(host == d or host.endswith("." + d) for d in self._allowed_hosts()):
            return None
        if not is_public_host(host):
            raise PrivateAddressRefused(f"refused non-public address for {host} ({request.url})")
        return None


class RedirectLoop(IgnoreRequest):
    """A redirect leads back to a URL already visited on the way."""


class LoopSafeRedirectMiddleware(RedirectMiddleware):
    """Scrapy's redirect handling, cutting loops where they close. Redirect targets bypass
    the duplicate filter (loops are cut here, chains by REDIRECT_MAX_TIMES): otherwise a
    target already requested in this run is dropped silently and the listed URL ends with
    no page and no recorded reason."""

    def _redirect(self, redirected, request, reason):
        visited = [*request.meta.get("redirect_urls", []), request.url]
        if redirected.url in visited:
            raise RedirectLoop(f"redirect loop: {' -> '.join([*visited, redirected.url])}")
        followed = super()._redirect(redirected, request, reason)
        followed.dont_filter = True
        return followed


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float:
    """Seconds a ``Retry-After`` header asks for: delay-seconds or an HTTP-date (RFC 9110
    10.2.3); 0 when absent, malformed or in the past."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, with backoff: each retry doubles the delay of the failing site's
    download slot (from 1 s, at most ``max_delay``), counted from the failure rather than from
    when the failing request was sent. A 429/503 ``Retry-After`` (seconds or a date) of up to
    ``max_delay`` seconds is a hard floor for that retry: the slot delay is jittered
    (``RANDOMIZE_DOWNLOAD_DELAY``) and could otherwise come in under it.

    Every answer that is not retried halves a raised delay again, down to the slot's own
    (not while a Retry-After the site sent still runs):
    scrapy keys slots by host name, so without that one dead URL would slow every source on
    that host (channels on t.me, sections of one site) for the rest of the run. (AutoThrottle,
    where on, also adjusts the delay.)"""

    max_delay = 60.0

    def __init__(self, settings):
        super().__init__(settings)
        self._own_delay: dict[str, float] = {}  # slot key -> its delay before any backoff
        self._held: dict[str, float] = {}  # slot key -> until when its Retry-After holds

    async def process_request(self, request, spider=None):
        not_before = request.meta.get(NOT_BEFORE)
        if not_before is not None and (wait := not_before - monotonic()) > 0:
            await sleep(wait)
        return None

    def process_response(self, request, response, spider=None):
        retried = super().process_response(request, response)
        if retried is not response:
            wait = self._back_off(request, response.headers.get("Retry-After"))
            if isinstance(retried, Request):
                retried.meta[NOT_BEFORE] = monotonic() + wait
        elif response.status not in self.retry_http_codes:  # an answer, not a failure
            self._recover(request)
        return retried

    def _slot(self, request):
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        return key, downloader.slots.get(key)

    def _recover(self, request) -> None:
        """Halve a delay raised by backoff, down to the slot's own."""
        key, slot = self._slot(request)
        own = self._own_delay.get(key)
        if slot is None or own is None or monotonic() < self._held.get(key, 0.0):
            return  # a site that asked for a pause (Retry-After) gets it in full
        slot.delay = max(own, slot.delay / 2)
        if slot.delay <= own:
            del self._own_delay[key]

    def process_exception(self, request, exception, spider=None):
        retried = super().process_exception(request, exception)
        if retried is not None:
            self._back_off(request)
        return retried

    def _back_off(self, request, retry_after: bytes | None = None) -> float:
        """Slow the request's slot down; return the seconds Retry-After asked for (0 if none)."""
        asked = min(self.max_delay, retry_after_seconds(retry_after))
        key, slot = self._slot(request)
        if slot is None:
            return asked
        self._own_delay.setdefault(key, slot.delay)
        if asked:
            self._held[key] = max(self._held.get(key, 0.0), monotonic() + asked)
        slot.delay = min(self.max_delay, max(1.0, 2 * slot.delay, asked))
        slot.lastseen = monotonic()
        return asked
