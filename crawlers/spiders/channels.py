"""A public Telegram channel's preview pages as a source's listing: new posts read back to the
newest one stored, and older history read on, a page budget at a time, once caught up."""

from __future__ import annotations

from datetime import UTC, datetime

from crawlers.entries.telegram import parse_channel, post_title
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.records import EntryState, PageRecord


def history_key(channel: str) -> str:
    """Where a channel's history cursor is kept in crawl_state (beside its newest post id)."""
    return f"{channel}?narrascope-cursor=history"


class ChannelListing:
    """Callbacks of SourceSpider for a source's ``telegram`` channels; they use the spider's
    requests (``_request``), page budget (``_spend``) and ``telegram_pages``."""

    def _channel_start(self, source: Source, url: str, state: dict):
        """The channel's newest page; ``known`` is the newest post id stored before, and
        ``resume`` where an earlier run stopped reading older history (if it did)."""

        def stored_id(key: str) -> int | None:
            seen = state.get(canonical_or_none(key))
            return int(seen.lastmod) if seen and (seen.lastmod or "").isdigit() else None

        known, resume = stored_id(url), stored_id(history_key(url))
        return self._request(
            url,
            self.parse_channel,
            source,
            cb_kwargs={
                "key": url,
                "known": known,
                "pages": 1,
                "top": None,
                "resume": resume or None,
            },  # fmt: skip
            dont_filter=True,
        )

    def parse_channel(self, response, source: Source, key, known, pages, top, resume=None,
                      backfill=False):  # fmt: skip
        """One preview page. New posts are read back to ``known`` (the newest stored before);
        when the page limits stop a run short of that, the id it stopped at is kept as a
        cursor (``resume``), and a later run, once caught up, reads on from there."""
        self.health[source.name]["fetched"] += 1
        posts, before = parse_channel(response.text)
        fetched_at = datetime.now(UTC)
        if not backfill:
            top = max([top or 0, *(p.post_id for p in posts)]) or None
        last = None  # the oldest post stored from this page
        for post in reversed(posts):  # newest first, so the page budget keeps the latest
            if not backfill and known is not None and post.post_id <= known:
                continue
            if not post.text:
                continue
            if not self._spend(source):  # the rest of the page waits for a later run:
                before = last if last is not None else post.post_id + 1  # read on from here
                break
            last = post.post_id
            yield PageRecord(
                url=post.url, source=source.name, origin="crawl", fetched_at=fetched_at,
                text=post.text, http_status=response.status, hint_title=post_title(post.text),
                hint_published_at=post.published,
                meta={"channel": post.channel, "post_id": post.post_id, "views": post.views,
                      "forwarded_from": post.forwarded_from, "links": post.links},
                warc=response.meta.get("warc"),
            )  # fmt: skip
        room = pages < self.telegram_pages and self.budget[source.name] > 0
        cursor = history_key(key)
        unread = before is not None and (backfill or known is None or before - 1 > known)
        follow = {"key": key, "known": known, "pages": pages + 1, "top": top, "resume": resume}
        if unread and room:
            yield self._request(f"{key.split('?')[0]}?before={before}", self.parse_channel,
                                source, cb_kwargs={**follow, "backfill": backfill})  # fmt: skip
            return
        if not backfill and top is not None:
            yield EntryState(key, source.name, "telegram", fetched_at, lastmod=str(top))
        if unread:  # stopped by the limits: older history waits for the next run
            yield EntryState(cursor, source.name, "telegram-history", fetched_at, str(before))
        elif backfill:  # the start of the channel: nothing older to read
            yield EntryState(cursor, source.name, "telegram-history", fetched_at, "0")
        elif resume and room:  # caught up with new posts: read on into older history
            yield self._request(f"{key.split('?')[0]}?before={resume}", self.parse_channel,
                                source, cb_kwargs={**follow, "backfill": True})  # fmt: skip
