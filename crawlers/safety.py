"""Downloader middleware that keeps crawls off private, loopback and link-local addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest


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
