"""Downloader middleware that keeps crawls off private, loopback and link-local addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

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
    resolves to a non-public address, unless ``request.meta['allow_private']`` is set by a
    source that explicitly allows it."""

    def process_request(self, request, spider=None):
        if request.meta.get("allow_private"):
            return None
        host = urlsplit(request.url).hostname or ""
        if not is_public_host(host):
            raise PrivateAddressRefused(f"refused non-public address for {host} ({request.url})")
        return None
