"""The one item pipeline: spider items into DuckDB, in batches, one transaction each."""

from __future__ import annotations

import time

from storage import connect
from storage.documents import store_pages
from storage.records import EntryState, NotModified, PageRecord, Rejection, StoreCounts


class DuckDBWriter:
    """Buffers items and writes them every ``batch_size`` items, every ``max_seconds`` and at
    close.

    The database is opened per batch rather than for the whole crawl, so a dashboard or a
    ``narrascope sql`` can read between batches, and a killed crawl keeps what was written.
    """

    def __init__(
        self, db_path: str, run_id: str | None, batch_size: int = 200, max_seconds: float = 5.0
    ):
        self.db_path = db_path
        self.run_id = run_id
        self.batch_size = batch_size
        self.max_seconds = max_seconds  # a slow crawl still writes (and can lose) no more
        self.last_flush = time.monotonic()
        self.pages: list[PageRecord] = []
        self.rejections: list[Rejection] = []
        self.not_modified: list[NotModified] = []
        self.entries: list[EntryState] = []
        self.counts = StoreCounts()

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        writer = cls(
            settings.get("NARRASCOPE_DB"),
            settings.get("NARRASCOPE_RUN_ID"),
            settings.getint("NARRASCOPE_WRITE_BATCH", 200),
            settings.getfloat("NARRASCOPE_WRITE_SECONDS", 5.0),
        )
        crawler.narrascope_writer = writer
        return writer

    def process_item(self, item, spider=None):
        buffer = {
            PageRecord: self.pages,
            Rejection: self.rejections,
            NotModified: self.not_modified,
            EntryState: self.entries,
        }.get(type(item))
        if buffer is not None:
            buffer.append(item)
        if self.pending >= self.batch_size or (
            self.pending and time.monotonic() - self.last_flush >= self.max_seconds
        ):
            self.flush()
        return item

    @property
    def pending(self) -> int:
        return len(self.pages) + len(self.rejections) + len(self.not_modified) + len(self.entries)

    def flush(self) -> None:
        """Write the buffered items in one transaction. Items arrive in the order the spider
        yields them, so an entry point's watermark is never written before its pages."""
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        with connect(self.db_path) as con:
            counts = store_pages(
                con,
                self.pages,
                self.rejections,
                run_id=self.run_id,
                not_modified=self.not_modified,
                entries=self.entries,
            )
        self.counts.add(counts)
        self.pages, self.rejections, self.not_modified, self.entries = [], [], [], []

    def close_spider(self, spider=None):
        self.flush()
