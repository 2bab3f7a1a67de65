"""Crawl-state lookups for the spider: which listed pages were fetched before, and their ETag
and Last-Modified, read from DuckDB without ever holding the crawl up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from time import monotonic

import duckdb
from scrapy.utils.asyncio import call_later

from storage.crawlstate import lookup
from storage.db import HeldReader, StorageError

#: seconds without a crawl-state lookup after which the spider lets go of the database
IDLE_RELEASE = 0.1
#: a lookup waits this long for a batch of ours that is opening or closing the file ...
STATE_WAIT = 2.0
#: ... and this long for another process's lock on it; past either, no stored state, and
STATE_OPEN_WAIT = 0.2
#: lookups in the next seconds do without, then try once each without waiting until one works
STATE_RETRY = 0.5


class StateLookup:
    """``lookup(keys)``: crawl state of these canonical URLs (canonical URL -> Seen), ignoring
    entries older than ``expiry``.

    Read through a held read-only connection: a link-following crawl asks for every page, and
    opening DuckDB each time cost more than the rest of the crawl. The writer thread's batches
    take it over and lend it theirs (see HeldReader); the lookup lets go after IDLE_RELEASE
    seconds without a call and on ``release()``.

    A lookup runs on the reactor thread, so it never waits long: where the file is locked by
    another process (or, rarely, by a batch of ours that takes longer than STATE_WAIT), it
    answers "no stored state" (the pages are fetched unconditionally), and lookups in the next
    STATE_RETRY seconds do not try. ``without_state`` counts the URLs looked up so."""

    def __init__(self, db_path: str, expiry: timedelta, logger):
        self.expiry = expiry
        self.logger = logger
        self.without_state = 0
        self._reader = HeldReader(db_path)
        self._last_read = 0.0
        self._release_pending = False
        self._retry_at = 0.0  # after a failed lookup: lookups do without until then
        self._warned = False

    def __call__(self, keys) -> dict:
        keys = [k for k in keys if k]
        if not keys:
            return {}
        if monotonic() < self._retry_at:
            self.without_state += len(keys)
            return {}
        calm = self._retry_at == 0.0  # the last lookup worked: wait a little
        try:
            with self._reader.use(
                timeout=STATE_WAIT if calm else 0, open_wait=STATE_OPEN_WAIT if calm else 0
            ) as con:
                seen = lookup(con, keys)
        except (StorageError, duckdb.Error) as err:
            self._reader.release(wait=False)  # never left holding the file after a failure
            self._retry_at = monotonic() + STATE_RETRY
            self.without_state += len(keys)
            if not self._warned:
                self._warned = True
                self.logger.warning(
                    "crawl state unavailable (%s): pages are fetched without it "
                    "(unconditionally) until the database is free",
                    " ".join(str(err).split())[:300],
                )
            return {}
        self._retry_at = 0.0
        self._last_read = monotonic()
        if not self._release_pending:
            self._release_pending = True
            call_later(IDLE_RELEASE, self._release_when_idle)
        horizon = datetime.now(UTC) - self.expiry
        return {k: s for k, s in seen.items() if s.last_fetched_at >= horizon}

    def _release_when_idle(self) -> None:
        idle = monotonic() - self._last_read
        if idle >= IDLE_RELEASE:
            self._reader.release(wait=False)  # a batch being written has let go of it already
            self._release_pending = False
        else:
            call_later(IDLE_RELEASE - idle, self._release_when_idle)

    def release(self) -> None:
        self._reader.release()
