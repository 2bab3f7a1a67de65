"""A stored page's archived response, read from its WARC record (page_meta.warc_file,
warc_offset, warc_length) for the document page's "archived page" view. It is shown as
escaped text, never as live HTML: the page was written by someone we do not trust."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

#: shown at most: the rest is cut with a note (the WARC file keeps every byte)
MAX_BYTES = 1 << 20


@dataclass
class Archived:
    url: str
    status: str
    headers: list[tuple[str, str]]
    text: str
    truncated: bool
    length: int


#: what an archive pointer may name: a pointer is data (a crawler on another host, or anyone
#: who could write to a shared frontier, may have set it), so nothing but WARC files is read
WARC_SUFFIXES = (".warc", ".warc.gz")


def _locate(warc_file: str, db_path: Path) -> Path:
    path = Path(warc_file)
    if not path.name.lower().endswith(WARC_SUFFIXES):
        raise ValueError(f"{path.name!r} is not a WARC file")
    if not path.is_absolute() and not path.exists():
        path = db_path.parent / path  # our crawls store absolute paths; try beside the database
    return path


def read_record(warc_file: str, offset: int, length: int, db_path: Path) -> Archived:
    """The response record at ``offset``; OSError or ValueError when it cannot be read."""
    from w3lib.encoding import html_to_unicode
    from warcio.archiveiterator import ArchiveIterator

    from crawlers.warc_read import response_body

    path = _locate(warc_file, db_path)
    if not path.is_file():
        raise OSError(f"{path} is not a file here (a crawl host's WARC files stay on that host)")
    with path.open("rb") as handle:
        handle.seek(offset)
        raw = handle.read(length)
    for record in ArchiveIterator(io.BytesIO(raw)):
        if record.rec_type != "response":
            continue
        http = record.http_headers
        body = response_body(record, MAX_BYTES) if http else b""
        content_type = (http.get_header("Content-Type") or "") if http else ""
        # the charset as the crawler decoded it: header, BOM, <meta>, then a guess (w3lib)
        _, text = html_to_unicode(content_type, body[:MAX_BYTES])
        return Archived(
            url=record.rec_headers.get_header("WARC-Target-URI") or "",
            status=http.get_statuscode() if http else "",
            headers=list(http.headers) if http else [],
            text=text,
            truncated=len(body) > MAX_BYTES,
            length=len(body),
        )
    raise ValueError("no response record at that offset")
