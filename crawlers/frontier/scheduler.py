"""scrapy-redis's scheduler, made safe for crawlers that come and go: a request popped from
the shared queue is kept in the crawler's in-flight hash until its response (or failure) has
been handled completely, items pushed and follow-up requests queued; a crawler that dies
(its heartbeat lapses) has its in-flight requests put back by the others. A crawler stops once
the entry points are queued, the queue is empty and no crawler has anything in flight.

Requests travel as JSON (crawlers/frontier/queue.py), not as pickles, and what comes off the
queue is checked: whoever can write to Redis must not be able to run code on the crawlers or
change what they may fetch. An entry that fails the checks is dropped and counted.

A crawler stops on its own (and exits non-zero) when the others declared it dead
('evicted'), when a new run replaced its run ('run_changed'), when ingest is gone
('ingest_gone'), or when Redis stays unreachable or refuses a push ('frontier_unreachable');
it also exits non-zero when its closing report could not be pushed.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.scheduler import Scheduler

from crawlers.frontier import INGEST_KEY, key
from crawlers.frontier import scripts as lua

log = logging.getLogger(__name__)

#: how often an idle crawler looks at the shared queue (scrapy's own heartbeat is 5 s)
POLL_SECONDS = 0.1
#: entries refused in one go before the engine gets its turn again
_REFUSE_RUN = 100


class FrontierScheduler(Scheduler):
    """scrapy-redis's Scheduler (queue, RFPDupeFilter), persistent across crawlers, with a
    reliable pop, heartbeats and a shared end of the crawl."""

    worker: str = ""
    run_id: str = ""
    timeout: float = 15.0
    crawler = None
    _lost_since: float | None = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        scheduler = cls.from_settings(settings)
        scheduler.stats = crawler.stats
        scheduler.crawler = crawler
        scheduler.worker = settings.get("NARRASCOPE_FRONTIER_WORKER")
        scheduler.run_id = settings.get("NARRASCOPE_FRONTIER_RUN", "")
        scheduler.timeout = settings.getfloat("NARRASCOPE_FRONTIER_TIMEOUT", 15.0)
        return scheduler

    def open(self, spider):
        # scrapy-redis's open, less its flush and its Spider.log (deprecated in Scrapy 2.19)
        from scrapy.utils.misc import load_object

        self.spider = spider
        self.queue = load_object(self.queue_cls)(
            server=self.server, spider=spider, key=self.queue_key % {"spider": spider.name},
            serializer=self.serializer,
        )  # fmt: skip
        if not self.df:
            self.df = load_object(self.dupefilter_cls).from_spider(spider)
        self._pop = self.server.register_script(lua.POP)
        self._recover = self.server.register_script(lua.RECOVER)
        self._requeue = self.server.register_script(lua.REQUEUE)
        self._done = self.server.register_script(lua.DONE)
        self._orphaned = self.server.register_script(lua.ORPHANED)
        self._enqueue = self.server.register_script(lua.ENQUEUE)
        self._seeding: list | None = None
        self._unfinished: list[str] = []  # finished here, HDEL not yet through
        self._holding = False  # a push failed: nothing counts as finished any more
        self._verdict: str | None = None  # set by the heartbeat: why this crawler must stop
        self._stopping: str | None = None
        self.refused = 0
        spider.frontier_scheduler = self
        self._inflight = key("inflight", self.worker)
        self._keys = [self.queue.key, key("workers"), key("run")]
        self._register()
        self.crawler.signals.connect(self._idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._callback_failed, signal=signals.spider_error)
        self._wrap_engine()
        from scrapy.utils.asyncio import create_looping_call

        self._poller = create_looping_call(self._poke)
        self._poller.start(POLL_SECONDS, now=False)

    # -- heartbeat ---------------------------------------------------------------------------

    def _register(self) -> None:
        self._stop = threading.Event()
        with self.server.pipeline() as pipe:
            pipe.sadd(key("workers"), self.worker)
            pipe.set(key("worker", self.worker), "1", px=int(self.timeout * 1000))
            pipe.execute()
        # a thread, not the reactor: a long parse must not make the others think we died
        self._beat = threading.Thread(target=self._heartbeat, name="frontier-heartbeat",
                                      daemon=True)  # fmt: skip
        self._beat.start()

    def _heartbeat(self) -> None:
        interval = max(0.2, self.timeout / 5)
        while not self._stop.wait(interval):
            try:
                with self.server.pipeline(transaction=False) as pipe:
                    pipe.set(key("worker", self.worker), "1", px=int(self.timeout * 1000))
                    pipe.sismember(key("workers"), self.worker)
                    pipe.hget(key("run"), "run_id")
                    pipe.exists(INGEST_KEY)
                    _, member, run_id, ingest = pipe.execute()
            except Exception as err:  # noqa: BLE001 - keep beating; Redis may come back
                log.warning("frontier heartbeat failed: %s", err)
                continue
            if (run_id or b"").decode() != self.run_id:
                self._verdict = "run_changed"
            elif not member:
                self._verdict = "evicted"
            elif not ingest:
                self._verdict = "ingest_gone"

    # -- the engine's side -------------------------------------------------------------------

    def _wrap_engine(self) -> None:
        """Mark a request finished when the engine lets go of it: after its response went
        through the callback (items pushed, new requests queued) or its failure through the
        errback, or after a redirect was queued. Scrapy has no signal for that moment, so the
        engine's own bookkeeping call is wrapped (tests/crawlers/test_redis_frontier.py)."""
        engine = self.crawler.engine
        original = engine._remove_request

        def remove_request(result, request):
            try:
                return original(result, request)
            finally:
                self.finished(request)

        engine._remove_request = remove_request

    def _poke(self) -> None:
        """Let the engine ask for requests again: another crawler may have queued some."""
        if self._verdict is not None:
            self.stop(self._verdict)
            return
        if self._unfinished:
            self._retry_unfinished()
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and slot.closing is None:
            slot.nextcall.schedule()

    def _retry_unfinished(self) -> None:
        from redis import RedisError

        try:
            self.server.hdel(self._inflight, *self._unfinished)
            self._unfinished.clear()
        except RedisError as err:
            self._unreachable(err)

    def _idle(self, spider) -> None:
        from redis import RedisError

        try:
            self._idle_check()
        except RedisError as err:
            self._unreachable(err)
            raise DontCloseSpider from err

    def _idle_check(self) -> None:
        if self._stopping:
            return
        if self._unfinished:
            self.server.hdel(self._inflight, *self._unfinished)
            self._unfinished.clear()
        # idle: nothing is held here, so anything still listed as ours goes back
        if moved := self._requeue(keys=[self.queue.key, self._inflight]):
            log.warning("put back %d requests this crawler no longer held", moved)
        if self._orphaned(keys=[key("run")], args=[key("worker", "")]):
            log.warning("the crawler queueing the entry points died: this one queues them")
            seeding = deferred_from_coro(self._seed())
            seeding.addErrback(lambda f: log.error("could not queue the entry points: %s", f.value))
        self._recover(keys=self._keys[:2],
                      args=[key("worker", ""), key("inflight", ""), ""])  # fmt: skip
        if not self._done(keys=self._keys, args=[key("inflight", "")]):
            raise DontCloseSpider

    async def _seed(self) -> None:
        async for request in self.spider.start():
            self.crawler.engine.crawl(request)

    def begin_seed(self) -> None:
        """Hold the entry points back until all are known: they are queued in one step
        (``commit_seed``), so a crawler that dies meanwhile leaves nothing half-queued."""
        self._seeding = []

    def commit_seed(self) -> None:
        held, self._seeding = self._seeding or [], None
        with self.server.pipeline() as pipe:  # MULTI/EXEC
            for request in held:
                pipe.execute_command("ZADD", self.queue.key, -request.priority,
                                     self.queue._encode_request(request))  # fmt: skip
            pipe.hset(key("run"), "seeded", "done")
            pipe.execute()

    def finished(self, request) -> None:
        """The request is handled: off this crawler's in-flight hash (later, if Redis does
        not answer now; never, once a push failed: then it is crawled again)."""
        from crawlers.deadline import DROPPED

        held = request.meta.pop("frontier_id", None)
        # dropped unfetched at the time limit: it goes back on the queue at close
        if held is None or self._holding or request.meta.get(DROPPED):
            return
        self._forget(held)

    def _forget(self, held: str) -> None:
        """Take ``held`` out of this crawler's in-flight requests; while Redis does not
        answer, remember it (deleted once Redis answers again) and say Redis is lost."""
        from redis import RedisError

        try:
            self.server.hdel(self._inflight, held)
        except RedisError as err:
            self._unfinished.append(held)
            self._unreachable(err)

    def _callback_failed(self, failure, response, spider) -> None:
        """A callback that lost Redis midway (the budget, the requested set) has pushed only
        part of what it found: its request is crawled again, as after a failed push."""
        from redis import RedisError

        if failure.check(RedisError):
            self.push_failed(failure.value)

    def push_failed(self, err) -> None:
        """An item or a follow-up request could not be pushed: what is in flight here stays
        there (the others, or the next run, crawl it again) and this crawler stops."""
        if not self._holding:
            self._holding = True
            log.error("could not push to the frontier (%s): stopping this crawler", err)
        self.stop("frontier_unreachable")

    # -- scrapy's scheduler interface --------------------------------------------------------

    def enqueue_request(self, request):
        from redis import RedisError

        if self._holding:
            return False
        request.meta.pop("frontier_id", None)  # a redirect carries its parent's
        try:
            if self._seeding is not None:
                if not request.dont_filter and self.df.request_seen(request):
                    self.df.log(request, self.spider)
                    return False
                self._seeding.append(request)
                return True
            filtered = not request.dont_filter
            fingerprint = self.df.request_fingerprint(request) if filtered else ""
            if not self._enqueue(keys=[self.df.key, self.queue.key],
                                 args=[fingerprint, -request.priority,
                                       self.queue._encode_request(request),
                                       "1" if filtered else "0"]):  # fmt: skip
                self.df.log(request, self.spider)
                return False
        except RedisError as err:
            self.push_failed(err)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        from redis import RedisError

        if self._stopping:
            return None
        for _ in range(_REFUSE_RUN):
            try:
                popped = self._pop(keys=[self.queue.key, self._inflight, key("seq"),
                                         key("workers"), key("run")],
                                   args=[self.worker, self.run_id])  # fmt: skip
            except RedisError as err:
                self._unreachable(err)
                return None
            self._lost_since = None
            if popped in (-1, -2):
                self.stop("evicted" if popped == -1 else "run_changed")
                return None
            if not popped:
                return None
            held, data = (v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                          for v in popped)  # fmt: skip
            try:
                request = self.queue._decode_request(data)
            except Exception as err:  # noqa: BLE001 - any entry that does not decode is refused
                # (not only ValueError: JSON nested 100,000 deep raises RecursionError); an
                # entry left in flight would be put back and popped again for ever
                self._refuse(held, data, err)
                continue
            request.meta["frontier_id"] = held
            if self.stats:
                self.stats.inc_value("scheduler/dequeued/redis")
            return request
        return None

    def _refuse(self, held: str, data: str, err: Exception) -> None:
        """Drop a queue entry the crawler cannot run: logged, counted, not in flight."""
        self.refused += 1
        if self.stats:
            self.stats.inc_value("frontier/refused")
        log.warning("refused a queue entry (%s): %.200s", err, data)
        self._forget(held)

    def has_pending_requests(self):
        from redis import RedisError

        try:
            return len(self) > 0
        except RedisError as err:
            self._unreachable(err)
            return False

    def _unreachable(self, err) -> None:
        """Redis went away: keep trying for the heartbeat timeout, then stop this crawler
        (what it held in flight is put back by the others, or by the next run)."""
        now = time.monotonic()
        if self._lost_since is None:
            self._lost_since = now
            log.warning("frontier unreachable (%s): retrying for %.0f s", err, self.timeout)
        elif now - self._lost_since > self.timeout:
            self.stop("frontier_unreachable")

    def stop(self, reason: str) -> None:
        """Close this crawler (once) with ``reason`` as its finish reason."""
        engine = self.crawler.engine
        if self._stopping or engine is None or engine.spider is None:
            return
        self._stopping = reason
        if self._poller.running:
            self._poller.stop()
        log.error("stopping this crawler: %s", reason)
        deferred_from_coro(engine.close_spider_async(reason=reason))

    def close(self, reason):
        """Leave the frontier; whatever is still in flight here goes back on the queue."""
        if getattr(self, "_poller", None) is not None and self._poller.running:
            self._poller.stop()
        if getattr(self, "_stop", None) is None:
            return
        self._stop.set()
        if reason == "run_changed":  # the frontier is another run's now: leave it alone
            return
        # the crawler's health goes after its items, before it leaves: ingest waits for
        # every crawler that is still alive to leave
        stats = self.stats.get_stats() if self.stats else {}
        stats.setdefault("finish_reason", reason)
        from redis import RedisError

        report = {**self.spider.report(stats), "run": self.run_id}
        step = "push its closing report (its health counts are missing from the run)"
        try:
            if self._unfinished:
                self.server.hdel(self._inflight, *self._unfinished)
            self.server.rpush(key("items"), json.dumps(report))
            step = "leave the frontier (what it held goes back once its heartbeat lapses)"
            self._recover(keys=self._keys[:2],
                          args=[key("worker", ""), key("inflight", ""), self.worker])  # fmt: skip
            self.server.delete(key("worker", self.worker))
        except RedisError as err:
            log.error("could not %s: %s", step, err)
            if self.stats:  # the crawler exits non-zero (crawlers/frontier/crawl.py)
                self.stats.set_value("frontier/close_failed", f"could not {step}: {err}")
