"""Importing without crawling: JSON Lines corpora (url plus html or text) and WARC archives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord, Rejection, StoreCounts
from storage.runs import finish_run, start_run
from storage.urls import canonical_url


@dataclass
class ImportReport:
    lines: int = 0  # JSON lines and WARC HTML responses read
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, why
    skipped: int = 0  # WARC responses that are not HTML pages (images, scripts, errors)
    counts: StoreCounts = field(default_factory=StoreCounts)
    run_id: str = ""


def parse_line(raw: str, max_bytes: int) -> PageRecord | Rejection:
    """One JSON line to a page, or raise ValueError saying what is wrong with it."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg} at column {err.colno})") from err
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    url = obj.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ValueError("missing 'url'")
    canonical_url(url)  # raises ValueError saying what is wrong with the URL
    html, text = obj.get("html"), obj.get("text")
    if not isinstance(html, str) and not isinstance(text, str):
        raise ValueError("needs 'html' or 'text' (a string)")
    for key in ("title", "published_at", "source", "lang"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"'{key}' must be a string")
    body = html if isinstance(html, str) else text
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return Rejection(
            "import",
            "too_large",
            f"{size} bytes > limit {max_bytes}",
            url=url,
            source=obj.get("source"),
        )
    return PageRecord(
        url=url.strip(),
        source=obj.get("source"),
        origin="import",
        fetched_at=datetime.now(UTC),
        html=html if isinstance(html, str) else None,
        text=text if not isinstance(html, str) else None,
        hint_title=obj.get("title"),
        hint_published_at=obj.get("published_at"),
        hint_lang=obj.get("lang"),
    )


def is_warc(path: str | Path) -> bool:
    return str(path).lower().endswith((".warc", ".warc.gz"))


def import_files(
    db_path, files: list[str | Path], *, batch_size: int = 500, max_bytes: int = 10 * 1024 * 1024
) -> ImportReport:
    """Import JSON Lines files line by line (malformed lines are reported with their numbers
    and skipped) and WARC files record by record (HTML responses only)."""
    from crawlers.warc import read_warc

    report = ImportReport()
    with connect(db_path) as con:
        report.run_id = start_run(con, "import")
    pages: list = []
    rejections: list = []

    def flush():
        nonlocal pages, rejections
        if pages or rejections:
            with connect(db_path) as con:
                report.counts.add(store_pages(con, pages, rejections, run_id=report.run_id))
        pages, rejections = [], []

    status = "failed"
    try:
        for file in files:
            if is_warc(file):
                try:
                    items = list(read_warc(file))
                except Exception as err:  # noqa: BLE001 - warcio raises several kinds
                    report.malformed.append((str(file), 0, f"not a readable WARC file: {err}"))
                    continue
                for item in items:
                    if isinstance(item, tuple):
                        report.skipped += 1
                        continue
                    report.lines += 1
                    size = len(item.html.encode("utf-8", "surrogatepass"))
                    if size > max_bytes:
                        rejections.append(Rejection("import", "too_large",
                                                    f"{size} bytes > limit {max_bytes}", url=item.url))  # fmt: skip
                    else:
                        pages.append(item)
                    if len(pages) + len(rejections) >= batch_size:
                        flush()
                continue
            with open(file, "rb") as handle:
                for number, raw in enumerate(handle, 1):
                    if not raw.strip():
                        continue
                    report.lines += 1
                    try:
                        item = parse_line(raw.decode("utf-8"), max_bytes)
                    except UnicodeDecodeError as err:
                        report.malformed.append((str(file), number, f"not UTF-8 ({err.reason})"))
                        continue
                    except ValueError as err:
                        report.malformed.append((str(file), number, str(err)))
                        continue
                    (pages if isinstance(item, PageRecord) else rejections).append(item)
                    if len(pages) + len(rejections) >= batch_size:
                        flush()
        flush()
        status = "ok"
    finally:
        with connect(db_path) as con:
            finish_run(
                con,
                report.run_id,
                status,
                {
                    "lines": report.lines,
                    "malformed": len(report.malformed),
                    "skipped": report.skipped,
                    **report.counts.as_dict(),
                },
            )
    return report
