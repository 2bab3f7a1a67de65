"""The WordPress REST API as a source's listing: posts delivered whole (HTML, title, dates,
author, categories), read back to the last complete read; the source's feeds and sitemaps wait
for it and leave to it the posts it delivered."""

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
        """Page 1 of the posts listing, modified since the last complete read (if any). When
        the page budget cut an earlier read short, this run reads on below where it stopped
        (the posts newer than that come through the source's feeds and sitemaps meanwhile,
        and through the API once the read is whole)."""
        seen = state.get(canonical_or_none(key))
        after = seen.lastmod if seen else None
        rest = state.get(canonical_or_none(older_key(key)))
        before, _, sweep = (rest.lastmod or "").partition("|") if rest else ("", "", "")
        if not (before and sweep):
            before, sweep = None, started
        kwargs = {"page": 1, "key": key, "started": sweep, "after": after, "before": before}
        return self._request(
            posts_url(source.home, 1, self.wp_per_page, after, before),
            self.parse_wordpress,
            source,
            cb_kwargs=kwargs,
            dont_filter=True,
        )

    def parse_wordpress(self, response, source: Source, page, key, started, after, before=None):
        self.health[source.name]["fetched"] += 1
        if response.status != 200:  # past the last page, or an API error
            self._wp_done(source, failed=page == 1)
            yield from self._release_listings(source)
            return
        try:
            posts = parse_posts(response.body)
        except ValueError as err:
            self._wp_done(source, failed=True)
            yield self._reject(source, response.url, "bad_api_response", str(err))
            yield from self._release_listings(source)
            return
        if page == 1:
            try:
                total = int(response.headers.get("X-WP-TotalPages", b"1"))
            except ValueError:
                total = 1
            cap = max(1, -(-source.max_pages // self.wp_per_page))
            self._wp_pending[source.name] = min(total, cap)
            self._wp_last[source.name] = cap if total > cap else 0  # pages left unasked
            for number in range(2, min(total, cap) + 1):
                yield self._request(
                    posts_url(source.home, number, self.wp_per_page, after, before),
                    self.parse_wordpress,
                    source,
                    cb_kwargs={
                        "page": number,
                        "key": key,
                        "started": started,
                        "after": after,
                        "before": before,
                    },  # fmt: skip
                )
        fetched_at = datetime.now(UTC)
        delivered = self._api_urls.setdefault(source.name, set())
        unread = []  # modified_before values that list again what this page leaves unread
        if page == self._wp_last.get(source.name) and posts:  # the pages after it: older
            unread.append(_after(min(p.meta.get("modified_gmt") or "" for p in posts)) or started)
        # reading on below a cut: posts an earlier run of this read stored as they are now
        # (those modified in the same second as the cut) cost no budget, or a read could stall
        keys = {canonical_or_none(p.url) for p in posts} - {None}
        stored = self._state(keys) if before and keys else {}
        for post in posts:
            if not source.allows(post.url):
                continue
            seen, modified = stored.get(canonical_or_none(post.url)), post.meta.get("modified_gmt")
            if (
                seen
                and seen.kind == "api-post"
                and (when := parse_date(modified))
                and (seen.last_fetched_at >= when)
            ):
                self.health[source.name]["skipped"] += 1
                continue
            if not self._spend(source):  # the budget is spent: the post waits for a later run
                unread.append(_after(post.meta.get("modified_gmt")) or started)
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
            cut.add(value)
        if self._wp_done(source) and source.name not in self._wp_failed:
            older = older_key(key)
            if rest := max(self._wp_unread.get(source.name, ()), default=None):  # cut short:
                yield EntryState(older, source.name, "wordpress-older", fetched_at,  # read on
                                 lastmod=f"{rest}|{started}")  # fmt: skip
            else:  # every post read: the next run asks only for those modified since it began
                yield EntryState(key, source.name, "wordpress", fetched_at, lastmod=started)
                if before:
                    yield EntryState(older, source.name, "wordpress-older", fetched_at, "")
        yield from self._release_listings(source)

    def _wp_done(self, source: Source, failed: bool = False) -> bool:
        if failed:
            self._wp_failed.add(source.name)
        left = self._wp_pending.get(source.name, 1) - 1
        self._wp_pending[source.name] = left
        return left <= 0

    def _release_listings(self, source: Source):
        """The source's feeds and sitemaps, once its API listing is over (read or failed)."""
        if self._wp_pending.get(source.name, 1) <= 0:
            yield from self._after_api.pop(source.name, [])
