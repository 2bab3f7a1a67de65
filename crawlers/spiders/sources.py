"""One spider for every source: its entry points (feeds, sitemaps, WordPress API, Telegram
channels, link-following) yield links or documents; article pages are fetched conditionally,
from the crawl state kept in DuckDB."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice

import scrapy
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from crawlers.entries import Link
from crawlers.entries.feeds import parse_feed
from crawlers.entries.links import TRAPS, article_signal
from crawlers.entries.sitemaps import SitemapTooLarge, parse_sitemap, sitemap_body
from crawlers.entries.telegram import channel_url
from crawlers.once import PAGE_CALLBACKS, AlreadyFetched
from crawlers.sources import Source, host_matches, private_hosts
from crawlers.spiders.channels import ChannelListing, history_key
from crawlers.spiders.held import HeldChecks
from crawlers.spiders.listed import ListedPages
from crawlers.spiders.responses import Unusable, content_type, decode_html, failure_reason, is_html
from crawlers.spiders.state import StateLookup
from crawlers.spiders.wordpress import WordPressListing, older_key
from storage.crawlstate import canonical_or_none
from storage.records import EntryState, NotModified, PageRecord, Rejection

#: links read from one page when following links. Each costs ~0.3 ms of the thread that every
#: download shares: a page of 100,000 links stalled the whole crawl for 30 s (and timed out
#: other sources' downloads). A page with more is cut there, and the cut recorded.
MAX_PAGE_LINKS = 2000
#: child sitemaps a source's sitemap indexes may have read in one run, and how deep indexes
#: may nest (the protocol allows none): an index that keeps naming new indexes ends there
MAX_CHILD_SITEMAPS = 200
MAX_SITEMAP_DEPTH = 3


class SourceSpider(WordPressListing, ChannelListing, ListedPages, scrapy.Spider):
    name = "narrascope"

    def __init__(
        self,
        sources: list[Source],
        db_path: str,
        expiry_days: float = 30,
        wp_per_page: int = 100,
        telegram_pages: int = 20,
        min_article_chars: int = 500,
        max_replacement_share: float = 0.01,
        max_page_links: int = MAX_PAGE_LINKS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sources = sources
        self.db_path = db_path
        self.expiry = timedelta(days=expiry_days)
        self._lookup = StateLookup(db_path, self.expiry, self.logger)
        self.wp_per_page = wp_per_page
        self.telegram_pages = telegram_pages
        self.min_article_chars = min_article_chars
        self.max_replacement_share = max_replacement_share
        self.max_page_links = max_page_links
        self.budget = {s.name: s.max_pages for s in sources}
        self._child_sitemaps_read: Counter[str] = Counter()
        self._sitemaps_cut: set[str] = set()
        # per source: small counters and body lengths (for the median), never per-URL state
        self.health: dict[str, Counter] = {s.name: Counter() for s in sources}
        self.body_chars: dict[str, list[int]] = {s.name: [] for s in sources}
        self._wp_pending: dict[str, int] = {}
        self._wp_failed: set[str] = set()
        # per listing ("SOURCE|N"): the last page asked for, where pages are left; the
        # modified_before values that list again the posts the budget left, and those of
        # the pages past the last one asked for
        self._wp_last: dict[str, int] = {}
        self._wp_unread: dict[str, set[str]] = {}
        self._wp_capped: dict[str, set[str]] = {}
        self._wp_pages: dict[str, int] = {}  # pages a listing asks for
        # per listing: its pages that failed, and the lowest modification time on each page
        # read (a second past it: the top of the page below)
        self._wp_holes: dict[str, set[int]] = {}
        self._wp_bottoms: dict[str, dict[int, str]] = {}
        # a WordPress source's feeds and sitemaps wait for its API listing, and leave to the
        # API the posts it delivered (the API's HTML differs from the theme's page)
        self._after_api: dict[str, list] = {}
        self._api_urls: dict[str, set[str]] = {}
        # canonical URLs of the pages requested in this run: a link seen again (navigation,
        # "related" lists) is neither looked up nor charged to the page budget
        self._requested: set[str] = set()
        self._extractors: dict = {}
        self._held: HeldChecks | None = None  # ListedPages's checks (none without a crawler)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        if cls.hold_checks:
            spider._held = HeldChecks(crawler, spider._spend)
        return spider

    # -- entry points ------------------------------------------------------------------

    def _state(self, keys) -> dict:
        """Crawl state of these canonical URLs (canonical URL -> Seen), unexpired (StateLookup:
        never waits long for the database, and does without where it is locked)."""
        return self._lookup(keys)

    @property
    def without_state(self) -> int:
        """URLs looked up while the database was unavailable."""
        return self._lookup.without_state

    def closed(self, reason) -> None:
        self._lookup.release()

    @property
    def private_hosts(self) -> set[str]:
        """Hosts that may resolve to private addresses: those of sources that allow it."""
        return private_hosts(self.sources)

    def private_hosts_for(self, source_name: str | None, origin: str = "") -> set[str]:
        """Hosts a request of this source may reach at private addresses: its own allowed
        domains where it allows them, none where not (another source's allowance is not its
        own). A request of no source (robots.txt, and where it redirects) goes by the sources
        whose allowance covers ``origin``, the host it was first made for: one source's
        robots.txt cannot redirect to another's private host."""
        if source_name is None:
            return private_hosts(s for s in self.sources
                                 if host_matches(origin, private_hosts([s])))  # fmt: skip
        return private_hosts(s for s in self.sources if s.name == source_name)

    def _meta(self, source: Source, **extra) -> dict:
        meta = {"source": source.name, **extra}
        obey = source.obey_robots
        if obey is None:  # the [crawl] setting (scrapy's middleware runs if any source obeys)
            settings = getattr(self, "settings", None)  # none before a crawler binds it
            obey = settings is None or settings.getbool("NARRASCOPE_OBEY_ROBOTS", True)
        if not obey:
            meta["dont_obey_robotstxt"] = True
        return meta

    def _request(self, url, callback, source, **kwargs) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.failed,
            cb_kwargs={"source": source, **kwargs.pop("cb_kwargs", {})},
            meta=self._meta(source, **kwargs.pop("meta", {})),
            **kwargs,
        )

    async def start(self):
        # five minutes early: modified_after is strict and has whole seconds, and the site's
        # clock may lag ours; the posts changed meanwhile are asked for again (stored as they
        # are, they cost nothing)
        started = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0).isoformat()
        apis = {s.name: f"{s.home.rstrip('/')}/wp-json/wp/v2/posts" for s in self.sources}
        channels = {s.name: [channel_url(c) for c in s.telegram] for s in self.sources}
        cursors = [history_key(c) for cs in channels.values() for c in cs]
        cursors += [older_key(api) for api in apis.values()]
        entries = [*apis.values(), *(c for cs in channels.values() for c in cs), *cursors]
        state = self._state(map(canonical_or_none, entries))
        for source in self.sources:
            if source.obey_robots is False:
                self.logger.warning("%s: robots.txt is not obeyed (source setting)", source.name)
            listings = [self._request(url, self.parse_feed, source, dont_filter=True)
                        for url in source.feeds]  # fmt: skip
            listings += [self._request(url, self.parse_sitemap, source, dont_filter=True)
                         for url in source.sitemaps]  # fmt: skip
            if source.wordpress:
                self._after_api[source.name] = listings  # released when the API listing ends
                yield self._wordpress_start(source, apis[source.name], state, started)
            else:
                for request in listings:
                    yield request
            for url in channels[source.name]:
                yield self._channel_start(source, url, state)
            if source.follow_links:
                for url in source.start_urls or [source.home]:
                    self._requested.add(canonical_or_none(url) or url)
                    yield self._request(
                        url, self.parse_linked, source, cb_kwargs={"depth": 0}, dont_filter=True
                    )
        if self._held is not None:  # each source's listings are queued: its checks may go
            self._held.started = True

    async def parse_feed(self, response, source: Source):
        """A feed's entries, parsed in a thread: feedparser is pure Python (~0.5 ms an entry),
        and a feed of 50,000 entries parsed here would hold every download of the crawl (and
        time them out) for half a minute."""
        self.health[source.name]["fetched"] += 1
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")
        links, warning = await maybe_deferred_to_future(
            deferToThread(parse_feed, response.body, content_type)
        )
        if warning:
            self.logger.warning("%s: feed %s: %s", source.name, response.url, warning)
            self.health[source.name]["broken_feeds"] += 1
            if not links:  # the source's listing is lost: its health says why (a feed that
                # parsed, served as text/html or cut short, is only logged)
                detail = warning.removesuffix("; using what parsed") + "; nothing listed"
                yield self._reject(source, response.url, "broken_feed", detail)
        for item in self._follow(source, links, response):
            yield item

    def parse_sitemap(self, response, source: Source):
        self.health[source.name]["fetched"] += 1
        try:
            xml = sitemap_body(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        except SitemapTooLarge as err:
            yield self._reject(source, response.url, "too_large", str(err))
            return
        children, links = parse_sitemap(xml)
        if not children and not links:
            self.logger.warning("%s: sitemap %s lists nothing", source.name, response.url)
        yield from self._child_sitemaps(source, children, response)
        yield from self._follow(source, links, response)

    def _child_sitemaps(self, source: Source, children: list[str], response):
        """Requests for an index's sitemaps on the source's own site, within the run's
        MAX_CHILD_SITEMAPS and MAX_SITEMAP_DEPTH; the first cut is recorded."""
        depth = response.meta.get("sitemap_depth", 0) + 1
        for child in children:
            url = response.urljoin(child)
            if not source.allows(url):
                continue
            if self.budget[source.name] <= 0:
                return  # no page left to fetch from what it lists
            deep = depth > MAX_SITEMAP_DEPTH
            if deep or not self._take_sitemap(source):
                if self._first_sitemap_cut(source):
                    detail = (
                        f"sitemaps nested {depth} deep"
                        if deep
                        else f"more than {MAX_CHILD_SITEMAPS} child sitemaps in one run"
                    )
                    yield self._reject(source, url, "too_many_sitemaps",
                                       f"{detail}; the rest were not read")  # fmt: skip
                return
            yield self._request(url, self.parse_sitemap, source, meta={"sitemap_depth": depth})

    def _take_sitemap(self, source: Source) -> bool:
        """Count one more child sitemap of ``source`` read in this run, if MAX_CHILD_SITEMAPS
        allows it."""
        if self._child_sitemaps_read[source.name] >= MAX_CHILD_SITEMAPS:
            return False
        self._child_sitemaps_read[source.name] += 1
        return True

    def _first_sitemap_cut(self, source: Source) -> bool:
        """Whether this is the run's first cut of ``source``'s sitemaps (recorded once)."""
        first = source.name not in self._sitemaps_cut
        self._sitemaps_cut.add(source.name)
        return first

    def parse_linked(self, response, source: Source, depth: int, title=None, published=None):
        """A page reached by following links: stored when it looks like an article, and its
        links followed while ``depth`` allows."""
        if response.status == 304 or not is_html(response):
            yield from self.parse_page(response, source)  # not modified, or a rejection
            return
        if article_signal(response.selector, self.min_article_chars):
            yield from self.parse_page(response, source, title, published)
        else:  # known from now on: checked again in turn (_follow), not as a page never seen
            self.health[source.name]["fetched"] += 1
            now = datetime.now(UTC)
            yield from self._redirected(response, source.name, now)
            yield EntryState(response.url, source.name, "listing", now)
        if depth >= source.max_depth:
            return
        anchors = (a for a in response.selector.root.iter("a", "area") if a.get("href") is not None)
        cut = next(islice(anchors, self.max_page_links, None), None) is not None
        if cut:
            yield self._reject(source, response.url, "too_many_links",
                               f"more than {self.max_page_links} links on the page; the first "
                               f"{self.max_page_links} were read")  # fmt: skip
        extractor = self._extractor(source, cut)
        links = [Link(link.url) for link in extractor.extract_links(response)]
        yield from self._follow(source, links, response, self.parse_linked, depth=depth + 1)

    def _extractor(self, source: Source, cut: bool = False):
        """The source's link extractor, built (and its patterns compiled) once per run; ``cut``:
        one that reads only the first ``max_page_links`` links of a page."""
        if (source.name, cut) not in self._extractors:
            from scrapy.linkextractors import LinkExtractor

            first = f"(//a[@href]|//area[@href])[position() <= {self.max_page_links}]"
            # domains are checked by _follow (by host name: LinkExtractor's check counts ports)
            self._extractors[source.name, cut] = LinkExtractor(
                allow=source.include, deny=[*source.exclude, *TRAPS],
                restrict_xpaths=[first] if cut else (),
            )  # fmt: skip
        return self._extractors[source.name, cut]

    # -- article pages -------------------------------------------------------------------

    def _reject(self, source: Source, url: str, reason: str, detail: str) -> Rejection:
        self.health[source.name][f"error:{reason}"] += 1
        return Rejection("crawl", reason, detail, url=url, source=source.name)

    def parse_page(self, response, source: Source, title=None, published=None):
        health = self.health[source.name]
        health["fetched"] += 1
        now = datetime.now(UTC)
        yield from self._redirected(response, source.name, now)
        if response.status == 304:
            yield NotModified(response.url, source.name, now, response.meta.get("warc"))
            return
        declared = content_type(response).lower()
        if not is_html(response):
            yield self._reject(source, response.url, "not_html",
                               f"content type {declared or 'unknown'}")  # fmt: skip
            return
        if not response.body.strip():
            health["empty_bodies"] += 1
            yield self._reject(source, response.url, "empty_body",
                               f"HTTP {response.status} with an empty body")  # fmt: skip
            return
        try:
            encoding, html = decode_html(response, self.max_replacement_share)
        except Unusable as err:
            yield self._reject(source, response.url, err.reason, err.detail)
            return
        self.body_chars[source.name].append(len(html))
        header = lambda name: response.headers.get(name, b"").decode("latin-1") or None  # noqa: E731
        yield PageRecord(
            url=response.url, source=source.name, origin="crawl", fetched_at=now, html=html,
            http_status=response.status, content_type=declared or None, encoding=encoding,
            hint_title=title, hint_published_at=published, etag=header("ETag"),
            last_modified=header("Last-Modified"), warc=response.meta.get("warc"),
        )  # fmt: skip

    def _fetched_already(self, request):
        """A request dropped as its page was fetched in this run: where a listed address
        redirected to it, that address's state (as ``_redirected`` keeps it)."""
        source = request.meta.get("source")
        if source not in self.health:
            return
        self.health[source]["skipped"] += 1
        yield from self._redirected(request, source, datetime.now(UTC))

    @staticmethod
    def _redirected(message, source: str, now: datetime):
        """The state of the address listed, where it redirected to ``message``'s (a response
        or a request) address: its listing's dates and budget go by it, and it is no page
        never fetched on the next run."""
        listed = (message.meta.get("redirect_urls") or [None])[0]
        if listed and canonical_or_none(listed) != canonical_or_none(message.url):
            yield EntryState(listed, source, "redirect", now, message.url)

    def failed(self, failure):
        if failure.check(AlreadyFetched):  # fetched in this run already: not fetched again
            yield from self._fetched_already(failure.request)
            return
        found = failure_reason(failure)
        if found is None:  # not fetched, not failed: the next run fetches it
            return
        reason, message = found
        if reason == "too_large" and not message:  # a body of no stated length, streamed
            limit = self.settings.getint("DOWNLOAD_MAXSIZE")
            message = f"the body grew past max_bytes ({limit} bytes) while streaming"
        request = failure.request
        source = next((s for s in self.sources if s.name == request.meta.get("source")), None)
        if source is not None and request.callback == self.parse_wordpress:
            yield from self._wp_page_failed(source, request.cb_kwargs)
        if source is not None and request.callback == self.parse_channel:
            yield from self._channel_failed(source, request)
        kind = _failed_kind(failure)
        if kind == "failed" and request.meta.get("held_check"):
            # a page fetched before keeps its state (its version, ETag and turn): marked
            # failed, it would lose its ETag and be asked for with the pages never read
            kind = None
        if source is not None and kind:  # checked again in turn
            asked = request.meta.get("asked_at")  # ListedPages._page_request (not when shared)
            when = (
                datetime.fromtimestamp(asked, UTC)
                if isinstance(asked, float)
                else datetime.now(UTC)
            )
            yield EntryState(request.url, source.name, kind, when)
        detail = f"{failure.type.__name__}: {message}"
        if source is None:
            yield Rejection("crawl", reason, detail, url=request.url)
        else:
            yield self._reject(source, request.url, reason, detail)


def _failed_kind(failure) -> str | None:
    """The crawl-state kind of a failed page request: ``gone`` where it was answered 404 or
    410, ``failed`` for any other failure (a server error or 429 after its retries, another
    error status, a timeout, a refused or dropped connection, a body past the size limit);
    None for requests that are no page's. The page's state then says it was asked for, so
    that its listing asks for it again in turn, after the pages never fetched (it was one of
    them, ahead of the rest, run after run: a feed that listed more removed or broken pages
    than its budget had its other pages never read). Neither kind is skipped by its
    listing's date (crawlers/spiders/listed.py). Its fetch time is when its listing asked for
    it (``asked_at``, the listing's time a microsecond apart in the order it asked): a site
    that answers only the first few requests of a run has the pages it refused asked for
    next time ahead of those it answered, in the order they were asked for. (At the failure's
    time, they came after the pages answered, which took the site's answers again, run after
    run, and the page asked for last was refused every run.) A request not sent because the
    run's time was up never gets here (``failure_reason``)."""
    from scrapy.spidermiddlewares.httperror import HttpError

    callback = getattr(failure.request.callback, "__name__", None)
    if callback not in PAGE_CALLBACKS:
        return None
    if failure.check(HttpError) is not None and failure.value.response.status in (404, 410):
        return "gone"
    return "failed"
