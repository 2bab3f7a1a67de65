"""Importing JSON Lines corpora (url plus html or text) without crawling."""

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
    lines: int = 0
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, why
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


def import_jsonl(
    db_path, files: list[str | Path], *, batch_size: int = 500, max_bytes: int = 10 * 1024 * 1024
) -> ImportReport:
    """Import files line by line; malformed lines are reported with their numbers and skipped."""
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
                    **report.counts.as_dict(),
                },
            )
    return report
