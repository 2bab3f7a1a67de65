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
    lang: str | None = None
    translation_status: str | None = None
    translated_title: str | None = None
    translated_text: str | None = None


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
class Translation:
    """One document version's translation. ``status`` is 'translated', 'not_needed' (already
    in the target language), 'no_model' (no installed model for ``source_lang``) or
    'undetermined' (no language to translate from). ``new_cache`` holds sentence translations
    computed for this document, as (sentence_hash, translation) pairs, for the cache."""

    doc_id: str
    version: int
    source_lang: str | None
    target_lang: str
    status: str
    model_id: str | None = None
    title: str | None = None
    text: str | None = None
    sentences: int = 0
    cache_hits: int = 0
    text_hash: str | None = None
    reused_from: str | None = None
    new_cache: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {self.status: 1, "sentences": self.sentences, "cache_hits": self.cache_hits}
        if self.reused_from:
            out["reused"] = 1
        return out


@dataclass(slots=True)
class Embedding:
    """One document version's vector: unit length, pooled over ``chunks`` chunks of ``input``
    ('original' or 'translation') by the model ``model_id`` running on ``runtime``."""

    doc_id: str
    version: int
    model_id: str
    runtime: str
    input: str
    chunks: int
    truncated: bool
    text_hash: str
    vector: list[float]
    reused_from: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {"chunks": self.chunks}
        if self.reused_from:
            out["reused"] = 1
        if self.truncated:
            out["truncated"] = 1
        return out


# Lookups: what a stage asks storage for before it processes a batch (the runner answers them
# while the database is open, so stages stay pure batch-in/batch-out functions).


@dataclass(frozen=True, slots=True)
class SentenceCacheLookup:
    """Cached translations of sentences, by sentence hash."""

    source_lang: str
    target_lang: str
    model_id: str
    hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TranslationReuseLookup:
    """Finished translations of documents with the same normalised text and language."""

    target_lang: str
    keys: tuple[tuple[str, str], ...]  # (text_hash, source_lang)


@dataclass(frozen=True, slots=True)
class VectorReuseLookup:
    """Stored vectors of documents with the same normalised input text, same model and input."""

    model_id: str
    input: str
    hashes: tuple[str, ...]


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
