"""The WordPress REST API as a source's listing: posts delivered whole (HTML, title, dates,
author, categories), read back to the last complete read; the source's feeds and sitemaps wait
for it and leave to it the posts it delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from crawlers.entries.wordpress import parse_posts, posts_url
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.records import EntryState, PageRecord


class WordPressListing:
    """Callbacks of SourceSpider for a source with ``wordpress = true``; they use the spider's
    requests (``_request``), page budget (``_spend``), rejections and run-wide bookkeeping."""

    def _wordpress_start(self, source: Source, key: str, state: dict, started: str):
        """Page 1 of the posts listing, modified since the last complete read (if any)."""
        seen = state.get(canonical_or_none(key))
        after = seen.lastmod if seen else None
        kwargs = {"page": 1, "key": key, "started": started, "after": after}
        return self._request(
            posts_url(source.home, 1, self.wp_per_page, after),
            self.parse_wordpress,
            source,
            cb_kwargs=kwargs,
            dont_filter=True,
        )

    def parse_wordpress(self, response, source: Source, page, key, started, after):
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
            for number in range(2, min(total, cap) + 1):
                yield self._request(
                    posts_url(source.home, number, self.wp_per_page, after),
                    self.parse_wordpress,
                    source,
                    cb_kwargs={"page": number, "key": key, "started": started, "after": after},
                )
        fetched_at = datetime.now(UTC)
        delivered = self._api_urls.setdefault(source.name, set())
        for post in posts:
            if not source.allows(post.url) or not self._spend(source):
                continue
            delivered.add(canonical_or_none(post.url))
            yield PageRecord(
                url=post.url, source=source.name, origin="crawl", fetched_at=fetched_at,
                html=post.html, http_status=200, content_type="text/html", encoding="utf-8",
                hint_title=post.title, hint_published_at=post.published, author=post.author,
                categories=post.categories, meta={**post.meta, "api_url": response.url},
                warc=response.meta.get("warc"),
            )  # fmt: skip
        if self._wp_done(source) and source.name not in self._wp_failed:
            # every page read: the next run asks only for posts modified since this one began
            yield EntryState(key, source.name, "wordpress", fetched_at, lastmod=started)
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
