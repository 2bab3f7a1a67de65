"""robots.txt as RFC 9309 (2.3.1) says to treat an answer that is not the file.

scrapy's RobotsTxtMiddleware parses the body of whatever answer it gets, so a robots.txt
answering 500 or 503 with an error page, or not at all (a timeout, a reset connection),
allowed everything: the moment a site is struggling is when a crawler hit it hardest. RFC
9309 says: "unavailable" (4xx) — the crawler may access any resource; "unreachable" (5xx,
or no answer: a timeout, a reset connection, bytes that are not HTTP) — the crawler must
assume complete disallow. A host that does not resolve or refuses connections is left to
the pages' own requests, which fail the same way and record why. narrascope treats a 429 as
unreachable too, as Google does: the site asked for less traffic. The answer is the last
one after the crawl's retries; robots.txt is asked for again by the next run (the RFC lets a
crawler that saw no robots.txt for 30 days treat the site as allowed; a run does not cache
robots.txt across runs, so a site whose robots.txt stays unreachable is not crawled).
"""

from __future__ import annotations

import logging

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    IgnoreRequest,
    UnsupportedURLSchemeError,
)
from twisted.internet.error import ConnectionRefusedError as TCPConnectionRefused
from twisted.internet.error import DNSLookupError

from crawlers.safety import PrivateAddressRefused, RedirectLoop, SchemeRefused
from crawlers.warc import NotArchived

# no server to ask, or refused by us before asking: the pages' own requests fail the same
# way and record why, which disallowing them would hide behind "robots.txt"
NOT_ASKED = (IgnoreRequest, DownloadConnectionRefusedError, TCPConnectionRefused,
             CannotResolveHostError, DNSLookupError, UnsupportedURLSchemeError)  # fmt: skip

#: refused by the crawl's own checks, not by the site
REFUSED = (PrivateAddressRefused, SchemeRefused, RedirectLoop)

log = logging.getLogger(__name__)


class Unreachable:
    """The parser of a site whose robots.txt is unreachable: every page disallowed, with why."""

    def __init__(self, detail: str, stopping: bool = False) -> None:
        self.detail = detail
        self.stopping = stopping  # the crawl is stopping: not the site's doing, not recorded

    def allowed(self, url: str, user_agent: str) -> bool:
        return False

    def crawl_delay(self, user_agent: str) -> None:
        return None


class Rfc9309RobotsMiddleware(RobotsTxtMiddleware):
    """scrapy's middleware; a robots.txt answering 4xx (but 429) allows every page, one
    answering 5xx or 429, or not answering, disallows every page of its site for the run."""

    async def _parse_robots(self, response, netloc: str, request) -> None:
        status = response.status
        if status >= 500 or status == 429:
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{status}")
            self._unreachable(netloc, f"robots.txt answered HTTP {status}")
            return
        if 400 <= status < 500:  # unavailable: no rules, whatever the error page says
            response = response.replace(body=b"")
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, NotArchived):  # the crawl is stopping (crawlers/warc.py): its
            self._unreachable(netloc, str(exc), stopping=True)  # pages are not fetched now
            return
        if isinstance(exc, NOT_ASKED):  # a private address, the deadline, no server
            if isinstance(exc, REFUSED):  # its rules go unread: say so, scrapy says nothing
                self._stats.inc_value("robotstxt/refused")
                log.warning("%s: robots.txt was not read (%s); its pages are crawled as if it "
                            "had none (RFC 9309: unavailable)", netloc, exc)  # fmt: skip
            super()._robots_error(exc, netloc)
            return
        self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        self._unreachable(netloc, f"robots.txt could not be fetched ({type(exc).__name__})")

    def _unreachable(self, netloc: str, detail: str, stopping: bool = False) -> None:
        if not stopping:  # the archive's failure is the crawl's error, said once
            log.warning("%s: %s; RFC 9309: none of its pages is fetched in this run", netloc,
                        detail)  # fmt: skip
            self._stats.inc_value("robotstxt/unreachable")
        parser = Unreachable(detail, stopping)
        waiting = self._parsers[netloc]
        self._parsers[netloc] = parser
        waiting.callback(parser)

    def process_request_2(self, rp, request) -> None:
        if isinstance(rp, Unreachable) and rp.stopping:
            raise NotArchived(f"not fetched: the crawl is stopping ({rp.detail})")
        if isinstance(rp, Unreachable):
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(f"Forbidden by robots.txt: {rp.detail} (RFC 9309)")
        super().process_request_2(rp, request)
