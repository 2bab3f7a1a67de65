"""A page is fetched at most once a run: a listed address that redirects to a page the run
asks for anyway (or reaches through another redirect) does not fetch it again."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

from storage.crawlstate import canonical_or_none

#: request meta key: the canonical URL this request (and its retries) claimed for the run
CLAIM = "narrascope_claim"
#: the spider callbacks whose requests fetch pages (listings and start pages are read as such)
PAGE_CALLBACKS = ("parse_page", "parse_linked")


class AlreadyFetched(IgnoreRequest):
    """The page a request would fetch was fetched in this run already."""


class FetchOnce:
    """Downloader middleware: the first request for a page's canonical URL in a run claims it;
    a later one (a redirect target already asked for, or a listed page a redirect reached
    first) is dropped with ``AlreadyFetched`` once the first has its answer, and the spider
    records it as the redirect it was, not as an error. Redirect targets bypass the duplicate
    filter (crawlers/safety.py: loops are cut there) and listings know only the addresses
    they asked for, so before this such a page was fetched, archived and counted twice.

    A claim whose answer is a redirect, or a failure, is let go: the address is no page, and
    a redirect loop through it is still cut and recorded. A later request waits for an
    answer in flight. A retry carries its claim and goes through. Placed above the redirect
    and retry middlewares, so that it sees their answers before they become new requests."""

    def __init__(self):
        self._pages: set[str] = set()  # canonical URLs answered with a page in this run
        self._pending: dict[str, list[Deferred]] = {}  # claimed, in flight -> waiters

    async def process_request(self, request, spider=None):
        callback = getattr(request.callback, "__name__", None)
        if callback not in PAGE_CALLBACKS or request.cb_kwargs.get("depth") == 0:
            return None
        key = canonical_or_none(request.url) or request.url
        if request.meta.get(CLAIM) == key:
            return None  # a retry of the request that claimed it
        while key in self._pending:  # another request's answer is on its way
            waiter = Deferred()
            self._pending[key].append(waiter)
            await maybe_deferred_to_future(waiter)
        if key in self._pages:
            raise AlreadyFetched(f"{request.url} was fetched in this run already")
        self._pending[key] = []
        request.meta[CLAIM] = key
        return None

    def process_response(self, request, response, spider=None):
        page = not (300 <= response.status < 400 and b"Location" in response.headers)
        self._settle(request, page)
        return response

    def process_exception(self, request, exception, spider=None):
        self._settle(request, False)

    def _settle(self, request, page: bool) -> None:
        key = request.meta.get(CLAIM)
        if key is None or key != (canonical_or_none(request.url) or request.url):
            return
        if page:
            self._pages.add(key)
        for waiter in self._pending.pop(key, []):
            waiter.callback(None)
