"""A crawl shared by several crawler processes through Redis (``crawl --frontier``): the
request queue, duplicate filter and politeness are scrapy-redis's, items go back through Redis
to one ``ingest --frontier`` process next to the database.

Nothing here is imported unless ``--frontier`` is given: redis and scrapy-redis are optional
(``pip install narrascope[redis]``).

The keys of one frontier (all under ``narrascope:``, the spider's name, so that scrapy-redis's
own keys ``narrascope:requests`` and ``narrascope:dupefilter`` sit beside ours):

    ingest          the ingest lock and heartbeat: one ingest per frontier; crawlers stop
                    when it lapses (kept by ``reset``)
    run             hash: run_id, state ("open" once the crawl state is published, "closed"
                    once ingest ended), sources (digest of ingest's sources), seeded,
                    done (set by the crawler that finds the crawl finished), stop_at (when
                    the crawlers stop fetching, ``ingest --max-duration``, in seconds on
                    Redis's clock, TIME; 0.0: never)
    state           hash: canonical URL -> crawl state (JSON), published from DuckDB by ingest
    items           list: crawled items (JSON, crawlers/frontier/items.py), popped by ingest
    workers         set of crawler ids; worker:<id> is a heartbeat key with a time to live
    inflight:<id>   hash: requests a crawler popped and has not finished (requeued if it dies)
    budget          hash: source -> pages left (max_pages across all crawlers)
    spent           hash: one spend of the budget -> its answer (a request handled again
                    after its crawler died does not pay twice)
    requested       hash: canonical URLs requested in this run (the spider's _requested) ->
                    the handling that requested it
    wp:*            a WordPress listing's progress, shared by the crawlers that read its pages
                    (wp:done:<source>: the listing pages counted)
    sitemaps:left   hash: source -> child sitemaps it may still read in this run (200 across all
                    crawlers); sitemaps:spent as ``spent``; sitemaps:cut: source -> the
                    handling that records its cut (recorded again only by that handling redone)
    polite:<host>   when the next request to that host may start (shared download delay)
"""

from __future__ import annotations

import hashlib
import json

PREFIX = "narrascope"


def key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


INGEST_KEY = key("ingest")


def sources_digest(sources) -> str:
    """What ingest and every crawler must agree on: the sources, as this host loaded them."""
    import dataclasses

    rows = sorted(json.dumps(dataclasses.asdict(s), sort_keys=True, default=str) for s in sources)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


class FrontierError(RuntimeError):
    """The frontier could not be used (Redis unreachable, no ingest running, ...)."""


def redis_time(client) -> float:
    """Redis's clock (seconds): the one clock every host of a frontier shares."""
    seconds, micros = client.time()
    return seconds + micros / 1e6


def run_stop_at(run: dict) -> float:
    """The run's published time limit (Redis's clock, 0.0: none), checked: Redis is not
    trusted, and a value that is not a finite number must not pass for 'never'."""
    import math

    raw = run.get("stop_at") or "0"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FrontierError(f"{key('run')} stop_at is not a number of seconds: {raw[:40]!r}")
    return max(value, 0.0)


def connect(url: str, retries: bool = True):
    """A Redis client for ``redis://HOST:PORT/N``; fails with an install hint without redis.
    ``retries=False``: a command whose reply was lost fails instead of being sent again
    (ingest's pops: a retried LPOP would drop what the lost reply carried)."""
    try:
        import redis
    except ImportError as err:  # pragma: no cover - depends on the install
        raise FrontierError(
            "--frontier needs the optional Redis dependencies: pip install 'narrascope[redis]'"
        ) from err
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise FrontierError(f"--frontier takes a Redis URL (redis://HOST:PORT/N), not {url!r}")
    options = {}
    if not retries:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options = {"retry": Retry(NoBackoff(), 0), "retry_on_error": []}
    client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30, **options)
    try:
        client.ping()
    except redis.RedisError as err:
        raise FrontierError(f"cannot reach the frontier at {url}: {err}") from err
    return client


def reset(client) -> None:
    """Forget everything of an earlier run on this frontier (ingest does it before a run);
    the ingest lock stays."""
    keys = [k for k in client.scan_iter(match=key("*"), count=1000) if k != INGEST_KEY.encode()]
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
