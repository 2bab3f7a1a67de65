"""Reading WARC / WARC.gz files for import: each HTML response a PageRecord, each other
response a reason, and each place the file is not what it should be a WarcProblem. The
archive's writer (crawlers/warc.py) tags its records with the callback that read them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawlers.warc import CALLBACK_HEADER, MIN_CHARS_HEADER
from storage.records import PageRecord


@dataclass(slots=True)
class WarcProblem:
    """Something wrong with a WARC file at byte ``offset``; ``note`` is short and never holds
    the file's raw bytes. ``records`` is how many WARC records were read before it."""

    offset: int
    note: str
    records: int
    whole_file: bool = False  # nothing of the file could be read


class _IncompleteRecords:
    """Stands in for warcio's INC_RECORD template, which it formats with the offending bytes
    (a record not followed by the blank lines a record ends with) and writes to stderr: we
    count them instead and write nothing."""

    def __init__(self):
        self.seen = 0

    def format(self, _offset, _remainder) -> str:
        self.seen += 1
        return ""


def _short(text: str | None, width: int = 100) -> str:
    """``text`` cut to ``width``, in printable characters: a WARC header is the archive
    writer's to fill, and a newline or right-to-left override in it would garble the report."""
    text = "" if text is None else str(text)
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:width])
    return shown if len(text) <= width and len(shown) <= width else shown[: width - 1] + "…"


def _problem(offset: int, note: str, records: int) -> WarcProblem:
    if offset == 0 and records == 0:
        return WarcProblem(0, "not a readable WARC file (no complete WARC record at its start)",
                           0, whole_file=True)  # fmt: skip
    return WarcProblem(offset, note, records)


#: where a record starts: a line "WARC/1.0" (or 1.1), and a header field on the next (the bytes
#: before it may be a header line cut short, with no line break at its end)
_RECORD_START = re.compile(rb"WARC/1\.[01]\r?\n[!-9;-~]+:")
HEADER_SPAN = 64 * 1024  # how far a WARC header block is looked through


def start_in_header(handle, offset: int) -> int | None:
    """Where the next record starts inside the header block read for the record at byte
    ``offset``, which was cut short in its header (``_runs_into_next``), in an uncompressed
    file; None where it does not. Only header lines are looked through, never a body: after
    any other damage, what follows may be a page's own bytes, and a page may quote a record
    (an article on web archiving, or a page made to plant one), so reading stops there."""
    handle.seek(offset + 1)
    data = handle.read(HEADER_SPAN)
    end = data.find(b"\r\n\r\n")  # the end of the header block: the next record's own
    found = _RECORD_START.search(data, 0, len(data) if end == -1 else end)
    return None if found is None else offset + 1 + found.start()


def _runs_into_next(record) -> bool:
    """Whether a record's header holds another record's: the record was cut short inside its
    header, and the next record's header lines were read as its own (warcio reads header
    lines up to a blank one)."""
    names = [name.lower() for name, _value in record.rec_headers.headers]
    return names.count("warc-type") > 1 or names.count("warc-record-id") > 1


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
    short or whose Content-Length is wrong (skipped; where it was cut inside its header,
    reading goes on at the record that follows; in an uncompressed file, a wrong length ends
    the reading), or unreadable bytes (reading stops there; what came before was yielded). A body
    is unpacked no further than ``max_bytes`` and a byte (one that is longer is then rejected
    as too large by the caller)."""
    with open(path, "rb") as handle:
        reading = _Reading(path, source, max_bytes)
        start = 0
        while start is not None:
            start = yield from reading.records_from(handle, start)


@dataclass
class _Reading:
    """One WARC file being read: records are read from an offset on until the end, or until
    reading goes on at a later offset (``records_from`` returns it)."""

    path: str | Path
    source: str | None
    max_bytes: int | None
    packed: bool = False  # the records being read are gzip members, one per record
    count: int = 0  # WARC records read whole
    incomplete: _IncompleteRecords = field(default_factory=_IncompleteRecords)

    def records_from(self, handle, start: int):
        from warcio.archiveiterator import ArchiveIterator
        from warcio.limitreader import LimitReader

        handle.seek(start)
        self.packed = handle.read(2) == b"\x1f\x8b"  # gzip members, one per record
        handle.seek(start)
        records = ArchiveIterator(handle)
        records.INC_RECORD = self.incomplete
        stream = iter(records)
        while True:
            offset = records.offset
            try:
                record = next(stream)
            except StopIteration:
                size = os.fstat(handle.fileno()).st_size
                if size > offset:  # warcio stops quietly inside a record cut short
                    yield _problem(offset, f"truncated: the record at byte {offset} is cut "
                                   f"short ({size - offset} bytes could not be read); it was "
                                   "skipped", self.count)  # fmt: skip
                return None
            except Exception:  # noqa: BLE001 - warcio and zlib raise several kinds on garbage
                record = None
            if record is None or record.rec_type is None:
                yield _problem(offset, f"unreadable from byte {offset} on (not a WARC record)",
                               self.count)  # fmt: skip
                return None
            url = record.rec_headers.get_header("WARC-Target-URI")
            named = f" ({_short(url)})" if url else ""
            if _runs_into_next(record):  # its body would be the next record's
                later = start_in_header(handle, offset)
                rest = f"reading went on there (byte {later})" if later else "the rest was skipped"
                yield WarcProblem(offset, f"the record at byte {offset}{named} is cut short "
                                  f"inside its header, where the next record starts: it was "
                                  f"skipped, and {rest}", self.count)  # fmt: skip
                return later
            is_response = record.rec_type == "response" and record.http_headers is not None
            body, undecodable = b"", None
            try:
                body = response_body(record, self.max_bytes) if is_response else b""
            except Exception as err:  # noqa: BLE001 - zlib and warcio: a body that breaks
                undecodable = err  # off, or lies about its Content-Encoding
            unended = self.incomplete.seen
            try:
                records.read_to_end()
            except Exception:  # noqa: BLE001 - as above, the archive's own compression
                yield _problem(offset, f"unreadable from byte {offset} on (a broken record)",
                               self.count)  # fmt: skip
                return None
            if self.incomplete.seen > unended:  # its length is wrong: its body holds bytes
                # not its own, or misses its end
                whole = "the gzip member's" if self.packed else "the file's"
                yield WarcProblem(offset, f"the {record.rec_type} record at byte {offset}{named} "
                                  "is not followed by the blank lines a WARC record ends with: "
                                  "its Content-Length is wrong, and it was skipped"
                                  f"{'' if self.packed else '; reading stops there'}"
                                  f" ({whole} rest may be a page's own bytes)", self.count)  # fmt: skip
                if self.packed:
                    continue
                return None
            if undecodable is not None:
                yield WarcProblem(offset, f"the response at byte {offset}{named} has a body that "
                                  f"cannot be decoded ({type(undecodable).__name__}); it was "
                                  "skipped", self.count)  # fmt: skip
            elif not isinstance(record.raw_stream, LimitReader):  # no Content-Length: cut short
                yield _problem(offset, f"truncated: the record at byte {offset} is cut short "
                               "(its header has no Content-Length); it was skipped", self.count)  # fmt: skip
            elif record.raw_stream.limit > 0:
                yield _problem(offset, f"truncated: the {record.rec_type} record at byte "
                               f"{offset}{named} is cut short, {record.raw_stream.limit} bytes "
                               "missing; it was skipped", self.count)  # fmt: skip
            else:
                self.count += 1
                item = self._item(record, records, url, body)
                if item is not None:
                    yield item

    def _item(self, record, records, url, body):
        """A record read whole as a PageRecord, a (url, reason) it was skipped for, or None
        where it is no response at all."""
        from w3lib.encoding import html_to_unicode

        if record.rec_type == "response" and record.http_headers is None:
            # warcio parses HTTP headers of http(s) targets only: dns:, ftp:, ...
            return url or "", "not an HTTP response"
        if record.rec_type != "response":
            return None
        if not url:
            return "", "no WARC-Target-URI"
        content_type = record.http_headers.get_header("Content-Type") or ""
        try:
            status = int(record.http_headers.get_statuscode() or 0)
        except ValueError:
            status = 0
        where = (str(self.path), records.get_record_offset(), records.get_record_length())
        if not content_type.lower().startswith(("text/html", "application/xhtml+xml")):
            return url, f"not HTML ({_short(content_type, 60) or 'no content type'})"
        if status != 200:
            return url, f"HTTP {status}"
        encoding, html = html_to_unicode(content_type, body)
        callback = record.rec_headers.get_header(CALLBACK_HEADER)
        if skipped := _listing(callback, html, record.rec_headers.get_header(MIN_CHARS_HEADER)):
            return url, skipped
        fetched = _fetched_at(record.rec_headers.get_header("WARC-Date"))
        return PageRecord(
            url=url, source=self.source, origin="import", fetched_at=fetched, html=html,
            http_status=status, content_type=content_type, encoding=encoding,
            etag=record.http_headers.get_header("ETag"),
            last_modified=record.http_headers.get_header("Last-Modified"), warc=where,
        )  # fmt: skip
