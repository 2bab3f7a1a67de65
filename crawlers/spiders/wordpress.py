"""The WordPress REST API as a source's listing: posts delivered whole (HTML, title, dates,
author, categories), read back to the last complete read; the source's feeds and sitemaps wait
for it and leave to it the posts it delivered.

A read the page budget cuts short keeps a cursor (``older_key``): the newest modification
time left unread and when the read began. The next run first reads what changed since that
beginning (a monitor wants the new posts first), then, with the budget left, on down the
archive below the cursor, one listing after the other (the "older" listing's counters are
the source's name plus ``OLDER``). The watermark moves once nothing is left unread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawlers.entries.wordpress import parse_posts, posts_url
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.dates import parse_date
from storage.records import EntryState, PageRecord


def older_key(api: str) -> str:
    """Where a listing that the page budget cut short keeps the rest of its read (in
    crawl_state, beside the listing's watermark): "MODIFIED_BEFORE|SWEEP_STARTED"."""
    return f"{api}?narrascope-cursor=older"


OLDER = "|older"


def _after(modified: str | None) -> str | None:
    """A second past a post's modification time: ``modified_before`` that still lists it."""
    try:
        return (datetime.fromisoformat(modified) + timedelta(seconds=1)).isoformat()
    except (TypeError, ValueError):
        return None


class WordPressListing:
    """Callbacks of SourceSpider for a source with ``wordpress = true``; they use the spider's
    requests (``_request``), page budget (``_spend``), rejections and run-wide bookkeeping."""

    def _wordpress_start(self, source: Source, key: str, state: dict, started: str):
        """Page 1 of the posts listing, modified since the last complete read (if any), or,
        where a read is under way, since it began (then on down the archive: ``rest``)."""
        seen = state.get(canonical_or_none(key))
        after = seen.lastmod if seen else None
        cursor = state.get(canonical_or_none(older_key(key)))
        before, _, began = (cursor.lastmod or "").partition("|") if cursor else ("", "", "")
        rest = {"after": after, "before": before} if before and began else None
        fresh = began if rest else after
        return self._wp_page(source, 1, key, started, fresh, None, rest, source.name,
                             dont_filter=True)  # fmt: skip

    def _wp_page(self, source, page, key, started, after, before, rest, listing, **kwargs):
        return self._request(
            posts_url(source.home, page, self.wp_per_page, after, before),
            self.parse_wordpress,
            source,
            cb_kwargs={
                "page": page,
                "key": key,
                "started": started,
                "after": after,
                "before": before,
                "rest": rest,
                "listing": listing,
            },  # fmt: skip
            **kwargs,
        )

    def parse_wordpress(self, response, source: Source, page, key, started, after, before=None,
                        rest=None, listing=None):  # fmt: skip
        listing = listing or source.name
        self.health[source.name]["fetched"] += 1
        if response.status != 200:  # past the last page, or an API error
            self._wp_done(source, failed=page == 1, listing=listing)
            yield from self._release_listings(source)
            return
        try:
            posts = parse_posts(response.body)
        except ValueError as err:
            self._wp_done(source, failed=True, listing=listing)
            yield self._reject(source, response.url, "bad_api_response", str(err))
            yield from self._release_listings(source)
            return
        if page == 1:
            try:
                total = int(response.headers.get("X-WP-TotalPages", b"1"))
            except ValueError:
                total = 1
            budget = source.max_pages if listing == source.name else self.budget[source.name]
            cap = max(1, -(-budget // self.wp_per_page))
            self._wp_pending[listing] = min(total, cap)
            self._wp_last[listing] = cap if total > cap else 0  # pages left unasked
            for number in range(2, min(total, cap) + 1):
                yield self._wp_page(source, number, key, started, after, before, rest, listing)
        fetched_at = datetime.now(UTC)
        delivered = self._api_urls.setdefault(source.name, set())
        unread = []  # modified_before values that list again what this page leaves unread
        dated = [m for p in posts if (m := p.meta.get("modified_gmt"))]
        if page == self._wp_last.get(listing) and dated:  # the pages after it: older ones
            unread.append(_after(min(dated)))
        # posts stored as they are now (read on an earlier run, or modified in the second of
        # a cut) cost no budget: a read below a cut lists some again
        keys = {canonical_or_none(p.url) for p in posts} - {None}
        stored = self._state(keys) if keys else {}
        for post in posts:
            if not source.allows(post.url):
                continue
            seen, modified = stored.get(canonical_or_none(post.url)), post.meta.get("modified_gmt")
            when = parse_date(modified)
            if seen and seen.kind == "api-post" and when and seen.last_fetched_at >= when:
                self.health[source.name]["skipped"] += 1
                continue
            if not self._spend(source):  # the budget is spent: the post waits for a later run
                unread.append(_after(modified))  # (one of no date cannot be found again)
                continue
            delivered.add(canonical_or_none(post.url))
            yield PageRecord(
                url=post.url, source=source.name, origin="crawl", fetched_at=fetched_at,
                html=post.html, http_status=200, content_type="text/html", encoding="utf-8",
                hint_title=post.title, hint_published_at=post.published, author=post.author,
                categories=post.categories, meta={**post.meta, "api_url": response.url},
                warc=response.meta.get("warc"),
            )  # fmt: skip
        cut = self._wp_unread.setdefault(source.name, set())
        for value in unread:
            if value:
                cut.add(value)
        if self._wp_done(source, listing=listing) and source.name not in self._wp_failed:
            if rest and self.budget[source.name] <= 0:  # no budget left: next run, as it was
                self._wp_unread.setdefault(source.name, set()).add(rest["before"])
                yield from self._wp_read(source, key, None, fetched_at, started)
            elif rest:  # the new posts read: on down the archive, with the budget left
                yield self._wp_page(source, 1, key, started, rest["after"], rest["before"],
                                    None, source.name + OLDER, dont_filter=True)  # fmt: skip
            else:
                yield from self._wp_read(source, key, before, fetched_at, started)
        yield from self._release_listings(source)

    def _wp_read(self, source: Source, key: str, before, fetched_at, started: str):
        """The state a finished run leaves: the cursor where posts were left unread (this
        run's start as the read's beginning: everything newer was read), else the watermark."""
        older = older_key(key)
        left = max(self._wp_unread.get(source.name, ()), default=None)
        if left and before and left >= before:  # no way down: the listed pages were all of
            self.logger.warning(  # one modification second; its other posts are left out
                "%s: more posts modified in one second than a run lists (before %s): "
                "reading on below them", source.name, before)  # fmt: skip
            left = (datetime.fromisoformat(before) - timedelta(seconds=1)).isoformat()
        if left:
            yield EntryState(older, source.name, "wordpress-older", fetched_at,
                             lastmod=f"{left}|{started}")  # fmt: skip
        else:  # every post read: the next run asks only for those modified since it began
            yield EntryState(key, source.name, "wordpress", fetched_at, lastmod=started)
            if before:
                yield EntryState(older, source.name, "wordpress-older", fetched_at, "")

    def _wp_done(self, source: Source, failed: bool = False, listing: str | None = None) -> bool:
        if failed:
            self._wp_failed.add(source.name)
        listing = listing or source.name
        left = self._wp_pending.get(listing, 1) - 1
        self._wp_pending[listing] = left
        return left <= 0

    def _release_listings(self, source: Source):
        """The source's feeds and sitemaps, once its API listing of new posts is over (read
        or failed); a read on down the archive goes on beside them."""
        if self._wp_pending.get(source.name, 1) <= 0:
            yield from self._after_api.pop(source.name, [])
