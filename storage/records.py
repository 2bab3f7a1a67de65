"""Typed records that cross the storage boundary: what crawlers and stages hand in and get out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class PageRecord:
    """One fetched or imported page, before any processing."""

    url: str
    source: str | None
    origin: str  # 'crawl' or 'import'
    fetched_at: datetime
    html: str | None = None
    text: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    encoding: str | None = None
    hint_title: str | None = None
    hint_published_at: str | None = None
    hint_lang: str | None = None


@dataclass(slots=True)
class Rejection:
    """A normal outcome of messy data: this input was not usable, and here is why."""

    stage: str
    reason: str
    detail: str = ""
    url: str | None = None
    source: str | None = None
    doc_id: str | None = None
    version: int | None = None


@dataclass(slots=True)
class DocInput:
    """What a pipeline stage sees of one document version."""

    doc_id: str
    version: int
    url: str
    source: str | None
    html: str | None = None
    raw_text: str | None = None
    text: str | None = None
    title: str | None = None
    hint_title: str | None = None
    hint_published_at: str | None = None
    hint_lang: str | None = None


@dataclass(slots=True)
class Extraction:
    doc_id: str
    version: int
    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    sitename: str | None = None


@dataclass(slots=True)
class LanguageResult:
    doc_id: str
    version: int
    lang: str
    confidence: float
    method: str


@dataclass(slots=True)
class StoreCounts:
    """What a batch of pages did to the store."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: StoreCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.by_reason),
        }
