"""A public Telegram channel's preview pages as a source's listing: new posts read back to the
newest one stored, and the gaps that earlier runs left (older history, or new posts a budget
cut) read on, a page budget at a time, once caught up."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from crawlers.entries.telegram import parse_channel, post_title
from crawlers.sources import Source
from storage.crawlstate import canonical_or_none
from storage.records import EntryState, PageRecord


def history_key(channel: str) -> str:
    """Where a channel's unread gaps are kept in crawl_state (beside its newest post id)."""
    return f"{channel}?narrascope-cursor=history"


def parse_gaps(text: str | None) -> list[list[int]]:
    """The unread gaps of a channel, newest first: ``[above, below]`` pairs, each the post ids
    strictly between them (``below`` 0: down to the channel's start). Stored as
    ``"above>below,..."``; a bare ``"above"`` (the one cursor of earlier versions) is a gap
    down to the start, and ``"0"`` or nothing, none."""
    gaps = []
    for part in (text or "").split(","):
        above, _, below = part.strip().partition(">")
        if above.isdigit() and (not below or below.isdigit()):
            gap = [int(above), int(below or 0)]
            if gap[0] > gap[1] + 1:
                gaps.append(gap)
    return gaps


def format_gaps(gaps: list[list[int]]) -> str:
    return ",".join(f"{above}>{below}" for above, below in gaps) or "0"


class ChannelListing:
    """Callbacks of SourceSpider for a source's ``telegram`` channels; they use the spider's
    requests (``_request``), page budget (``_spend``) and ``telegram_pages`` (pages read back
    a run, beside the newest page)."""

    def _channel_start(self, source: Source, url: str, state: dict):
        """The channel's newest page; ``known`` is the newest post id stored before, and
        ``gaps`` what earlier runs left unread (parse_gaps)."""
        cursor = state.get(canonical_or_none(history_key(url)))
        seen = state.get(canonical_or_none(url))
        known = int(seen.lastmod) if seen and (seen.lastmod or "").isdigit() else None
        return self._request(
            url,
            self.parse_channel,
            source,
            cb_kwargs={
                "key": url,
                "known": known,
                "pages": 1,
                "top": None,
                "gaps": parse_gaps(cursor.lastmod if cursor else None),
            },  # fmt: skip
            dont_filter=True,
        )

    def parse_channel(self, response, source: Source, key, known, pages, top, gaps=(),
                      backfill=False):  # fmt: skip
        """One preview page. New posts are read back to ``known`` (the newest stored before).
        Where the limits cut that read short, the posts between the cut and ``known`` become
        the first gap; a run that caught up reads on into the gaps, newest first
        (``backfill``: this page is of ``gaps[0]``). Gaps and the newest id are written
        where the run's reading of the channel ends."""
        self.health[source.name]["fetched"] += 1
        posts, before = parse_channel(response.text)
        fetched_at = datetime.now(UTC)
        gaps = [list(gap) for gap in gaps]
        if backfill:
            above, floor = gaps[0]
        else:
            above, floor = None, known or 0
            top = max([top or 0, known or 0, *(p.post_id for p in posts)]) or None
        last = None  # the oldest post stored from this page
        for post in reversed(posts):  # newest first, so the page budget keeps the latest
            if post.post_id <= floor or (above is not None and post.post_id >= above):
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
        unread = before is not None and before - 1 > floor
        if backfill:  # what is left of this gap, then the older ones
            rest = [[before if unread else floor, floor], *gaps[1:]]
        else:  # the new posts below a cut come before every older gap
            rest = [[before, floor], *gaps] if unread else gaps
        rest = _open(rest)
        room = pages <= self.telegram_pages and self.budget[source.name] > 0  # pages back
        follow = {"key": key, "known": known, "pages": pages + 1, "top": top}
        if room and unread and not backfill:  # more new posts
            yield self._request(f"{key.split('?')[0]}?before={before}", self.parse_channel,
                                source, cb_kwargs={**follow, "gaps": gaps})  # fmt: skip
            return
        if not backfill and top is not None:  # the new posts are read (or cut: a gap now)
            yield EntryState(key, source.name, "telegram", fetched_at, lastmod=str(top))
        if room and rest:  # caught up: read on into the gaps, newest first
            yield self._request(f"{key.split('?')[0]}?before={rest[0][0]}", self.parse_channel,
                                source, cb_kwargs={**follow, "gaps": rest, "backfill": True})  # fmt: skip
            return
        yield EntryState(history_key(key), source.name, "telegram-history", fetched_at,
                         format_gaps(rest))  # fmt: skip

    def _channel_failed(self, source: Source, request):
        """A page of a channel's history that failed (429 after its retries, a server error,
        a timeout): what the run read above it is kept as if the page budget had cut the
        read there, the newest post id and the posts below the page as the first gap, so
        the next run reads on from the page. (Nothing was kept before: every run read the
        same newest pages again, and a channel that rate-limits after a few pages was never
        read below them.) The newest page failing leaves the state as it was."""
        kw = request.cb_kwargs
        before = _before(request.url)
        if before is None:
            return
        now = datetime.now(UTC)
        gaps = [list(gap) for gap in kw.get("gaps", ())]
        if not kw.get("backfill"):  # reading new posts: the ones below the page are a gap
            gaps = [[before, kw["known"] or 0], *gaps]
            if kw["top"] is not None:
                yield EntryState(kw["key"], source.name, "telegram", now, lastmod=str(kw["top"]))
        # reading a gap: the gap is kept from this page down (gaps[0] starts at it)
        yield EntryState(history_key(kw["key"]), source.name, "telegram-history", now,
                         format_gaps(_open(gaps)))  # fmt: skip


def _open(gaps: list[list[int]]) -> list[list[int]]:
    """The gaps that still hold a post id."""
    return [gap for gap in gaps if gap[0] > gap[1] + 1]


def _before(url: str) -> int | None:
    """The post id a channel page's address pages back from (None: the newest page)."""
    value = parse_qs(urlsplit(url).query).get("before", [""])[0]
    return int(value) if value.isdigit() else None
