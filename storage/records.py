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
    seen_at: datetime | None = None  # published date where known, else first seen


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
    lead_vector: list[float] | None = None  # title + lead only: the story, for narratives

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
class CopyResult:
    """A document's MinHash signature (``num_perm`` little-endian uint32 values, see
    pipeline/dedup.py), its LSH band buckets, and the copies found: (other doc_id, kind,
    similarity) with kind 'exact', 'near' (similarity = estimated Jaccard) or 'translated'
    (similarity = cosine)."""

    doc_id: str
    version: int
    text_hash: str
    num_perm: int
    seed: int
    signature: bytes
    buckets: list[int]
    matches: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in {k for _, k, _ in self.matches}:
            out[f"{kind}_copies"] = 1
        return out


@dataclass(frozen=True, slots=True)
class CopyCandidatesLookup:
    """Stored documents that may be copies of a batch: same normalised-text hash, a shared LSH
    bucket, or (for translated copies) a vector of ``model_id``/``input`` dated within
    [since, until]; plus the batch documents' own vectors."""

    text_hashes: tuple[str, ...]
    buckets: tuple[tuple[int, int], ...]  # (band, bucket)
    doc_ids: tuple[str, ...]
    model_id: str | None = None
    input: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(slots=True)
class NarrativeAssignment:
    """A document's narrative. ``narrative`` is an existing narrative id, or ``"new:<doc_id>"``
    for a narrative this batch started (storage gives it the next id). ``via`` is 'copy'
    (joined its copy group's narrative), 'nearest' (centroid similarity >= threshold) or
    'new'. ``state`` is the narrative after the batch: (size, vector_sum, last_seen, parts),
    parts being (language, size, vector_sum) per language, and
    ``merges`` the (merged, survivor, reason) merges the batch made (on its first result)."""

    doc_id: str
    version: int
    narrative: int | str
    similarity: float | None
    via: str
    model_id: str
    terms: list[tuple[str, int]] = field(default_factory=list)
    state: tuple | None = None
    merges: list[tuple[int | str, int | str, str]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {f"narrative_{self.via}": 1, "narrative_merges": len(self.merges)}


@dataclass(frozen=True, slots=True)
class NarrativeLookup:
    """For a batch: each document's lead vector and seen date, the narrative of each document's
    copy group (where one member has one), and the narratives active since ``since``."""

    model_id: str
    input: str
    doc_ids: tuple[str, ...]
    since: datetime | None


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
