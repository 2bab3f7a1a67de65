"""Evidence archive: every response fetched goes into gzipped WARC files (warcio), rotated per
run and by size; stored pages point at their record. crawlers/warc_read.py reads them back."""

from __future__ import annotations

import io
from pathlib import Path

from scrapy.exceptions import IgnoreRequest

# hop-by-hop framing the downloader already undid: the archived body is de-chunked
_DROP_HEADERS = {b"transfer-encoding"}
#: a WARC extension field on narrascope's response records: the spider callback that read the
#: response (parse_page: a page; parse_linked: a page reached by links, stored when it looks
#: like an article; parse_feed, parse_channel, ...: a listing read for its links or posts)
CALLBACK_HEADER = "WARC-Narrascope-Callback"
#: ... and on a page reached by links, the crawl's [crawl] min_article_chars
MIN_CHARS_HEADER = "WARC-Narrascope-Min-Article-Chars"


class NotArchived(IgnoreRequest):
    """A response the evidence archive could not take (a full disk): it is not stored, and the
    crawl stops (``WarcMiddleware``)."""


class WarcArchive:
    """Appends response records to ``<directory>/narrascope-<run>-<n>.warc.gz``, starting the
    next file once one passes ``max_bytes``. Each record is its own gzip member, so a record
    can be read from its offset alone."""

    def __init__(self, directory: str | Path, run_id: str, max_bytes: int = 1024**3):
        self.directory = Path(directory)
        self.run_id = run_id
        self.max_bytes = max_bytes
        self.number = 0
        self.handle = None
        self.path: Path | None = None

    def _open(self) -> None:
        from warcio.warcwriter import WARCWriter

        self.directory.mkdir(parents=True, exist_ok=True)
        self.number += 1
        self.path = self.directory / f"narrascope-{self.run_id}-{self.number:05d}.warc.gz"
        self.handle = open(self.path, "ab")
        self.writer = WARCWriter(self.handle, gzip=True)
        self.writer.write_record(
            self.writer.create_warcinfo_record(
                self.path.name, {"software": "narrascope", "format": "WARC File Format 1.1"}
            )
        )

    def write(self, url: str, status: int, headers: list[tuple[str, str]], body: bytes,
              protocol: str = "HTTP/1.1", callback: str | None = None,
              min_article_chars: int | None = None) -> tuple[str, int, int]:  # fmt: skip
        """Write one response; returns (file, offset, length) of its record. ``callback``: what
        the crawl read it as (``CALLBACK_HEADER``), and for a page reached by links the
        paragraph text that made one an article in this crawl (``MIN_CHARS_HEADER``), so that
        an import takes only what became pages."""
        from http import HTTPStatus

        from warcio.statusandheaders import StatusAndHeaders

        if self.handle is None or self.handle.tell() >= self.max_bytes:
            self.close()
            self._open()
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        http_headers = StatusAndHeaders(f"{status} {phrase}".strip(), headers, protocol=protocol)
        record = self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http_headers,
            warc_headers_dict={
                **({CALLBACK_HEADER: callback} if callback else {}),
                **({MIN_CHARS_HEADER: str(min_article_chars)} if min_article_chars else {}),
            } or None,
        )  # fmt: skip
        offset = self.handle.tell()
        self.writer.write_record(record)
        self.handle.flush()
        return str(self.path), offset, self.handle.tell() - offset

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class WarcMiddleware:
    """Downloader middleware placed next to the downloader, so it archives the bytes as they
    came off the wire (before decompression) and every response, redirects included. The
    record's place travels in ``request.meta['warc']``."""

    def __init__(self, archive: WarcArchive | None, crawler=None):
        self.archive = archive
        self.crawler = crawler
        # set when the archive cannot be written (disk full, I/O error): the crawl stops and
        # fails with it, since a page stored without its evidence breaks the archive's promise
        self.error: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy import signals

        settings = crawler.settings
        directory = settings.get("NARRASCOPE_WARC_DIR")
        archive = None
        if directory:
            archive = WarcArchive(
                directory,
                settings.get("NARRASCOPE_RUN_ID") or "run",
                settings.getint("NARRASCOPE_WARC_MAX_BYTES", 1024**3),
            )
        middleware = cls(archive, crawler)
        crawler.narrascope_warc = middleware  # the crawl runner reads its error
        crawler.signals.connect(middleware.closed, signal=signals.spider_closed)
        return middleware

    def process_response(self, request, response, spider=None):
        if self.archive is not None:
            headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, values in response.headers.items()
                if k.lower() not in _DROP_HEADERS
                for v in values
            ]
            try:
                callback = getattr(request.callback, "__name__", None)
                spider = spider or getattr(self.crawler, "spider", None)
                request.meta["warc"] = self.archive.write(
                    response.url, response.status, headers, response.body, callback=callback,
                    min_article_chars=getattr(spider, "min_article_chars", None)
                    if callback == "parse_linked" else None,
                )  # fmt: skip
            except OSError as err:
                self._failed(err)
                # this page is not stored: it has no evidence (fetched again next crawl). Not
                # the site's failure: no fetch_error, and no robots.txt taken as unreachable
                raise NotArchived(str(err)) from err
        return response

    def _failed(self, err: OSError) -> None:
        if self.error is not None:
            return
        self.error = (
            f"could not write the evidence archive in {self.archive.directory}: {err}; "
            "the crawl stopped (what it could not archive is fetched again by the next crawl)"
        )
        engine = getattr(self.crawler, "engine", None)
        if engine is not None and engine.spider is not None:
            from scrapy.utils.defer import deferred_from_coro

            done = deferred_from_coro(engine.close_spider_async(reason="warc_failed"))
            done.addErrback(lambda failure: None)  # already closing

    def closed(self, spider=None):
        if self.archive is not None:
            try:
                self.archive.close()
            except OSError as err:  # the last record's bytes could not be written out
                self._failed(err)
