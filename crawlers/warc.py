"""Evidence archive: every response fetched goes into gzipped WARC files (warcio), rotated per
run and by size; stored pages point at their record. Also reads WARC files for import."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from storage.records import PageRecord

# hop-by-hop framing the downloader already undid: the archived body is de-chunked
_DROP_HEADERS = {b"transfer-encoding"}


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
              protocol: str = "HTTP/1.1") -> tuple[str, int, int]:  # fmt: skip
        """Write one response; returns (file, offset, length) of its record."""
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
            url, "response", payload=io.BytesIO(body), http_headers=http_headers
        )
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

    def __init__(self, archive: WarcArchive | None):
        self.archive = archive

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
        middleware = cls(archive)
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
            request.meta["warc"] = self.archive.write(
                response.url, response.status, headers, response.body
            )
        return response

    def closed(self, spider=None):
        if self.archive is not None:
            self.archive.close()


def read_warc(path: str | Path, source: str | None = None):
    """Yield a PageRecord for each HTML response in a WARC / WARC.gz file (from this tool,
    browsertrix, wget --warc-file, ...), and a (url, reason) for each response skipped."""
    from w3lib.encoding import html_to_unicode
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as handle:
        records = ArchiveIterator(handle)
        for record in records:
            if record.rec_type is None:
                raise ValueError(f"{path}: record at offset {records.offset} is not WARC")
            if record.rec_type != "response" or record.http_headers is None:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            content_type = record.http_headers.get_header("Content-Type") or ""
            status = int(record.http_headers.get_statuscode() or 0)
            body = record.content_stream().read()
            records.read_to_end()
            where = (str(path), records.get_record_offset(), records.get_record_length())
            if not content_type.lower().startswith(("text/html", "application/xhtml+xml")):
                yield url, f"not HTML ({content_type or 'no content type'})"
                continue
            if status != 200:
                yield url, f"HTTP {status}"
                continue
            encoding, html = html_to_unicode(content_type, body)
            date = record.rec_headers.get_header("WARC-Date")
            try:
                fetched = datetime.fromisoformat(date.replace("Z", "+00:00"))
            except (AttributeError, ValueError):
                fetched = datetime.now(UTC)
            yield PageRecord(
                url=url, source=source, origin="import", fetched_at=fetched, html=html,
                http_status=status, content_type=content_type, encoding=encoding,
                etag=record.http_headers.get_header("ETag"),
                last_modified=record.http_headers.get_header("Last-Modified"), warc=where,
            )  # fmt: skip
