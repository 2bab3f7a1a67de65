"""Evidence archive: every response fetched goes into gzipped WARC files (warcio), rotated per
run and by size; stored pages point at their record. Also reads WARC files for import."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.records import PageRecord

# hop-by-hop framing the downloader already undid: the archived body is de-chunked
_DROP_HEADERS = {b"transfer-encoding"}
#: a WARC extension field on narrascope's response records: the spider callback that read the
#: response (parse_page: a page; parse_linked: a page reached by links, stored when it looks
#: like an article; parse_feed, parse_channel, ...: a listing read for its links or posts)
CALLBACK_HEADER = "WARC-Narrascope-Callback"
#: ... and on a page reached by links, the crawl's [crawl] min_article_chars
MIN_CHARS_HEADER = "WARC-Narrascope-Min-Article-Chars"


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
                raise  # this page is not stored: it has no evidence (fetched again next crawl)
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
            self.archive.close()


@dataclass(slots=True)
class WarcProblem:
    """Something wrong with a WARC file at byte ``offset``; ``note`` is short and never holds
    the file's raw bytes. ``records`` is how many WARC records were read before it."""

    offset: int
    note: str
    records: int


class _IncompleteRecords:
    """Stands in for warcio's INC_RECORD template, which it formats with the offending bytes
    and writes to stderr: we keep the offsets instead and write nothing."""

    def __init__(self):
        self.offsets: list[int] = []

    def format(self, offset, _remainder) -> str:
        self.offsets.append(int(offset))
        return ""


def _short(text: str | None, width: int = 100) -> str:
    """``text`` cut to ``width``, in printable characters: a WARC header is the archive
    writer's to fill, and a newline or right-to-left override in it would garble the report."""
    text = "" if text is None else str(text)
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:width])
    return shown if len(text) <= width and len(shown) <= width else shown[: width - 1] + "…"


def _problem(offset: int, note: str, records: int) -> WarcProblem:
    if offset == 0 and records == 0:
        note = "not a readable WARC file (no complete WARC record at its start)"
    return WarcProblem(offset, note, records)


UNPACK_LIMIT = 64 * 1024**2  # a compressed body is never unpacked past this without a limit


def response_body(record, limit: int | None = None) -> bytes:
    """A response record's body, its Content-Encoding undone, at most ``limit`` bytes of it
    (more means the body is longer than that). warcio does gzip and deflate; its brotli hook
    fails on the brotli package (it sets an attribute that brotli's decompressor lacks), and
    the crawl archives brotli bodies as they came off the wire. Brotli output is capped as it
    is decompressed: a hostile archive's small body must not unpack to gigabytes."""
    encoding = (record.http_headers.get_header("Content-Encoding") or "").strip().lower()
    if encoding != "br":
        stream = record.content_stream()
        return stream.read() if limit is None else stream.read(limit + 1)
    from warcio.bufferedreaders import ChunkedDataReader

    stream = record.raw_stream
    if (record.http_headers.get_header("Transfer-Encoding") or "").lower() == "chunked":
        stream = ChunkedDataReader(stream)
    raw = stream.read()
    try:
        import brotli

        cap = (limit if limit is not None else UNPACK_LIMIT) + 1
        return brotli.Decompressor().process(raw, output_buffer_limit=cap)
    except Exception:  # noqa: BLE001 - not brotli after all: the bytes as they are, as warcio
        return raw  # does with a body that is not what its Content-Encoding says


def _listing(callback: str | None, html: str, min_chars: str | None = None) -> str | None:
    """Why a response narrascope's crawl archived is no page to import, or None: a listing
    (a home page, a channel's page of posts) it read for links or posts, or a page it
    followed for links that did not look like an article, as the crawl decided. A record of
    another crawler has no callback: every HTML response is a page."""
    from crawlers.entries.links import article_signal
    from crawlers.once import PAGE_CALLBACKS
    from crawlers.runner import CRAWL_DEFAULTS

    if not callback or callback == "parse_page":
        return None
    if callback not in PAGE_CALLBACKS:
        return f"a listing the crawl read for its links or posts ({callback}), not a page"
    threshold = (
        int(min_chars) if (min_chars or "").isdigit() else CRAWL_DEFAULTS["min_article_chars"]
    )
    if callback == "parse_linked" and not article_signal(html, threshold):
        return "a page the crawl followed for its links only (it does not look like an article)"
    return None


def _fetched_at(date: str | None) -> datetime:
    """A record's WARC-Date in UTC; now where it is missing, unreadable or no time a page was
    fetched (before 1900, or more than two days ahead: "9999-12-31T23:59:59-23:00" is in the
    year 10000 in UTC, a time Python cannot read back from the database)."""
    now = datetime.now(UTC)
    try:
        fetched = datetime.fromisoformat(date.replace("Z", "+00:00"))
        fetched = (fetched if fetched.tzinfo else fetched.replace(tzinfo=UTC)).astimezone(UTC)
    except (AttributeError, ValueError, OverflowError):
        return now
    plausible = datetime(1900, 1, 1, tzinfo=UTC) <= fetched <= now + timedelta(days=2)
    return fetched if plausible else now


def read_warc(path: str | Path, source: str | None = None, max_bytes: int | None = None):
    """Yield a PageRecord for each HTML response in a WARC / WARC.gz file (from this tool,
    browsertrix, wget --warc-file, ...), a (url, reason) for each response skipped, and a
    WarcProblem where the file is not what it should be: not a WARC file at all, a record cut
    short (a truncated file: the record is skipped), or unreadable bytes (reading stops there;
    what came before was yielded). A body is unpacked no further than ``max_bytes`` and a byte
    (one that is longer is then rejected as too large by the caller)."""
    from w3lib.encoding import html_to_unicode
    from warcio.archiveiterator import ArchiveIterator
    from warcio.limitreader import LimitReader

    with open(path, "rb") as handle:
        records = ArchiveIterator(handle)
        incomplete = records.INC_RECORD = _IncompleteRecords()
        stream = iter(records)
        count = 0  # WARC records read whole
        while True:
            offset = records.offset
            try:
                record = next(stream)
            except StopIteration:
                size = os.fstat(handle.fileno()).st_size
                if size > offset:  # warcio stops quietly inside a record cut short
                    yield _problem(offset, f"truncated: the record at byte {offset} is cut "
                                   f"short ({size - offset} bytes could not be read); it was "
                                   "skipped", count)  # fmt: skip
                break
            except Exception:  # noqa: BLE001 - warcio and zlib raise several kinds on garbage
                yield _problem(
                    offset, f"unreadable from byte {offset} on (not a WARC record)", count
                )
                return
            if record.rec_type is None:
                yield _problem(
                    offset, f"unreadable from byte {offset} on (not a WARC record)", count
                )
                return
            url = record.rec_headers.get_header("WARC-Target-URI")
            is_response = record.rec_type == "response" and record.http_headers is not None
            body, undecodable = b"", None
            try:
                body = response_body(record, max_bytes) if is_response else b""
            except Exception as err:  # noqa: BLE001 - zlib and warcio: a body that breaks
                undecodable = err  # off, or lies about its Content-Encoding
            try:
                records.read_to_end()
            except Exception:  # noqa: BLE001 - as above, the archive's own compression
                yield _problem(offset, f"unreadable from byte {offset} on (a broken record)", count)
                return
            if undecodable is not None:
                yield WarcProblem(offset, f"the response at byte {offset}"
                                  f"{f' ({_short(url)})' if url else ''} has a body that cannot "
                                  f"be decoded ({type(undecodable).__name__}); it was skipped",
                                  count)  # fmt: skip
                continue
            if not isinstance(record.raw_stream, LimitReader):  # no Content-Length: cut short
                yield _problem(offset, f"truncated: the record at byte {offset} is cut short "
                               "(its header has no Content-Length); it was skipped", count)  # fmt: skip
                continue
            if record.raw_stream.limit > 0:
                yield _problem(offset, f"truncated: the {record.rec_type} record at byte {offset}"
                               f"{f' ({_short(url)})' if url else ''} is cut short, "
                               f"{record.raw_stream.limit} bytes missing; it was skipped", count)  # fmt: skip
                continue
            count += 1
            if record.rec_type == "response" and record.http_headers is None:
                # warcio parses HTTP headers of http(s) targets only: dns:, ftp:, ...
                yield url or "", "not an HTTP response"
                continue
            if not is_response:
                continue
            if not url:
                yield "", "no WARC-Target-URI"
                continue
            content_type = record.http_headers.get_header("Content-Type") or ""
            try:
                status = int(record.http_headers.get_statuscode() or 0)
            except ValueError:
                status = 0
            where = (str(path), records.get_record_offset(), records.get_record_length())
            if not content_type.lower().startswith(("text/html", "application/xhtml+xml")):
                yield url, f"not HTML ({_short(content_type, 60) or 'no content type'})"
                continue
            if status != 200:
                yield url, f"HTTP {status}"
                continue
            encoding, html = html_to_unicode(content_type, body)
            callback = record.rec_headers.get_header(CALLBACK_HEADER)
            if skipped := _listing(callback, html, record.rec_headers.get_header(MIN_CHARS_HEADER)):
                yield url, skipped
                continue
            fetched = _fetched_at(record.rec_headers.get_header("WARC-Date"))
            yield PageRecord(
                url=url, source=source, origin="import", fetched_at=fetched, html=html,
                http_status=status, content_type=content_type, encoding=encoding,
                etag=record.http_headers.get_header("ETag"),
                last_modified=record.http_headers.get_header("Last-Modified"), warc=where,
            )  # fmt: skip
        if incomplete.offsets:
            first = incomplete.offsets[0]
            yield WarcProblem(
                first,
                f"{len(incomplete.offsets)} record(s) not followed by the blank lines a WARC "
                f"record ends with (first at byte {first}): a Content-Length may be wrong",
                count,
            )
