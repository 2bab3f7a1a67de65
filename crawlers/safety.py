"""Downloader middlewares for safe, polite crawling: private addresses and schemes other than
http(s) refused (after redirects too, and again where the connection resolves a name),
redirect loops cut and recorded, retries that back off."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from urllib.parse import urljoin, urlsplit

from scrapy import Request, signals
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.asyncio import sleep
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.error import DNSLookupError
from w3lib.url import safe_url_string

from crawlers.headers import MARK as HEADERS_MARK
from crawlers.headers import limit_response_headers
from crawlers.sources import host_matches, is_web_url
from storage.crawlstate import canonical_or_none

limit_response_headers()  # every crawl loads this module: headers capped as bodies are

#: request meta key: monotonic time before which a retried request must not be sent
NOT_BEFORE = "narrascope_not_before"
_NOT_BEFORE = NOT_BEFORE  # the name it had first


class PrivateAddressRefused(IgnoreRequest):
    """The request resolves to an address that this source may not reach."""


class SchemeRefused(IgnoreRequest):
    """The request is not for http(s): a listing pointed at ``file:``, ``ftp:``, ``data:``..."""


def is_public_address(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


def proxy_hosts() -> set[str]:
    """Hosts of the proxies configured in the environment (``http_proxy``, ...): the operator's,
    reached whatever they resolve to."""
    from urllib.request import getproxies

    return {
        (urlsplit(url if "://" in url else "//" + url).hostname or "").lower()
        for scheme, url in getproxies().items()
        if scheme != "no" and url
    } - {""}


class PrivateAnswer(DNSLookupError):
    """PublicAddressResolver refused a lookup's non-public answer."""


class PublicAddressResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing a non-public answer for any host that no source
    allows private addresses for (``NARRASCOPE_PRIVATE_HOSTS``) and that is no configured
    proxy's. It is the lookup the connection itself uses, so no answer can reach a socket
    unchecked: not a name that failed to resolve when PrivateAddressMiddleware looked it up
    and answers 169.254.169.254 a moment later, nor one whose answer changed in between."""

    private_hosts: tuple[str, ...] = ()
    proxies: frozenset[str] = frozenset()

    @classmethod
    def from_crawler(cls, crawler, reactor):
        resolver = super().from_crawler(crawler, reactor)
        hosts = {h.lower() for h in crawler.settings.getlist("NARRASCOPE_PRIVATE_HOSTS")}
        resolver.private_hosts = tuple(sorted(hosts))
        resolver.proxies = frozenset(proxy_hosts())  # by name exactly, no subdomains
        resolver.refused = {}  # host -> the answer refused: the connection's error says neither
        return resolver

    def getHostByName(self, name, timeout=()):
        lookup = super().getHostByName(name, timeout)
        lookup.addCallback(self._refuse_private, name)
        return lookup

    def _refuse_private(self, address: str, name) -> str:
        host = (name.decode("ascii", "replace") if isinstance(name, bytes) else name).lower()
        allowed = host.rstrip(".") in self.proxies or host_matches(host, self.private_hosts)
        if not allowed and not is_public_address(address):
            self.refused[host] = address
            raise PrivateAnswer(f"refused non-public address {address} for {host}")
        return address


def refused_answer(host: str | None, forget: bool = False) -> str | None:
    """The non-public address PublicAddressResolver refused for ``host`` in this crawl, if any
    (and, with ``forget``, no longer: a later failure of its own is then a DNS error): a
    connection it stopped fails with a plain DNS error ("no results")."""
    from twisted.internet import reactor

    refused = getattr(getattr(reactor, "resolver", None), "refused", {})
    key = (host or "").lower()
    return refused.pop(key, None) if forget else refused.get(key)


async def resolve(host: str) -> str | None:
    """``host``'s address through the reactor's resolver (PublicAddressResolver in a crawl:
    cached, in a thread, within DNS_TIMEOUT), or None where it does not resolve. Raises
    PrivateAnswer where that resolver refused the answer."""
    from twisted.internet import reactor

    try:
        return await maybe_deferred_to_future(reactor.resolve(host))
    except PrivateAnswer:
        raise
    except DNSLookupError:
        return None


class PrivateAddressMiddleware:
    """Refuse requests that are not http(s), and requests (redirect targets included: they
    pass through here again) whose host resolves to a non-public address, unless the request's
    own source allows private addresses for that host (the spider's ``private_hosts_for``;
    a request of no source, such as the robots.txt requests scrapy makes, goes by the
    allowances that cover the host it was first made for, so a robots.txt redirect cannot
    reach another source's private host) or ``request.meta['allow_private']`` is set. A
    host is read without its trailing dot (``127.0.0.1.``, which no address parser reads,
    went to a proxy as a name).

    Refused here, a request is recorded as ``private_address``. The check that cannot be
    raced is PublicAddressResolver's, on the lookup the connection makes."""

    def __init__(self, crawler=None):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _allowed_hosts(self, request) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(hosts this request may reach at private addresses, hosts any source may)."""
        spider = getattr(self.crawler, "spider", None)
        every = tuple(getattr(spider, "private_hosts", ()))
        by_source = getattr(spider, "private_hosts_for", None)
        source = request.meta.get("source")
        if source is None:  # robots.txt, and where it redirects: by the host it was made for
            first = (request.meta.get("redirect_urls") or [request.url])[0]
            origin = (urlsplit(first).hostname or "").lower()
            if by_source is not None:
                return tuple(by_source(None, origin)), every
            return tuple(h for h in every if host_matches(origin, (h,))), every
        if by_source is not None:
            return tuple(by_source(source)), every
        return every, every

    async def process_request(self, request, spider=None):
        # scrapy's handlers for other schemes are off too (crawlers.runner.scrapy_settings): a
        # file:// URL in a hostile sitemap would read the crawl machine's own files, whole
        parts = urlsplit(request.url)
        if not is_web_url(request.url):
            raise SchemeRefused(f"refused {parts.scheme or 'no'} scheme ({request.url[:200]})")
        host = (parts.hostname or "").lower().rstrip(".")  # "127.0.0.1." is 127.0.0.1
        own, every = self._allowed_hosts(request)
        if request.meta.get("allow_private") or host_matches(host, own):
            return None
        # the resolver lets another source's allowed host answer a private address when
        # connecting: for such a host this check is the only one, so a failed lookup refuses
        if not await _is_public(host, unresolved=not host_matches(host, every)):
            raise PrivateAddressRefused(f"refused non-public address for {host} ({request.url})")
        return None


async def _is_public(host: str, unresolved: bool = True) -> bool:
    """False where ``host`` is, or resolves to, a non-public address; ``unresolved`` where it
    does not resolve (True: the downloader reports the DNS error itself)."""
    try:
        return is_public_address(host)
    except ValueError:  # a name, or a form of address only the resolver reads (0x7f.1)
        pass
    try:
        address = await resolve(host)
    except PrivateAnswer:
        return False
    return unresolved if address is None else is_public_address(address)


class RedirectLoop(IgnoreRequest):
    """A redirect leads back to a URL already visited on the way."""


_REDIRECTS = {301, 302, 303, 307, 308}


class _CutLoops:
    """Redirects (HTTP or meta refresh) cutting loops where they close. Redirect targets
    bypass the duplicate filter (loops are cut here, chains by REDIRECT_MAX_TIMES): otherwise
    a target already requested in this run is dropped silently and the listed URL ends with
    no page and no recorded reason. A target at another address is asked for without the
    listed address's validators: an ETag or a date is the server's for one address, and a
    target whose page had the same ETag (a revision number) answered 304 and was never
    stored."""

    def _redirect(self, redirected, request, reason):
        visited = [*request.meta.get("redirect_urls", []), request.url]
        if redirected.url in visited:
            raise RedirectLoop(f"redirect loop: {' -> '.join([*visited, redirected.url])}")
        followed = super()._redirect(redirected, request, reason)
        followed.dont_filter = True
        if canonical_or_none(followed.url) != canonical_or_none(request.url):
            for name in ("If-None-Match", "If-Modified-Since"):
                followed.headers.pop(name, None)
        return followed


class LoopSafeRedirectMiddleware(_CutLoops, RedirectMiddleware):
    """Scrapy's redirect handling (3xx), cutting loops where they close (``_CutLoops``). A
    redirect to a scheme other than http(s) is refused as such (``unsupported_scheme``):
    scrapy hands the 3xx on, and it was recorded as "HttpError: Ignoring non-200 response"."""

    def process_response(self, request, response, spider=None):
        result = super().process_response(request, response, *([spider] if spider else []))
        if result is response and response.status in _REDIRECTS and not (
            request.meta.get("dont_redirect") or request.meta.get("handle_httpstatus_all")
            or response.status in request.meta.get("handle_httpstatus_list", ())
        ):  # fmt: skip
            location = response.headers.get("Location")
            target = urljoin(request.url, safe_url_string(location)) if location else ""
            if target and not is_web_url(target):
                raise SchemeRefused(f"refused {urlsplit(target).scheme or 'no'} scheme (a "
                                    f"redirect to {target[:200]})")  # fmt: skip
        return result


class LoopSafeMetaRefreshMiddleware(_CutLoops, MetaRefreshMiddleware):
    """Scrapy's ``<meta http-equiv="refresh">`` handling, cutting loops where they close: a
    page refreshing to itself, or two refreshing to each other, was dropped by the duplicate
    filter with no page and no recorded reason."""


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
    (``RANDOMIZE_DOWNLOAD_DELAY``) and could otherwise come in under it. Every other request
    to that site waits it out too (crawlers/downloader.py holds the slot).

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

    @classmethod
    def from_crawler(cls, crawler):
        middleware = super().from_crawler(crawler)
        crawler.signals.connect(middleware._pause_asked, signal=signals.response_downloaded)
        return middleware

    def _pause_asked(self, response, request, spider=None) -> None:
        """Hold the site's slot for a 429/503 Retry-After as soon as the answer arrives: the
        downloader hands out the slot's next request before the answer reaches
        process_response, and that request went at once."""
        if response.status not in (429, 503):
            return
        asked = min(self.max_delay, retry_after_seconds(response.headers.get("Retry-After")))
        key, slot = self._slot(request)
        if asked and slot is not None:
            self._held[key] = max(self._held.get(key, 0.0), monotonic() + asked)
            if hasattr(slot.queue, "held_until"):  # SlotBoundDownloader: the whole site waits
                slot.queue.held_until = self._held[key]

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
        if refused_answer(urlsplit(request.url).hostname):
            return None  # PublicAddressResolver refused its answer: no retry will differ
        if HEADERS_MARK in str(exception):  # headers without end: as a body past max_bytes
            return None
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
        if asked:  # its slot already held since the answer arrived (_pause_asked)
            self._held[key] = max(self._held.get(key, 0.0), monotonic() + asked)
        slot.delay = min(self.max_delay, max(1.0, 2 * slot.delay, asked))
        slot.lastseen = monotonic()
        return asked
