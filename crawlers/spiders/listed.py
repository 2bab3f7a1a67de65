"""The pages a listing names (a feed's entries, a sitemap's URLs, a followed page's links):
which of them a run asks for within its page budget, in what order, and how."""

from __future__ import annotations

from itertools import count
from time import time
from urllib.parse import urlsplit

from crawlers.entries import Link
from crawlers.robots import Unreachable
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.dates import changed_by, parse_date

#: listed links are looked up in slices, one crawl-state query each; pages never fetched are
#: asked for as their slice is read, so a listing of new pages stops where the budget runs
#: out, while one of pages fetched before is looked up to its end (to check the oldest again)
FOLLOW_SLICE = 500


class ListedPages:
    """Callbacks of SourceSpider for listed pages; they use the spider's requests
    (``_request``), crawl state (``_state``), page budget (``budget``), the pages asked for in
    this run (``_requested``) and its page callbacks.

    The checks of pages fetched before, where the listing gives no sign of a change and the
    page's links are not followed, are held back until their source has asked for every
    page never read, and charged to the page budget only then (``_held``,
    crawlers/spiders/held.py). A shared crawl holds none (``hold_checks``)."""

    hold_checks = True

    def _spend(self, source: Source) -> bool:
        if self.budget[source.name] <= 0:
            return False
        self.budget[source.name] -= 1
        return True

    def _robots_refuse(self, source: Source, url: str):
        """A robots_txt rejection for ``url`` where its site's robots.txt, already read in
        this run, disallows it for a source that obeys it; else None. Checked before the
        page budget is spent: a page scrapy's middleware refuses costs the budget all the
        same, and a listing naming disallowed pages first spent it on them run after run
        (they keep no crawl state), its allowed pages never asked for. A site whose
        robots.txt is not read yet is left to the middleware."""
        if self._meta(source).get("dont_obey_robotstxt"):
            return None
        robots = self._robots_middleware()
        parser = robots._parsers.get(urlsplit(url).netloc) if robots else None
        if parser is None or not hasattr(parser, "allowed"):  # unread, refused, or waited for
            return None
        if parser.allowed(url, self.settings.get("ROBOTSTXT_USER_AGENT") or self.settings.get(
            "USER_AGENT")):  # fmt: skip
            return None
        self.crawler.stats.inc_value("robotstxt/forbidden")
        self._requested.add(canonical_or_none(url) or url)  # another listing's is no other
        why = f": {parser.detail} (RFC 9309)" if isinstance(parser, Unreachable) else ""
        return self._reject(
            source, url, "robots_txt", f"IgnoreRequest: Forbidden by robots.txt{why}"
        )

    def _robots_middleware(self):
        """Scrapy's RobotsTxtMiddleware of this crawl (None where robots.txt is not obeyed)."""
        if not hasattr(self, "_robots"):
            from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

            engine = getattr(getattr(self, "crawler", None), "engine", None)
            found = engine.downloader.middleware.middlewares if engine else ()
            self._robots = next((m for m in found if isinstance(m, RobotsTxtMiddleware)), None)
        return self._robots

    def _follow(self, source: Source, links: list[Link], response, callback=None, **extra):
        """Requests for listed pages: skipped when the listing says they have not changed since
        the last fetch, conditional (ETag / Last-Modified) when they were fetched before. Read
        in slices. Pages never fetched come first; then, with the budget left, pages the
        listing says changed since their fetch, then pages it gives no date for (or a date
        about when they were fetched), those fetched longest ago first: a listing longer than
        the budget is read to its end over runs, and every page of it checked again in turn."""
        callback = callback or self.parse_page
        listed: set[str | None] = set()
        # when each page is asked for: the listing's time, a microsecond apart in the order
        # they are asked for (kept as the turn of a page whose request fails: SourceSpider.failed)
        asked = count(time(), 1e-6)
        again: list[tuple] = []  # (in doubt, last fetched, listing order, link, seen)
        for start in range(0, len(links), FOLLOW_SLICE):
            spent = yield from self._follow_slice(
                source, links[start : start + FOLLOW_SLICE], response, callback, listed, extra,
                again, asked,
            )  # fmt: skip
            if spent:
                return
        # pages whose links are followed take at most half of what is left, in turn: the
        # stories new on them need the rest (a budget of no more pages than sections would
        # otherwise be spent on the sections, run after run)
        turns = (self.budget[source.name] + 1) // 2 if self._hubs(source, callback, extra) else None
        for doubt, _, _, link, seen in sorted(again, key=lambda a: a[:3]):
            key = canonical_or_none(link.url)
            if key in self._requested:  # another listing asked for it meanwhile
                continue
            if refused := self._robots_refuse(source, link.url):
                yield refused
                continue
            hold = doubt and seen.kind != "failed" and self._held is not None and not (
                self._hubs(source, callback, extra))  # fmt: skip
            if turns is not None:
                if turns <= 0:
                    return
                turns -= 1
            if not hold and not self._spend(source):
                return
            request = self._page_request(source, key, link, seen, callback, extra, next(asked))
            if hold:  # charged to the budget when it goes out (HeldChecks)
                request.meta["held_check"] = True  # SourceSpider.failed
                self._held.hold(source, request, seen.last_fetched_at)
            else:
                yield request

    def _follow_slice(self, source: Source, links: list[Link], response, callback,
                      listed: set, extra: dict, again: list, asked):  # fmt: skip
        """``_follow`` for one slice of the listing; returns True once the budget is spent.
        ``listed``: canonical URLs of the listing's earlier slices; ``again``: where the
        pages to check again are put (at most as many as the budget has left); ``asked``: the
        times the listing's pages are asked for."""
        links = [
            Link(response.urljoin(link.url), link.title, link.published, link.lastmod)
            for link in links
        ]
        allowed = {}
        for link in links:
            key = canonical_or_none(link.url)
            if key in self._requested or key in listed:
                continue
            listed.add(key)
            if key is None:
                self.logger.info("%s: skipping %s (not an http(s) URL)", source.name, link.url)
            elif source.allows(link.url):
                allowed[key] = link
            else:
                self.logger.info("%s: skipping %s (outside allowed domains)", source.name, link.url)
        state = self._state(allowed)  # keyed by canonical URL already
        keep = max(self.budget[source.name], 1)  # read once a slice (Redis on a frontier)
        for key, link in allowed.items():
            seen = state.get(key)
            if source.wordpress and (
                key in self._api_urls.get(source.name, ()) or (seen and seen.kind == "api-post")
            ):
                self.health[source.name]["skipped"] += 1  # the REST API keeps it current
                continue
            changed, latest = parse_date(link.lastmod), changed_by(link.lastmod)
            # a page whose last request failed (404, 410, a server error, a timeout...) is
            # never skipped by its date: gone or broken for a while, it may be back under the
            # same lastmod
            failed = seen is not None and seen.kind in ("gone", "failed")
            if seen and latest and seen.last_fetched_at >= latest and not failed:
                self.health[source.name]["skipped"] += 1
                continue
            if seen:  # after the pages never fetched: first those the listing says changed
                # since, then those it gives no date for or that changed about when fetched
                doubt = not changed or changed <= seen.last_fetched_at
                again.append((doubt, seen.last_fetched_at, len(listed), link, seen))
                if len(again) > 2 * keep:  # no more than the budget can still ask for
                    again.sort(key=lambda a: a[:3])
                    del again[keep:]
                continue
            if refused := self._robots_refuse(source, link.url):
                yield refused
                continue
            if not self._spend(source):
                return True
            yield self._page_request(source, key, link, seen, callback, extra, next(asked))

    def _hubs(self, source: Source, callback, extra: dict) -> bool:
        """Whether the pages requested with this callback and ``extra`` will have their links
        followed in turn (a followed page short of ``max_depth``)."""
        return callback == self.parse_linked and extra.get("depth", 0) < source.max_depth

    def _page_request(self, source: Source, key, link: Link, seen, callback, extra: dict,
                      asked: float):  # fmt: skip
        """A listed page's request: conditional where it was fetched before, unless its links
        are still to be followed (a 304 gives none, so a story below an unchanged section
        that one run left would never be read). ``asked``: when it was asked for, the turn
        its state keeps should the request fail (``SourceSpider.failed``)."""
        self._requested.add(key)
        headers = {}
        follows = self._hubs(source, callback, extra)
        if seen and seen.etag and not follows:
            headers["If-None-Match"] = seen.etag
        if seen and seen.last_modified and not follows:
            headers["If-Modified-Since"] = seen.last_modified
        return self._request(
            link.url,
            callback,
            source,
            headers=headers,
            cb_kwargs={"title": link.title, "published": link.published, **extra},
            meta={"handle_httpstatus_list": [304], "asked_at": asked},
        )
