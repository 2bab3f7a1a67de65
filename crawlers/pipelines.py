"""The one item pipeline: spider items into DuckDB, in batches, one transaction each, written
by a thread of its own so that downloads go on while a batch is written (or waits for the
file)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import storage.db
from storage import connect
from storage.db import DatabaseBusy, HeldReader, lock_wait
from storage.documents import store_pages
from storage.records import EntryState, NotModified, PageRecord, Rejection, StoreCounts

log = logging.getLogger(__name__)

ITEM_TYPES = (PageRecord, Rejection, NotModified, EntryState)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class DuckDBWriter:
    """Buffers items and hands them to one writer thread every ``batch_size`` items, when the
    oldest has waited ``max_seconds``, and at close.

    One thread writes the batches in the order they were cut, each in one transaction, so an
    entry point's watermark is never written before its pages (the spider yields it after
    them). The database is opened per batch rather than for the whole crawl, so a dashboard or
    a ``narrascope sql`` can read between batches, and a killed crawl keeps what was written.
    Where another process holds the file, a batch waits for it (up to ``LOCK_WAIT_SECONDS``)
    while downloads go on; if more than ``max_waiting`` items wait to be written, the crawl
    waits for the writer (memory stays bounded).

    A batch that cannot be written (the file stayed locked, the disk is full, any error) ends
    the writing: ``error`` says why, later items are not written either, and the crawl is
    stopped. Nothing is lost that way: the crawl state of a page is written in the transaction
    that stores it, so the next crawl fetches again whatever was not stored. (Writing later
    batches after a failed one could store a listing's watermark without the pages before it.)
    """

    def __init__(
        self,
        db_path: str,
        run_id: str | None,
        batch_size: int = 200,
        max_seconds: float = 5.0,
        max_waiting: int | None = None,
        crawler=None,
    ):
        self.db_path = db_path
        self.run_id = run_id
        self.batch_size = max(1, batch_size)
        self.max_seconds = max_seconds  # a slow crawl still writes (and can lose) no more
        self.max_waiting = max_waiting or 10 * self.batch_size
        self.crawler = crawler
        self.counts = StoreCounts()
        self.batches = 0  # transactions written
        self.error: str | None = None  # why writing stopped, one line
        self.not_written = 0  # items dropped because a write failed
        self._cv = threading.Condition()
        self._buffer: list = []  # items in the order they came, not yet cut into a batch
        self._oldest: float | None = None  # when the oldest buffered item came
        self._batches: deque[list] = deque()
        self._waiting = 0  # items cut into batches and not yet written
        self._closing = False
        self._thread: threading.Thread | None = None
        self._stalled = False

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        writer = cls(
            settings.get("NARRASCOPE_DB"),
            settings.get("NARRASCOPE_RUN_ID"),
            settings.getint("NARRASCOPE_WRITE_BATCH", 200),
            settings.getfloat("NARRASCOPE_WRITE_SECONDS", 5.0),
            settings.getint("NARRASCOPE_WRITE_QUEUE", 0) or None,
            crawler=crawler,
        )
        crawler.narrascope_writer = writer
        return writer

    # -- the crawl's side (the reactor thread) ---------------------------------------------

    def process_item(self, item, spider=None):
        if not isinstance(item, ITEM_TYPES):
            return item
        with self._cv:
            if self.error is not None:
                self.not_written += 1
                return item
            self._buffer.append(item)
            if self._oldest is None:
                self._oldest = time.monotonic()
                self._start()
                self._cv.notify_all()  # the writer times the batch from now
            if (
                len(self._buffer) >= self.batch_size
                or time.monotonic() - self._oldest >= self.max_seconds
            ):
                self._cut()
            if self._waiting > self.max_waiting and not self._stalled:
                self._stalled = True
                log.info("%d items wait to be written: the crawl waits for the writer",
                         self._waiting)  # fmt: skip
            while self._waiting > self.max_waiting and self.error is None:
                self._cv.wait()  # bounded memory: the crawl waits for the writer
        return item

    @property
    def pending(self) -> int:
        """Items not yet written (buffered or waiting for the writer)."""
        with self._cv:
            return len(self._buffer) + self._waiting

    def flush(self, wait: bool = False) -> None:
        """Hand the buffered items to the writer now; with ``wait``, until all are written."""
        with self._cv:
            if self._buffer:
                self._start()
                self._cut()
            while wait and self._waiting and self._thread is not None:
                self._cv.wait()

    def close(self) -> None:
        """Write the rest and wait for the writer to finish."""
        with self._cv:
            if self._buffer:
                self._start()
                self._cut()
            self._closing = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        if self.not_written:
            log.info("%d crawled items were not written (%s)", self.not_written, self.error)

    def close_spider(self, spider=None):
        self.close()

    def _cut(self) -> None:  # with self._cv held
        self._batches.append(self._buffer)
        self._waiting += len(self._buffer)
        self._buffer, self._oldest = [], None
        self._cv.notify_all()

    def _start(self) -> None:  # with self._cv held
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="narrascope-writer", daemon=True)
            self._thread.start()

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._batches:
                    if self._closing:
                        return
                    if self._oldest is None:
                        self._cv.wait()
                        continue
                    left = self._oldest + self.max_seconds - time.monotonic()
                    if left <= 0:
                        self._cut()  # a slow crawl: the oldest item has waited long enough
                    else:
                        self._cv.wait(left)
                batch = self._batches.popleft()
                failed = self.error is not None
            counts = None
            if not failed:
                try:
                    counts = self._store(batch)
                except Exception as err:  # noqa: BLE001 - any failure ends the writing
                    self._failed(err, len(batch))
            with self._cv:
                if counts is not None:
                    self.counts.add(counts)
                    self.batches += 1
                else:
                    self.not_written += len(batch)
                self._waiting -= len(batch)
                self._cv.notify_all()

    def _store(self, items: list) -> StoreCounts:
        """One batch in one transaction. Waits for another process's lock on the file up to
        ``LOCK_WAIT_SECONDS``, one attempt at a time, so that the spider's crawl-state lookups
        can use the file between attempts (see HeldReader.writing)."""
        pages = [i for i in items if isinstance(i, PageRecord)]
        rejections = [i for i in items if isinstance(i, Rejection)]
        not_modified = [i for i in items if isinstance(i, NotModified)]
        entries = [i for i in items if isinstance(i, EntryState)]
        deadline = time.monotonic() + storage.db.LOCK_WAIT_SECONDS
        pause = 0.02
        while True:
            try:
                with (
                    HeldReader.writing(self.db_path) as lend,
                    lock_wait(0),
                    connect(self.db_path) as con,
                    lend(con),
                ):
                    return store_pages(
                        con,
                        pages,
                        rejections,
                        run_id=self.run_id,
                        not_modified=not_modified,
                        entries=entries,
                    )
            except DatabaseBusy:
                if time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # another process holds the file: downloads go on meanwhile
            pause = min(pause * 2, 0.1)

    def _failed(self, err: Exception, size: int) -> None:
        with self._cv:
            self.error = (
                f"could not write {size} crawled items to {self.db_path}: {_one_line(err)}; "
                "nothing fetched from then on was stored (the next crawl fetches it again)"
            )
        # the run summary carries the error (the command line prints it once); -v shows this
        log.info("%s", self.error, exc_info=err)
        self._stop_crawl()

    def _stop_crawl(self) -> None:
        """Stop downloading what could not be stored (from the writer thread)."""
        if self.crawler is None or getattr(self.crawler, "engine", None) is None:
            return
        from twisted.internet import reactor

        reactor.callFromThread(self._close_spider)

    def _close_spider(self) -> None:
        from scrapy.utils.defer import deferred_from_coro

        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        done = deferred_from_coro(engine.close_spider_async(reason="write_failed"))
        done.addErrback(lambda failure: log.error("could not stop the crawl: %s", failure.value))
