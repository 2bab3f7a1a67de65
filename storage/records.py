"""Typed records that cross the storage boundary: pages that crawlers hand in, what stages
see of a document and the outcomes every stage shares. Each stage's own result records,
lookups and answers live with its writer in storage/outputs/."""

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
    # crawl provenance: validators for the next conditional GET, what an API or channel said
    # about the page, and where the response's original bytes are archived
    etag: str | None = None
    last_modified: str | None = None
    author: str | None = None
    categories: list[str] | None = None
    meta: dict | None = None
    warc: tuple[str, int, int] | None = None  # (file, offset, length)

    @property
    def provenance(self) -> bool:
        return any((self.author, self.categories, self.meta, self.warc))


@dataclass(slots=True)
class NotModified:
    """A conditional GET answered 304: the stored version is still current."""

    url: str
    source: str | None
    fetched_at: datetime
    warc: tuple[str, int, int] | None = None


@dataclass(slots=True)
class EntryState:
    """An entry point (feed, sitemap, API listing, channel) read to its end: its watermark
    (e.g. the time a WordPress listing was read, for the next ``modified_after``)."""

    url: str
    source: str | None
    kind: str
    fetched_at: datetime
    lastmod: str | None = None


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

    @property
    def counts(self) -> dict[str, int]:
        return {f"rejected_{self.reason}": 1}

    @classmethod
    def of(cls, stage: str, doc: DocInput, reason: str, detail: str = "") -> Rejection:
        """The rejection of one stage input, carrying the document's identity."""
        return cls(
            stage,
            reason,
            detail,
            url=doc.url,
            source=doc.source,
            doc_id=doc.doc_id,
            version=doc.version,
        )


@dataclass(slots=True)
class DocInput:
    """What a pipeline stage sees of one document version."""

    doc_id: str
    version: int
    url: str
    source: str | None
    html: str | None = None
    raw_text: str | None = None  # imported text; without needs_html only where text is empty
    text: str | None = None
    title: str | None = None
    hint_title: str | None = None
    hint_published_at: str | None = None
    hint_lang: str | None = None
    lang: str | None = None
    translation_status: str | None = None
    translated_title: str | None = None
    translated_text: str | None = None
    seen_at: datetime | None = None  # published date where known, else first seen


@dataclass(slots=True)
class StageError:
    """A stage raised on this document (a document error, not the environment's): recorded
    with an attempt count and retried on later runs, up to a limit (pipeline/runner.py)."""

    doc_id: str
    version: int
    url: str | None
    source: str | None
    error: str

    @classmethod
    def of(cls, doc: DocInput, err: BaseException) -> StageError:
        text = str(err).strip().splitlines()[0] if str(err).strip() else "(no message)"
        return cls(doc.doc_id, doc.version, doc.url, doc.source, f"{type(err).__name__}: {text}")


@dataclass(slots=True)
class BatchResult:
    """What a stage returns when its batch has outputs beyond one result per document:
    ``items`` (one per input, in order) and ``outputs``, batch-level records (narrative
    states, merges) written in the same transaction by their stage output module
    (storage/outputs/). A stage with nothing batch-level may return the list of items."""

    items: list
    outputs: list = field(default_factory=list)


@dataclass(slots=True)
class StoreCounts:
    """What a batch of pages did to the store."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    not_modified: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)

    def tally(self, source: str | None, what: str) -> None:
        counts = self.by_source.setdefault(source or "", {})
        counts[what] = counts.get(what, 0) + 1

    def add(self, other: StoreCounts) -> None:
        for source, counts in other.by_source.items():
            for what, n in counts.items():
                mine = self.by_source.setdefault(source, {})
                mine[what] = mine.get(what, 0) + n
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.not_modified += other.not_modified
        for reason, n in other.by_reason.items():
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n

    def as_dict(self) -> dict:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "not_modified": self.not_modified,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.by_reason),
        }
