"""Crawled items as JSON in Redis: the crawlers' item pipeline pushes them, ingest pops them
and hands them to the DuckDB writer (crawlers/pipelines.py) as the same dataclasses.

JSON, not pickle: anyone who can write to the frontier could otherwise run code on the
database host. The layout is ``{"type": <class name>, "fields": {...}}``; datetimes are ISO
8601 strings, a WARC pointer a three-element list. A crawler's closing report (its per-source
health counters) travels on the same list as ``{"type": "Health", ...}``, after its items.
Each entry names the run it was crawled for (``"run"``: the run_id ingest published); ingest
refuses entries of another run (a crawler of an earlier run that is still pushing).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime

from crawlers.frontier import key
from storage.records import EntryState, NotModified, PageRecord, Rejection

TYPES = {cls.__name__: cls for cls in (PageRecord, Rejection, NotModified, EntryState)}
ITEMS_KEY = key("items")
#: a crawler's WARC files: narrascope-<run>-<crawler>-NNNNN.warc.gz (crawlers/warc.py)
_WARC_NAME = re.compile(r"narrascope-[A-Za-z0-9._-]+-\d{5}\.warc\.gz")


class BadItem(ValueError):
    """An entry on the items list that is not a narrascope item (or not of this run);
    ``reason``: the kind of refusal, as ingest counts them."""

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.reason = reason


def _warc(pointer, run_id: str | None) -> tuple[str, int, int]:
    """A WARC pointer from a crawler, checked: a file named as our crawlers name theirs (of
    this run, when ``run_id`` is given), a non-negative offset and length."""
    if not (isinstance(pointer, list) and len(pointer) == 3 and isinstance(pointer[0], str)
            and all(type(v) is int and v >= 0 for v in pointer[1:])):  # fmt: skip
        raise BadItem("WARC pointer is not [file, offset, length]")
    name = pointer[0].replace("\\", "/").rsplit("/", 1)[-1]
    if not _WARC_NAME.fullmatch(name) or (run_id and not name.startswith(f"narrascope-{run_id}-")):
        raise BadItem(f"WARC file {name[:120]!r} is not one of this run's", "bad_warc")
    return (pointer[0], pointer[1], pointer[2])


def _ints(values) -> bool:
    return all(type(v) is int for v in values)


def _health(obj: dict) -> dict:
    """A crawler's closing report, checked: ingest sums its numbers."""
    health, chars = obj.get("health", {}), obj.get("body_chars", {})
    if not (isinstance(obj.get("worker", ""), str)
            and isinstance(obj.get("finish_reason"), str | None)
            and _ints(obj.get(n, 0) for n in ("requests", "responses", "refused"))
            and isinstance(health, dict)
            and all(isinstance(c, dict) and _ints(c.values()) for c in health.values())
            and isinstance(chars, dict)
            and all(isinstance(c, list) and _ints(c) for c in chars.values())):  # fmt: skip
        raise BadItem("not a crawler's report")
    return obj


def dumps(item, run_id: str = "") -> str:
    fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = value.isoformat()
    # meta is stored as JSON with default=str by the writer: the same text either way
    return json.dumps({"type": type(item).__name__, "run": run_id, "fields": fields}, default=str)


def loads(data: str | bytes, run_id: str | None = None, sources=None):
    """The item (or a Health report, as a dict) from its JSON; BadItem when it is not one,
    when (``run_id`` given) it was crawled for another run, or when (``sources``: names
    given) it names a source not among them."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise BadItem(f"not JSON: {err}", "not_json") from None
    if not isinstance(obj, dict):
        raise BadItem("not a JSON object")
    if run_id is not None and obj.get("run") != run_id:
        raise BadItem(f"of another run ({str(obj.get('run'))[:80]!r}), not {run_id}",
                      "other_run")  # fmt: skip
    if obj.get("type") == "Health":
        return _health(obj)
    cls = TYPES.get(obj.get("type"))
    if cls is None:
        raise BadItem(f"not a narrascope item: type {str(obj.get('type'))[:80]!r}")
    fields = obj.get("fields")
    if not isinstance(fields, dict):
        raise BadItem("no fields")
    source, url, optional = fields.get("source"), fields.get("url"), cls is Rejection
    if not (isinstance(url, str) or optional and url is None) or not isinstance(source, str | None):
        raise BadItem(f"bad {cls.__name__}: url or source not a string")
    if sources is not None and source not in sources and (source or not optional):
        raise BadItem(f"of source {str(source)[:80]!r}, not one of ingest's", "other_source")
    try:
        if fields.get("fetched_at") is not None:
            fields["fetched_at"] = datetime.fromisoformat(fields["fetched_at"])
        if fields.get("warc") is not None:
            fields["warc"] = _warc(fields["warc"], run_id)
        return cls(**fields)
    except BadItem:
        raise
    except (TypeError, ValueError) as err:
        raise BadItem(f"bad {cls.__name__}: {err}") from None


class RedisItemPipeline:
    """scrapy-redis's RedisPipeline, pushing in the reactor thread: it must be done before
    the request that yielded the item counts as finished (a crawler killed after that point
    loses nothing), and one RPUSH to a nearby Redis takes well under a millisecond.
    (scrapy-redis 0.9.1's own pushes from a thread pool and returns a Deferred, which
    Scrapy 2.19 deprecates, and takes the spider argument Scrapy is removing.)"""

    def __init__(self, server, items_key: str = ITEMS_KEY, run_id: str = ""):
        self.server = server
        self.key = items_key
        self.run_id = run_id

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy_redis.connection import from_settings

        settings = crawler.settings
        return cls(from_settings(settings), run_id=settings.get("NARRASCOPE_FRONTIER_RUN", ""))

    def process_item(self, item, spider=None):
        """Push the item; if Redis refuses, the request that yielded it stays in flight (it
        is crawled again) and this crawler stops."""
        from redis import RedisError
        from scrapy.exceptions import DropItem

        if type(item).__name__ in TYPES:
            scheduler = getattr(spider, "frontier_scheduler", None)
            if scheduler is not None and scheduler._holding:
                # an earlier push of this crawler failed: a later item (a listing's
                # watermark) must not reach the database without the pages before it
                raise DropItem("not pushed: an earlier push failed (crawled again)")
            try:
                self.server.rpush(self.key, dumps(item, self.run_id))
            except RedisError as err:
                if scheduler is not None:
                    scheduler.push_failed(err)
                raise DropItem(f"not pushed to the frontier (crawled again): {err}") from err
        return item
