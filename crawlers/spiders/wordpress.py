"""The WordPress REST API as a source's listing: posts delivered whole (HTML, title, dates,
author, categories); the source's feeds and sitemaps wait for it and leave to it the posts it
delivered.

What is left to read is a list of ranges of modification times, newest first: the posts
changed since the last run began (``modified_after`` = the watermark), then the gaps earlier
runs left where the page budget cut them short (``older_key``: a JSON list of [after,
before], ``modified_after``/``modified_before``). A run reads them one listing after another
while budget is left; a listing cut short (by the budget, or by a page after its first that
failed) leaves the gap below its cut, one not reached stays as it was. The watermark moves to
the run's start after every run whose listing of new posts did not fail: the posts newer than
it were either read or kept as a gap; a gap whose first page failed is kept whole. A
listing's counters are keyed ``SOURCE|N``, N its place in the list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from crawlers.entries.wordpress import parse_posts, posts_url
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.dates import parse_date
from storage.records import EntryState, PageRecord

#: gaps kept at most: past it the two oldest become one (read again, stored posts cost nothing)
MAX_GAPS = 50


def older_key(api: str) -> str:
    """Where a listing's gaps are kept (in crawl_state, beside its watermark)."""
    return f"{api}?narrascope-cursor=older"


def _after(modified: str | None) -> str | None:
    """A second past a post's modification time: ``modified_before`` that still lists it."""
    try:
        return (datetime.fromisoformat(modified) + timedelta(seconds=1)).isoformat()
    except (TypeError, ValueError, OverflowError):  # 9999-12-31T23:59:59: no second past it
        return None


def _time(value) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _gaps(stored: str | None, watermark: str | None) -> tuple[list[list], bool]:
    """The gaps a crawl_state row holds ([[after or None, before], ...]) and whether it was
    damaged; a damaged row gives the valid gaps and one for all below the watermark (read
    again: posts stored as they are cost nothing), never fewer."""
    try:
        gaps = json.loads(stored or "[]")
    except ValueError:
        gaps = None
    if not isinstance(gaps, list):
        return ([[None, watermark]] if watermark else []), True
    valid = [g for g in gaps if isinstance(g, list) and len(g) == 2 and _time(g[1])
             and (g[0] is None or _time(g[0]))]  # fmt: skip
    if len(valid) == len(gaps):
        return valid, False
    return [*valid, *([[None, watermark]] if watermark else [])], True


def _header_int(response, name: str) -> int | None:
    try:
        return int(response.headers.get(name))
    except (TypeError, ValueError):
        return None


def _pages(budget: int, per_page: int) -> int:
    """The pages a listing asks for with this much page budget (at least one)."""
    return max(1, -(-budget // per_page))


def listing_key(source: Source, n: int) -> str:
    """A listing's counters' key: the source and the range's place in the list."""
    return f"{source.name}|{int(n)}"


def _stored_as_is(seen, modified: str | None) -> bool:
    """A post the API delivered before and no one changed since (whole seconds: an edit
    later in the second of the fetch is not taken as stored)."""
    when = parse_date(_after(modified))
    return bool(seen and seen.kind == "api-post" and when and seen.last_fetched_at >= when)


def _bounded(gaps: list[list]) -> list[list]:
    while len(gaps) > MAX_GAPS:  # the two oldest as one
        (after, _), (_, before) = gaps[-1], gaps[-2]
        gaps = [*gaps[:-2], [after, before]]
    return gaps


class WordPressListing:
    """Callbacks of SourceSpider for a source with ``wordpress = true``; they use the spider's
    requests (``_request``), page budget (``_spend``), rejections and run-wide bookkeeping."""

    def _wordpress_start(self, source: Source, key: str, state: dict, started: str):
        """Page 1 of the posts modified since the last run began (all, the first time); the
        gaps earlier runs left follow (``ranges``)."""
        seen = state.get(canonical_or_none(key))
        watermark = seen.lastmod if seen and _time(seen.lastmod) else None
        row = state.get(canonical_or_none(older_key(key)))
        gaps, damaged = _gaps(row.lastmod if row else None, watermark)
        if damaged:
            self.logger.warning("%s: the WordPress listing's gaps were unreadable: reading "
                                "again below the watermark", source.name)  # fmt: skip
        ranges = [[watermark, None], *gaps]
        cap = _pages(source.max_pages, self.wp_per_page)
        return self._wp_page(source, 1, key, started, ranges, 0, cap, dont_filter=True)

    def _wp_page(self, source, page, key, started, ranges, n, cap, count=None, **kwargs):
        after, before = ranges[n]
        if page > 1:  # WordPress answers 400 past the last page: the listing shrank meanwhile
            kwargs["meta"] = {"handle_httpstatus_list": [400]}
        return self._request(
            posts_url(source.home, page, self.wp_per_page, after, before),
            self.parse_wordpress,
            source,
            cb_kwargs={
                "page": page,
                "key": key,
                "started": started,
                "ranges": ranges,
                "n": n,
                "cap": cap,
                "count": count,
            },  # fmt: skip
            **kwargs,
        )

    def parse_wordpress(self, response, source: Source, page, key, started, ranges, n=0, cap=1,
                        count=None):  # fmt: skip
        listing = listing_key(source, n)
        self.health[source.name]["fetched"] += 1
        if response.status != 200:  # past the last page (posts left the listing), or an error
            if page > 1:  # the posts below moved up onto pages read: the range is read again
                self._read_again(listing, ranges[n], started)
            if self._wp_done(source, failed=page == 1, listing=listing):
                yield from self._wp_next(source, key, started, ranges, n)
            yield from self._release_listings(source)
            return
        try:
            posts = parse_posts(response.body)
        except ValueError as err:
            yield self._reject(source, response.url, "bad_api_response", str(err))
            if self._wp_done(source, failed=True, listing=listing):
                yield from self._wp_next(source, key, started, ranges, n)
            yield from self._release_listings(source)
            return
        posts_now = _header_int(response, "X-WP-Total")
        if page == 1:
            # a listing that ended in an earlier handling (a frontier page failed, then handled
            # again) asks for no more pages: they would end it, and go on from it, again
            ended = self._wp_pending.get(listing, 1) <= 0
            total = _header_int(response, "X-WP-TotalPages")
            if total is None and posts_now is not None:  # WordPress's own count of posts
                total = -(-posts_now // self.wp_per_page)
            if total is None:  # no count: a full page (posts read or not) may have more
                total, cap = (2 if len(json.loads(response.body)) >= self.wp_per_page else 1), 1
            # the first handling's count holds (a page handled again in a frontier)
            self._wp_pages[listing] = min(total, cap)
            pages = self._wp_pages[listing]
            self._wp_pending[listing] = pages
            self._wp_last[listing] = pages if total > pages else 0  # pages left unasked
            if total > pages and self._wp_last.get(listing) != pages:
                # handled again (frontier, whose counts keep the first handling's values;
                # here they are the ones just set) after the listing grew past the pages
                # the first handling asked for: the range is read again
                self._read_again(listing, ranges[n], started)
            for number in range(2, 1 if ended else pages + 1):
                yield self._wp_page(source, number, key, started, ranges, n, cap, posts_now)
        fetched_at = datetime.now(UTC)
        delivered = self._api_urls.setdefault(source.name, set())
        dated = sorted(v for p in posts if (v := _after(p.meta.get("modified_gmt"))))
        if dated:  # the top of the next page, should it fail
            self._wp_bottoms.setdefault(listing, {})[page] = dated[0]
        # where pages are left unasked, what lies below this page is read again later; where
        # the listing's posts moved between its pages (one edited or trashed meanwhile moves
        # the rest up a place), some went up onto pages read before: the whole range is
        if page > 1 and None not in (count, posts_now) and count != posts_now:
            self._read_again(listing, ranges[n], started)
        if page == self._wp_last.get(listing):
            self._wp_capped.setdefault(listing, set()).add(dated[0] if dated else _after(started))
        # posts stored as they are now (read by an earlier run, or changed in the second a
        # read began) cost no budget: a gap's listing lists some again
        keys = {canonical_or_none(p.url) for p in posts} - {None}
        stored = self._state(keys) if keys else {}
        for post in posts:
            if not source.allows(post.url):
                continue
            modified = post.meta.get("modified_gmt")
            if _stored_as_is(stored.get(canonical_or_none(post.url)), modified):
                self.health[source.name]["skipped"] += 1
                continue
            if not self._spend(source):  # the budget is spent: the post waits for a later run
                if value := _after(modified):  # (one of no date cannot be found again)
                    self._wp_unread.setdefault(listing, set()).add(value)
                continue
            delivered.add(canonical_or_none(post.url))
            yield PageRecord(
                url=post.url, source=source.name, origin="crawl", fetched_at=fetched_at,
                html=post.html, http_status=200, content_type="text/html", encoding="utf-8",
                hint_title=post.title, hint_published_at=post.published, author=post.author,
                categories=post.categories, meta={**post.meta, "api_url": response.url},
                warc=response.meta.get("warc"),
            )  # fmt: skip
        if self._wp_done(source, listing=listing):
            yield from self._wp_next(source, key, started, ranges, n)
        yield from self._release_listings(source)

    def _wp_next(self, source: Source, key, started: str, ranges, n: int):
        """After the last page of listing ``n`` (read or failed): the next gap's listing with
        the budget left, else the state the run leaves; nothing where the listing of new
        posts failed (the next run lists from the same watermark)."""
        if listing_key(source, 0) in self._wp_failed:
            return
        if n + 1 < len(ranges) and self.budget[source.name] > 0:  # the next gap
            # as many pages as a whole run lists: its stored posts cost no budget, and a second
            # of more tied posts than that is passed only where that many were listed
            cap = _pages(source.max_pages, self.wp_per_page)
            yield self._wp_page(source, 1, key, started, ranges, n + 1, cap, dont_filter=True)
        else:
            yield from self._wp_read(source, key, ranges, n, datetime.now(UTC), started)

    def _wp_read(self, source: Source, key, ranges, last: int, fetched_at, started: str):
        """The state a run leaves that listed ``ranges`` up to ``last``: the watermark at its
        start, and what is left of each range (the part below its cut; a range not listed
        stays whole)."""
        gaps = []
        for n, (after, before) in enumerate(ranges):
            if n > last:
                gaps.append([after, before])
                continue
            listing = listing_key(source, n)
            if listing in self._wp_failed:  # its first page failed: kept whole for a later run
                gaps.append([after, before])
                continue
            # cut by the budget, or by a page that failed (at its top)
            cut_by_budget = set(self._wp_unread.get(listing, ())) | self._failed_tops(
                listing, before, started
            )
            cut = max(cut_by_budget | set(self._wp_capped.get(listing, ())), default=None)
            if cut is None:
                continue  # read whole
            listed_all = self._wp_pages.get(listing, 0) >= _pages(
                source.max_pages, self.wp_per_page
            )
            if before is not None and cut >= before and not cut_by_budget and listed_all:
                # every page listed held posts stored before, of one modification second
                # (more of them than a run lists): go on below that second
                self.logger.warning(
                    "%s: more posts modified in one second than a run lists (before %s): "
                    "reading on below them", source.name, before)  # fmt: skip
                cut = (datetime.fromisoformat(before) - timedelta(seconds=1)).isoformat()
            cut = min(cut, before) if before is not None else cut
            if after is None or cut > after:
                gaps.append([after, cut])
        yield EntryState(key, source.name, "wordpress", fetched_at, lastmod=started)
        yield EntryState(older_key(key), source.name, "wordpress-gaps", fetched_at,
                         lastmod=json.dumps(_bounded(gaps)) if gaps else "")  # fmt: skip

    def _wp_page_failed(self, source: Source, kw: dict):
        """A listing's page that failed (429 or a server error after its retries, a timeout).
        Page 1 fails the listing: a gap's is kept whole, and one of new posts leaves the state
        as it was. A later page is a cut at its top, as the page budget makes one: the pages
        read above it count, and the next run reads on from it. (Before, a later page failing
        failed the whole listing too, so a site answering a few requests a run and 429 after
        them had the same pages read run after run, the listing never ended, and the posts on
        the pages it refused were never read.)"""
        n, page = kw.get("n", 0), kw.get("page", 1)
        listing = listing_key(source, n)
        if page > 1:
            self._wp_holes.setdefault(listing, set()).add(page)
        if self._wp_done(source, failed=page == 1, listing=listing):
            yield from self._wp_next(source, kw["key"], kw["started"], kw["ranges"], n)
        yield from self._release_listings(source)

    def _failed_tops(self, listing: str, before: str | None, started: str) -> set[str]:
        """``modified_before`` values that list a listing's failed pages again: the lowest
        modification time (a second past it) on the page read above each (the whole range
        where that page held no dated post)."""
        holes, bottoms = self._wp_holes.get(listing, set()), self._wp_bottoms.get(listing, {})
        tops = set()
        for page in holes:
            above = page - 1
            while above in holes:
                above -= 1
            tops.add(bottoms.get(above) or before or _after(started))
        return tops

    def _read_again(self, listing: str, bounds, started: str) -> None:
        """Keep the whole range of ``listing`` for a later run (its top as an unread cut). The
        listing of new posts has no top: its gap ends a second past the run's start, the next
        watermark (modified_after and modified_before are both strict: a gap ending at the
        watermark itself would leave out the posts of that very second)."""
        self._wp_unread.setdefault(listing, set()).add(bounds[1] or _after(started))

    def _wp_done(self, source: Source, failed: bool = False, listing: str | None = None) -> bool:
        listing = listing or listing_key(source, 0)
        if failed:  # the listing of new posts: no state this run; a gap's: that gap kept whole
            self._wp_failed.add(listing)
        left = self._wp_pending.get(listing, 1) - 1
        self._wp_pending[listing] = left
        return left <= 0

    def _release_listings(self, source: Source):
        """The source's feeds and sitemaps, once its API listing of new posts is over (read
        or failed); the gaps' listings go on beside them."""
        if self._wp_pending.get(listing_key(source, 0), 1) <= 0:
            yield from self._after_api.pop(source.name, [])
