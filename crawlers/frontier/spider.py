"""The source spider on a frontier: what it keeps per run (page budgets, the URLs already
requested, a WordPress listing's progress, who queues the entry points) lives in Redis, so
that any crawler can handle any request; crawl state is read from what ingest published."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from crawlers.frontier import key
from crawlers.frontier import scripts as lua
from crawlers.spiders.sources import MAX_CHILD_SITEMAPS, SourceSpider
from crawlers.spiders.wordpress import listing_key
from storage.crawlstate import Seen


class SharedSet:
    """The part of a set the spider uses (``in``, ``add``, iteration), kept in a Redis set."""

    def __init__(self, server, name: str):
        self.server, self.name = server, name

    def __contains__(self, member) -> bool:
        return member is not None and bool(self.server.sismember(self.name, member))

    def add(self, member) -> None:
        if member is not None:
            self.server.sadd(self.name, member)

    def __iter__(self):
        return (m.decode() if isinstance(m, bytes) else m for m in self.server.smembers(self.name))


class RequestedSet:
    """The spider's ``_requested`` (canonical URLs requested in this run), in a Redis hash
    that remembers which handling marked each URL: a response handled again after its
    crawler died (or failed to push) requests its links again; the duplicate filter then
    drops those that were queued the first time, and no link is lost between the two."""

    def __init__(self, server, name: str, handling):
        self.server, self.name, self.handling = server, name, handling
        self._check = server.register_script(lua.REQUESTED)

    def __contains__(self, member) -> bool:
        return member is not None and bool(
            self._check(keys=[self.name], args=[member, self.handling()])
        )

    def add(self, member) -> None:
        if member is not None:
            self.server.hsetnx(self.name, member, self.handling())


class SharedSets:
    """Source name -> SharedSet (the spider's ``_api_urls``)."""

    def __init__(self, server, prefix: str):
        self.server, self.prefix = server, prefix

    def setdefault(self, name: str, _default=None) -> SharedSet:
        return SharedSet(self.server, key(self.prefix, name))

    get = setdefault


class SharedCounts:
    """Source name -> integer, in a Redis hash (the spider's ``budget``, ``_wp_pending``);
    ``once``: only the first value set counts (a WordPress listing's page count, set again
    when its first page is handled again after its crawler died)."""

    def __init__(self, server, name: str, once: bool = False):
        self.server, self.name, self.once = server, name, once

    def get(self, source: str, default: int | None = None) -> int | None:
        value = self.server.hget(self.name, source)
        return default if value is None else int(value)

    def __getitem__(self, source: str) -> int:
        return self.get(source, 0)

    def __setitem__(self, source: str, value: int) -> None:
        if self.once:
            self.server.hsetnx(self.name, source, int(value))
        else:
            self.server.hset(self.name, source, int(value))

    def setdefault(self, source: str, value: int) -> None:
        self.server.hsetnx(self.name, source, int(value))

    def take(self, source: str) -> int:
        """One off, atomically; returns what is left (negative once none was left)."""
        return int(self.server.hincrby(self.name, source, -1))


def seen_to_json(seen: Seen) -> str:
    return json.dumps({"kind": seen.kind, "etag": seen.etag, "last_modified": seen.last_modified,
                       "lastmod": seen.lastmod,
                       "last_fetched_at": seen.last_fetched_at.isoformat()})  # fmt: skip


def seen_from_json(data: str | bytes) -> Seen:
    obj = json.loads(data)
    fetched = datetime.fromisoformat(obj["last_fetched_at"])
    if fetched.tzinfo is None:
        fetched = fetched.replace(tzinfo=UTC)
    return Seen(obj["kind"], obj["etag"], obj["last_modified"], obj["lastmod"], fetched)


class FrontierSpider(SourceSpider):
    """SourceSpider whose run-wide bookkeeping is shared through the frontier ``server``."""

    #: checks of pages fetched before go on the shared queue with the rest: held in one
    #: crawler's memory, they would be lost with it, and the crawlers end together once the
    #: queue is empty and none has anything in flight (crawlers/frontier/scheduler.py)
    hold_checks = False

    def __init__(self, *args, server, worker: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.server = server
        self.worker = worker
        self.budget = SharedCounts(server, key("budget"))
        self._requested = RequestedSet(server, key("requested"), self._handling_id)
        self._wp_pending = SharedCounts(server, key("wp", "pending"), once=True)
        self._sitemaps_left = SharedCounts(server, key("sitemaps", "left"))
        self._wp_failed = SharedSet(server, key("wp", "failed"))
        self._api_urls = SharedSets(server, "wp:api")
        self._wp_last = SharedCounts(server, key("wp", "last"), once=True)
        self._wp_unread = SharedSets(server, "wp:unread")
        self._wp_capped = SharedSets(server, "wp:capped")
        self._wp_pages = SharedCounts(server, key("wp", "pages"), once=True)
        self._spend_once = server.register_script(lua.SPEND)
        self._wp_once = server.register_script(lua.WP_DONE)
        self._claim = server.register_script(lua.CLAIM)
        self._unclaim = server.register_script(lua.UNCLAIM)
        # what the callback running now is handling: (what it is, spends so far), set by
        # _handling before each step of the callback (they run on the reactor thread)
        self._handling_now: tuple[str, list[int]] | None = None

    def _handling_id(self) -> str:
        return self._handling_now[0] if self._handling_now else ""

    def meta_for(self, source) -> dict:
        """The meta the spider gives a request of ``source`` (queued requests get theirs
        rebuilt from it, crawlers/frontier/queue.py)."""
        return self._meta(source)

    def _handling(self, what: str, steps):
        """Run the generator ``steps`` with ``what`` as the handling in progress, so that a
        request handled again (its crawler died before it was finished) spends its budget and
        counts its WordPress page once."""
        spends = [0]
        while True:
            self._handling_now = (what, spends)
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                self._handling_now = None
            yield item

    def parse_wordpress(self, response, source, page, key, started, ranges, n=0, cap=1,
                        count=None):  # fmt: skip
        steps = super().parse_wordpress(response, source, page, key, started, ranges, n, cap,
                                        count)  # fmt: skip
        yield from self._handling(f"wp {page} {response.url}", steps)

    def parse_channel(self, response, source, key, known, pages, top, gaps=(), backfill=False):
        steps = super().parse_channel(response, source, key, known, pages, top, gaps, backfill)
        yield from self._handling(f"channel {response.url}", steps)

    def _follow(self, source, links, response, callback=None, **extra):
        steps = super()._follow(source, links, response, callback, **extra)
        yield from self._handling(f"follow {response.url}", steps)

    def _wp_page_failed(self, source, kw):
        """Any page of a listing that fails fails the listing whole here, as its first page
        does (the range is kept whole for a later run): which pages failed, and the dates
        that bound the pages read, are kept per process (SourceSpider), and the listing may
        end in another crawler, which would take it for read to its end."""
        yield from super()._wp_page_failed(source, {**kw, "page": 1})

    def failed(self, failure):
        page = failure.request.cb_kwargs.get("page")
        yield from self._handling(f"wp {page} {failure.request.url}", super().failed(failure))

    async def start(self):
        """Only the first crawler of a run queues the entry points; the others take requests
        from the shared queue."""
        for source in self.sources:
            self.budget.setdefault(source.name, source.max_pages)
            self._sitemaps_left.setdefault(source.name, MAX_CHILD_SITEMAPS)
        scheduler = self.frontier_scheduler
        try:
            if not self.server.hsetnx(key("run"), "seeded", self.worker):
                return
            scheduler.begin_seed()
            async for request in super().start():
                yield request
            scheduler.commit_seed()
        except Exception as err:  # noqa: BLE001 - any failure: let another crawler seed
            self._seed_failed(err)

    def _seed_failed(self, err) -> None:
        """Queueing the entry points failed: give the seeding back (if it is still ours) so
        that another crawler takes it, and stop (the others would wait for ever)."""
        scheduler = self.frontier_scheduler
        scheduler._seeding = None
        self.logger.error("could not queue the entry points: %s", err)
        try:
            self._unclaim(keys=[key("run")], args=["seeded", self.worker])
        except Exception as again:  # noqa: BLE001 - unclaimed once our heartbeat lapses
            self.logger.error("could not give the seeding back: %s", again)
        scheduler.stop("frontier_unreachable")

    def _state(self, keys) -> dict:
        """Crawl state from the snapshot ingest published (no database on a crawler host)."""
        keys = sorted({k for k in keys if k})
        if not keys:
            return {}
        horizon = datetime.now(UTC) - self.expiry
        found = {}
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            for k, data in zip(chunk, self.server.hmget(key("state"), chunk), strict=True):
                if data is not None:
                    seen = seen_from_json(data)
                    if seen.last_fetched_at >= horizon:
                        found[k] = seen
        return found

    def _take(self, counts: SharedCounts, spent: str, source) -> bool:
        """One off ``source``'s count in ``counts``, if any is left; once however often the
        request being handled is handled (its answers are kept in the hash ``spent``)."""
        if self._handling_now is None:
            return counts.take(source.name) >= 0
        what, spends = self._handling_now
        spends[0] += 1
        once = f"{source.name} {what} {spends[0]}"
        return bool(self._spend_once(keys=[counts.name, spent], args=[source.name, once]))

    def _spend(self, source) -> bool:
        return self._take(self.budget, key("spent"), source)

    def _child_sitemaps(self, source, children, response):
        steps = super()._child_sitemaps(source, children, response)
        yield from self._handling(f"sitemaps {response.url}", steps)

    def _take_sitemap(self, source) -> bool:
        """One more child sitemap of ``source`` in this run, counted across every crawler, and
        once however often its index is handled (as the page budget is)."""
        return self._take(self._sitemaps_left, key("sitemaps", "spent"), source)

    def _first_sitemap_cut(self, source) -> bool:
        """Whether this handling records ``source``'s cut: the first to cut does, and does
        again when it is handled again after its crawler died."""
        by = self._handling_id() or self.worker
        return bool(self._claim(keys=[key("sitemaps", "cut")], args=[source.name, by]))

    def _wp_done(self, source, failed: bool = False, listing: str | None = None) -> bool:
        listing = listing or listing_key(source, 0)  # the listing of new posts, or of a gap
        if failed:
            self._wp_failed.add(listing)
        if self._handling_now is None:
            return self._wp_pending.take(listing) <= 0
        scheduler = getattr(self, "frontier_scheduler", None)
        if scheduler is not None and scheduler._holding:
            return False  # this page's records were not pushed: it is handled again elsewhere
        page = self._handling_now[0].split(" ", 2)[1]
        left = self._wp_once(keys=[key("wp", "pending"), key("wp", "done", listing)],
                             args=[listing, page])  # fmt: skip
        return int(left) <= 0

    def _release_listings(self, source):
        """The source's feeds and sitemaps, once its API listing is over, by whichever
        crawler sees that first."""
        scheduler = getattr(self, "frontier_scheduler", None)
        if scheduler is not None and scheduler._holding:
            return  # nothing is pushed any more: the handling is redone elsewhere
        # marked with the handling, not the crawler: that handling redone (its crawler died
        # before the requests were queued) releases them again
        by = self._handling_id() or self.worker
        if self._wp_pending.get(listing_key(source, 0), 1) <= 0 and self._claim(
            keys=[key("wp", "released")], args=[source.name, by]
        ):
            yield from [self._request(url, self.parse_feed, source, dont_filter=True)
                        for url in source.feeds]  # fmt: skip
            yield from [self._request(url, self.parse_sitemap, source, dont_filter=True)
                        for url in source.sitemaps]  # fmt: skip

    def closed(self, reason) -> None:
        pass  # no database was opened

    def report(self, stats: dict) -> dict:
        """This crawler's part of the run's health (ingest sums the crawlers' reports)."""
        return {
            "type": "Health",
            "worker": self.worker,
            "health": {name: dict(counter) for name, counter in self.health.items()},
            "body_chars": self.body_chars,
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "refused": stats.get("frontier/refused", 0),
            "finish_reason": stats.get("finish_reason"),
        }
