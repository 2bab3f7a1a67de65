"""scrapy-redis's scheduler, made safe for crawlers that come and go: a request popped from
the shared queue is kept in the crawler's in-flight hash until its response (or failure) has
been handled completely, items pushed and follow-up requests queued; a crawler that dies
(its heartbeat lapses) has its in-flight requests put back by the others. A crawler stops once
the entry points are queued, the queue is empty and no crawler has anything in flight.

Requests travel as JSON (scrapy-redis's queue with its ``_encode_request`` changed), not as
pickles: whoever can write to Redis must not be able to run code on the crawlers.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.request import request_from_dict
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from crawlers.frontier import key
from crawlers.safety import _NOT_BEFORE

log = logging.getLogger(__name__)

#: how often an idle crawler looks at the shared queue (scrapy's own heartbeat is 5 s)
POLL_SECONDS = 0.1

# Pop the best request and note it in this crawler's in-flight hash, in one step: between the
# two, another crawler could otherwise find the queue empty and nothing in flight.
_POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
local id = r[2] .. ' ' .. redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], id, r[1])
return {id, r[1]}
"""

# Put the in-flight requests of crawlers whose heartbeat lapsed back on the queue (ARGV[3]:
# this crawler, when it closes: its own as well).
_RECOVER = """
local moved = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if w == ARGV[3] or redis.call('EXISTS', ARGV[1] .. w) == 0 then
    local held = redis.call('HGETALL', ARGV[2] .. w)
    for i = 1, #held, 2 do
      local score = string.match(held[i], '^(%S+)')
      redis.call('ZADD', KEYS[1], tonumber(score), held[i + 1])
      moved = moved + 1
    end
    redis.call('DEL', ARGV[2] .. w)
    redis.call('SREM', KEYS[2], w)
  end
end
return moved
"""

# The crawler that claimed the seeding died before it queued the entry points: unclaim.
_ORPHANED = """
local seeder = redis.call('HGET', KEYS[1], 'seeded')
if not seeder or seeder == 'done' or redis.call('EXISTS', ARGV[1] .. seeder) == 1 then
  return 0
end
redis.call('HDEL', KEYS[1], 'seeded')
return 1
"""

# Finished: the entry points are queued, nothing is queued and nothing is in flight anywhere.
_DONE = """
if redis.call('HGET', KEYS[3], 'done') == '1' then return 1 end
if redis.call('HGET', KEYS[3], 'seeded') ~= 'done' then return 0 end
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HLEN', ARGV[1] .. w) > 0 then return 0 end
end
redis.call('HSET', KEYS[3], 'done', '1')
return 1
"""


def _plain(value):
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot put {type(value).__name__} on the frontier")


def _restore(obj: dict):
    if set(obj) == {"__bytes__"}:
        return base64.b64decode(obj["__bytes__"])
    return obj


class JsonPriorityQueue(PriorityQueue):
    """scrapy-redis's priority queue (a sorted set) with requests as JSON; a ``source`` in
    ``cb_kwargs`` travels as its name and comes back as the spider's Source."""

    def _encode_request(self, request):
        obj = request.to_dict(spider=self.spider)
        meta = obj.get("meta") or {}
        if _NOT_BEFORE in meta:  # a retry's backoff: this host's monotonic clock -> wall clock
            obj["meta"] = {**meta, _NOT_BEFORE: time.time() + meta[_NOT_BEFORE] - time.monotonic(),
                           "narrascope_wall_clock": True}  # fmt: skip
        obj["headers"] = {k.decode("latin-1"): [v.decode("latin-1") for v in values]
                          for k, values in obj["headers"].items()}  # fmt: skip
        source = obj.get("cb_kwargs", {}).get("source")
        if source is not None:
            obj["cb_kwargs"] = {**obj["cb_kwargs"], "source": source.name}
        return json.dumps(obj, default=_plain)

    def _decode_request(self, encoded_request):
        obj = json.loads(encoded_request, object_hook=_restore)
        name = obj.get("cb_kwargs", {}).get("source")
        if name is not None:
            obj["cb_kwargs"]["source"] = next(s for s in self.spider.sources if s.name == name)
        meta = obj.get("meta") or {}
        if meta.pop("narrascope_wall_clock", False):
            meta[_NOT_BEFORE] = time.monotonic() + meta[_NOT_BEFORE] - time.time()
        return request_from_dict(obj, spider=self.spider)


class FrontierScheduler(Scheduler):
    """scrapy-redis's Scheduler (queue, RFPDupeFilter), persistent across crawlers, with a
    reliable pop, heartbeats and a shared end of the crawl."""

    worker: str = ""
    timeout: float = 15.0
    crawler = None

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        scheduler = cls.from_settings(settings)
        scheduler.stats = crawler.stats
        scheduler.crawler = crawler
        scheduler.worker = settings.get("NARRASCOPE_FRONTIER_WORKER")
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
        self._pop = self.server.register_script(_POP)
        self._recover = self.server.register_script(_RECOVER)
        self._done = self.server.register_script(_DONE)
        self._orphaned = self.server.register_script(_ORPHANED)
        self._seeding: list | None = None
        spider.frontier_scheduler = self
        self._inflight = key("inflight", self.worker)
        self._keys = [self.queue.key, key("workers"), key("run")]
        self._register()
        self.crawler.signals.connect(self._idle, signal=signals.spider_idle)
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
                self.server.set(key("worker", self.worker), "1", px=int(self.timeout * 1000))
            except Exception as err:  # noqa: BLE001 - keep beating; Redis may come back
                log.warning("frontier heartbeat failed: %s", err)

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
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and slot.closing is None:
            slot.nextcall.schedule()

    def _idle(self, spider) -> None:
        from redis import RedisError

        try:
            self._idle_check()
        except RedisError as err:
            self._unreachable(err)
            raise DontCloseSpider from err

    def _idle_check(self) -> None:
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
        held = request.meta.pop("frontier_id", None)
        if held is not None:
            self.server.hdel(self._inflight, held)

    # -- scrapy's scheduler interface --------------------------------------------------------

    def enqueue_request(self, request):
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        request.meta.pop("frontier_id", None)  # a redirect carries its parent's
        if self._seeding is not None:
            self._seeding.append(request)
            return True
        self.queue.push(request)
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        from redis import RedisError

        try:
            popped = self._pop(keys=[self.queue.key, self._inflight, key("seq")])
        except RedisError as err:
            self._unreachable(err)
            return None
        self._lost_since = None
        if not popped:
            return None
        held, data = (v.decode() if isinstance(v, bytes) else v for v in popped)
        request = self.queue._decode_request(data)
        request.meta["frontier_id"] = held
        if self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self):
        from redis import RedisError

        try:
            return len(self) > 0
        except RedisError as err:
            self._unreachable(err)
            return False

    _lost_since: float | None = None

    def _unreachable(self, err) -> None:
        """Redis went away: keep trying for the heartbeat timeout, then stop this crawler
        (what it held in flight is put back by the others, or by the next run)."""
        now = time.monotonic()
        if self._lost_since is None:
            self._lost_since = now
            log.warning("frontier unreachable (%s): retrying for %.0f s", err, self.timeout)
        elif now - self._lost_since > self.timeout:
            engine = self.crawler.engine
            if engine is not None and engine.spider is not None and self._poller.running:
                self._poller.stop()
                log.error("frontier unreachable for %.0f s: stopping this crawler", self.timeout)
                deferred_from_coro(engine.close_spider_async(reason="frontier_unreachable"))

    def close(self, reason):
        """Leave the frontier; whatever is still in flight here goes back on the queue."""
        if getattr(self, "_poller", None) is not None and self._poller.running:
            self._poller.stop()
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
            # the crawler's health goes after its items, before it leaves: ingest waits for
            # every crawler that is still alive to leave
            stats = self.stats.get_stats() if self.stats else {}
            stats.setdefault("finish_reason", reason)
            from redis import RedisError

            try:
                self.server.rpush(key("items"), json.dumps(self.spider.report(stats)))
                self._recover(keys=self._keys[:2],
                              args=[key("worker", ""), key("inflight", ""), self.worker])  # fmt: skip
                self.server.delete(key("worker", self.worker))
            except RedisError as err:
                log.error("could not leave the frontier cleanly: %s", err)
