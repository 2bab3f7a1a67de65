"""Crawled items as JSON in Redis: the crawlers' item pipeline pushes them, ingest pops them
and hands them to the DuckDB writer (crawlers/pipelines.py) as the same dataclasses.

JSON, not pickle: anyone who can write to the frontier could otherwise run code on the
database host. The layout is ``{"type": <class name>, "fields": {...}}``; datetimes are ISO
8601 strings, a WARC pointer a three-element list. A crawler's closing report (its per-source
health counters) travels on the same list as ``{"type": "Health", ...}``, after its items.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from crawlers.frontier import key
from storage.records import EntryState, NotModified, PageRecord, Rejection

TYPES = {cls.__name__: cls for cls in (PageRecord, Rejection, NotModified, EntryState)}
ITEMS_KEY = key("items")


def dumps(item) -> str:
    fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = value.isoformat()
    # meta is stored as JSON with default=str by the writer: the same text either way
    return json.dumps({"type": type(item).__name__, "fields": fields}, default=str)


def loads(data: str | bytes):
    """The item (or a Health report, as a dict) from its JSON."""
    obj = json.loads(data)
    if obj.get("type") == "Health":
        return obj
    cls = TYPES.get(obj.get("type"))
    if cls is None:
        raise ValueError(f"not a narrascope item on the frontier: type {obj.get('type')!r}")
    fields = obj["fields"]
    if fields.get("fetched_at") is not None:
        fields["fetched_at"] = datetime.fromisoformat(fields["fetched_at"])
    if fields.get("warc") is not None:
        fields["warc"] = tuple(fields["warc"])
    return cls(**fields)


class RedisItemPipeline:
    """scrapy-redis's RedisPipeline, pushing in the reactor thread: it must be done before
    the request that yielded the item counts as finished (a crawler killed after that point
    loses nothing), and one RPUSH to a nearby Redis takes well under a millisecond.
    (scrapy-redis 0.9.1's own pushes from a thread pool and returns a Deferred, which
    Scrapy 2.19 deprecates, and takes the spider argument Scrapy is removing.)"""

    def __init__(self, server, items_key: str = ITEMS_KEY):
        self.server = server
        self.key = items_key

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy_redis.connection import from_settings

        return cls(from_settings(crawler.settings))

    def process_item(self, item, spider=None):
        if type(item).__name__ in TYPES:
            self.server.rpush(self.key, dumps(item))
        return item
