"""The shared request queue's entries, as JSON (scrapy-redis's priority queue with its
encoding changed). Whoever can write to Redis is not trusted: an entry becomes a plain
``scrapy.Request`` to one of the spider's own callbacks, and its meta is rebuilt from the
few keys the crawler itself sets, safety settings taken from this host's sources.toml."""

from __future__ import annotations

import base64
import inspect
import json
import time

from scrapy import Request
from scrapy_redis.queue import PriorityQueue

from crawlers.safety import NOT_BEFORE

#: the spider's methods a queued request may name as its callback or errback
CALLBACKS = frozenset(
    {"parse_feed", "parse_sitemap", "parse_wordpress", "parse_channel", "parse_linked",
     "parse_page"}
)  # fmt: skip
ERRBACKS = frozenset({"failed"})
#: headers the crawler sets before a request is queued (conditional GETs, scrapy's Referer)
HEADERS = frozenset({"if-none-match", "if-modified-since", "referer"})
_WALL_CLOCK = "narrascope_wall_clock"


class BadEntry(ValueError):
    """A queue entry the crawler did not write, or cannot use on this host."""


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


def _ints(value, name: str) -> list[int]:
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise BadEntry(f"meta {name} is not a list of integers")
    return value


def _count(value, name: str) -> int:
    if type(value) is not int or not 0 <= value < 1000:
        raise BadEntry(f"meta {name} is not a small count")
    return value


def _strings(value, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadEntry(f"meta {name} is not a list of strings")
    return value


#: meta keys a queued request may carry (retry, redirect and depth bookkeeping), checked
_META = {
    "handle_httpstatus_list": _ints,
    "retry_times": _count,
    "redirect_times": _count,
    "redirect_ttl": _count,
    "depth": _count,
    "sitemap_depth": _count,  # how deep sitemap indexes nest (crawlers/spiders/sources.py)
    "redirect_urls": _strings,
    "redirect_reasons": lambda v, n: (
        v if isinstance(v, list) and all(type(r) in (int, str) for r in v) else _strings(None, n)
    ),
}


def encode(request: Request, spider) -> str:
    obj = request.to_dict(spider=spider)
    meta = obj.get("meta") or {}
    if NOT_BEFORE in meta:  # a retry's backoff: this host's monotonic clock -> wall clock
        obj["meta"] = {**meta, NOT_BEFORE: time.time() + meta[NOT_BEFORE] - time.monotonic(),
                       _WALL_CLOCK: True}  # fmt: skip
    obj["headers"] = {k.decode("latin-1"): [v.decode("latin-1") for v in values]
                      for k, values in obj["headers"].items()}  # fmt: skip
    source = obj.get("cb_kwargs", {}).get("source")
    if source is not None:
        obj["cb_kwargs"] = {**obj["cb_kwargs"], "source": source.name}
    return json.dumps(obj, default=_plain)


def decode(data: str | bytes, spider) -> Request:
    """The request an entry describes, or BadEntry saying why it is refused."""
    try:
        obj = json.loads(data, object_hook=_restore)
    except ValueError as err:
        raise BadEntry(f"not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise BadEntry("not a JSON object")
    if "_class" in obj:
        raise BadEntry(f"names a request class ({str(obj['_class'])[:80]!r})")
    url, method = obj.get("url"), obj.get("method", "GET")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise BadEntry("no http(s) URL")
    if method not in ("GET", "HEAD"):
        raise BadEntry(f"method {str(method)[:20]!r}")
    callback, errback = obj.get("callback"), obj.get("errback")
    if callback not in CALLBACKS:
        raise BadEntry(f"callback {str(callback)[:80]!r} is not one of the spider's parsers")
    if errback is not None and errback not in ERRBACKS:
        raise BadEntry(f"errback {str(errback)[:80]!r} is not the spider's")
    kwargs = obj.get("cb_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise BadEntry("cb_kwargs is not an object")
    name = kwargs.get("source")
    source = next((s for s in spider.sources if s.name == name), None)
    if source is None:
        raise BadEntry(f"source {str(name)[:80]!r} is not in this host's sources")
    meta = obj.get("meta") or {}
    redirected = meta.get("redirect_urls") if isinstance(meta, dict) else None  # from where
    first = redirected[0] if isinstance(redirected, list) and redirected else url
    if not isinstance(first, str) or not crawls(source, first):
        raise BadEntry(f"{first!s:.80} is not a URL source {source.name[:80]!r} crawls")
    kwargs = {**kwargs, "source": source}
    parse = getattr(spider, callback)
    try:
        inspect.signature(parse).bind(None, **kwargs)
    except TypeError as err:
        raise BadEntry(f"arguments do not fit {callback}: {err}") from None
    return Request(
        url, callback=parse, method=method, headers=_headers(obj.get("headers")),
        cb_kwargs=kwargs, meta=_meta(meta, spider, source),
        errback=getattr(spider, errback) if errback else None,
        priority=_priority(obj.get("priority")), dont_filter=obj.get("dont_filter") is True,
    )  # fmt: skip


def crawls(source, url: str) -> bool:
    """Whether ``source`` requests ``url``: in its allowed domains (what it follows), or one
    of its configured entry points (feeds, sitemaps, start URLs, Telegram channel pages, the
    WordPress API), which may be elsewhere."""
    from crawlers.entries.telegram import channel_url

    if source.allows(url):
        return True
    base = url.split("?")[0]
    return (
        url in {*source.feeds, *source.sitemaps, *source.start_urls, source.home}
        or base in {channel_url(c) for c in source.telegram}
        or base.startswith(source.home.rstrip("/") + "/wp-json/")
    )


def _priority(value) -> int:
    if type(value) is not int or abs(value) > 1_000_000:
        raise BadEntry("priority is not an integer")
    return value


def _headers(headers) -> dict:
    if not isinstance(headers, dict):
        raise BadEntry("headers are not an object")
    kept = {}
    for name, values in headers.items():
        if name.lower() not in HEADERS:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadEntry(f"header {name[:40]!r} is not a list of strings")
        kept[name] = values
    return kept


def _meta(meta, spider, source) -> dict:
    """Meta rebuilt: the spider's own (source, robots from this host's source settings), the
    bookkeeping keys checked, a retry's not-before time; nothing else (no allow_private,
    download_maxsize, download_timeout, proxy, ...)."""
    if not isinstance(meta, dict):
        raise BadEntry("meta is not an object")
    kept = spider.meta_for(source)
    for name, check in _META.items():
        if name in meta:
            kept[name] = check(meta[name], name)
    not_before = meta.get(NOT_BEFORE)
    if meta.get(_WALL_CLOCK) is True and isinstance(not_before, int | float):
        # at most the longest backoff (BackoffRetryMiddleware.max_delay) ahead
        wait = min(60.0, max(0.0, not_before - time.time()))
        kept[NOT_BEFORE] = time.monotonic() + wait
    return kept


class JsonPriorityQueue(PriorityQueue):
    """scrapy-redis's priority queue (a sorted set) with requests as JSON; a ``source`` in
    ``cb_kwargs`` travels as its name and comes back as the spider's Source. Decoding raises
    BadEntry for an entry the crawler must not run (the scheduler drops and counts it)."""

    def _encode_request(self, request):
        return encode(request, self.spider)

    def _decode_request(self, encoded_request):
        return decode(encoded_request, self.spider)
