"""The one item pipeline: spider items into DuckDB, in batches, one transaction each."""

from __future__ import annotations

from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord, Rejection, StoreCounts


class DuckDBWriter:
    """Buffers items and writes them every ``batch_size`` items and at close.

    The database is opened per batch rather than for the whole crawl, so a dashboard or a
    ``narrascope sql`` can read between batches, and a killed crawl keeps what was written.
    """

    def __init__(self, db_path: str, run_id: str | None, batch_size: int = 50):
        self.db_path = db_path
        self.run_id = run_id
        self.batch_size = batch_size
        self.pages: list[PageRecord] = []
        self.rejections: list[Rejection] = []
        self.counts = StoreCounts()

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        writer = cls(
            settings.get("NARRASCOPE_DB"),
            settings.get("NARRASCOPE_RUN_ID"),
            settings.getint("NARRASCOPE_WRITE_BATCH", 50),
        )
        crawler.narrascope_writer = writer
        return writer

    def process_item(self, item, spider=None):
        if isinstance(item, PageRecord):
            self.pages.append(item)
        elif isinstance(item, Rejection):
            self.rejections.append(item)
        if len(self.pages) + len(self.rejections) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        if not self.pages and not self.rejections:
            return
        with connect(self.db_path) as con:
            counts = store_pages(con, self.pages, self.rejections, run_id=self.run_id)
        self.counts.add(counts)
        self.pages, self.rejections = [], []

    def close_spider(self, spider=None):
        self.flush()
