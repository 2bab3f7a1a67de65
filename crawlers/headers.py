"""A cap on the size of a response's headers.

scrapy's ``DOWNLOAD_MAXSIZE`` (our ``max_bytes``) counts the body only, and Twisted's HTTP
client, which reads the status line and headers, limits each line (16 KiB) but not their
number: a hostile server sending header lines without end grew the crawl's memory with them
(240 MB of headers took a crawl from 170 MB to 1.1 GB, and it stored the page). Headers past
``MAX_HEADER_BYTES`` fail the response instead, as a body past ``max_bytes`` does: the
connection is dropped and the page is recorded ``too_large``.

Neither offers a setting for it, so the parsers' ``lineReceived`` is wrapped, once, at import
(by crawlers/safety.py, which every crawl loads): scrapy's lenient parser, which a crawl uses,
and Twisted's own. Where they are not as this expects, a warning says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: far above what real sites send (tens of KiB, mostly cookies), far below what hurts
MAX_HEADER_BYTES = 1024 * 1024

#: in the failure's message, for crawlers/spiders/responses.py ``failure_reason``
MARK = "response headers grew past"


class HeadersTooLarge(Exception):
    """A response's status line and headers grew past ``MAX_HEADER_BYTES``."""


def _parsers() -> list[type]:
    """The response parsers a crawl uses: scrapy's lenient one (which replaces Twisted's
    ``lineReceived`` with a copy of its own) and Twisted's."""
    found = []
    try:
        from scrapy.core.downloader.handlers import http11

        found.append(http11._LenientHTTPClientParser)
    except (ImportError, AttributeError):
        pass
    try:
        from twisted.web._newclient import HTTPClientParser

        found.append(HTTPClientParser)
    except ImportError:  # pragma: no cover - scrapy depends on Twisted
        pass
    return found


def limit_response_headers(max_bytes: int = MAX_HEADER_BYTES) -> bool:
    """Wrap the response parsers' ``lineReceived`` so that a response whose status line and
    headers pass ``max_bytes`` fails with ``HeadersTooLarge``; True where both are."""
    try:
        from twisted.web._newclient import HEADER, STATUS
    except ImportError:
        log.warning("Twisted's HTTP client is not as expected: response headers are not capped")
        return False
    parsers = _parsers()
    for parser in parsers:
        if parser.__dict__.get("_narrascope_header_cap") is None:
            _wrap(parser, (STATUS, HEADER), max_bytes)
    if len(parsers) < 2:
        log.warning("scrapy's HTTP client is not as expected: response headers may not be capped")
    return len(parsers) == 2


def _wrap(parser: type, heading: tuple, max_bytes: int) -> None:
    original = parser.lineReceived

    def lineReceived(self, line):  # noqa: N802 - Twisted's name
        if self.state in heading:
            seen = getattr(self, "_narrascope_header_bytes", 0) + len(line)
            self._narrascope_header_bytes = seen
            if seen > max_bytes:
                # raised here, the protocol gives the response up and drops the connection
                raise HeadersTooLarge(f"{MARK} {max_bytes} bytes")
        return original(self, line)

    parser.lineReceived = lineReceived
    parser._narrascope_header_cap = max_bytes
