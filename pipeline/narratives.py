"""Narratives: documents that carry the same story or claim, across languages and sites.

Incremental, for cron runs: each new document (oldest first) joins its copy group's
narrative if the group has one, else the active narrative whose centroid is nearest to the
document's lead vector (title + lead, see pipeline/embed.py) with its language's mean removed
(pipeline/similarity.py) when the cosine, plus ``cross_language`` for a part in another
language, reaches ``threshold``, else it starts a new narrative. "Nearest" is measured against each
narrative's language parts (the centroid of its documents in one language, see Clusterer). A narrative is active while its last document
is at most ``window_days`` older than the new one. When a document's arrival brings two
centroids within ``merge_threshold`` of each other, the narratives merge: the older id
survives, the other stays resolvable as an alias. Ids are never renumbered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.embedders import model_id_for
from pipeline.labels import terms
from pipeline.similarity import story_vectors
from storage.outputs.narratives import (
    NarrativeAssignment,
    NarrativeContext,
    NarrativeLookup,
    NarrativeMerge,
    NarrativeState,
)
from storage.records import BatchResult, DocInput, Rejection

VECTORS = ("embed", "words")
# "embed": see the calibration note on ClusterStage.threshold; "words": on the tgcontest pairs
# character n-grams of title and lead give F1 0.79 at 0.5-0.6 (0.84 with e5 vectors).
DEFAULT_THRESHOLD = {"embed": 0.46, "words": 0.55}
WORDS_MODEL_ID = "words:char34-hash2048"


ANY_LANGUAGE = "*"  # the one part of a narrative stored before parts were kept per language


@dataclass
class _Narrative:
    key: int | str
    size: int
    total: np.ndarray
    last_seen: datetime | None
    parts: dict = field(default_factory=dict)  # language -> [size, vector sum]

    def __post_init__(self) -> None:
        if not self.parts and self.size:
            self.parts = {ANY_LANGUAGE: [self.size, self.total]}

    @property
    def centroid(self) -> np.ndarray:
        return self.total / (np.linalg.norm(self.total) or 1.0)

    def state(self, model_id: str) -> NarrativeState:
        """The narrative as storage keeps it, with its language parts."""
        parts = [
            (lang, size, total.astype(np.float32).tolist())
            for lang, (size, total) in sorted(self.parts.items())
        ]
        return NarrativeState(
            self.key, model_id, self.size, self.total.astype(np.float32).tolist(),
            self.last_seen, parts,
        )  # fmt: skip


@dataclass
class Clusterer:
    """The assignment rule, shared by the stage (a batch at a time) and ``cluster --rebuild``.

    A narrative is scored by its nearest language part: the centroid of its documents in one
    language. Multilingual embedding models put texts of one language closer together than
    translations of each other, so the centroid of a mixed-language narrative sits away from
    every one of its languages; a part does not. The part sums live in one matrix, so
    scoring a document against every active narrative is one matrix-vector product."""

    threshold: float
    merge_threshold: float
    window_days: int
    cross_language: float = 0.0  # allowance for a part in another language (see the stage)
    active: dict = field(default_factory=dict)  # key -> _Narrative
    group_narrative: dict = field(default_factory=dict)  # copy group -> key
    merges: list = field(default_factory=list)
    aliases: dict = field(default_factory=dict)  # merged key -> survivor key

    def __post_init__(self) -> None:
        self._rows: list = []  # (key, language) per matrix row
        self._row: dict = {}  # (key, language) -> row
        self._totals = np.zeros((0, 0), dtype=np.float32)
        self._norms = np.zeros(0, dtype=np.float32)
        self._last = np.zeros(0, dtype=np.float64)
        self._alive = np.zeros(0, dtype=bool)

    def add(self, n: _Narrative) -> None:
        """Register a narrative (loaded from storage or new)."""
        self.active[n.key] = n
        self._sync(n)

    def _sync(self, n: _Narrative) -> None:
        """Write a narrative's parts into the matrix, growing it by doubling."""
        last = n.last_seen.timestamp() if n.last_seen else np.inf
        alive = n.key in self.active
        for lang, (_, total) in n.parts.items():
            row = self._row.get((n.key, lang))
            if row is None:
                row = len(self._rows)
                if row == len(self._norms):
                    cap = max(64, 2 * row)
                    totals = np.zeros((cap, len(total)), dtype=np.float32)
                    if row:
                        totals[:row] = self._totals[:row]
                    self._totals = totals
                    self._norms = np.resize(self._norms, cap)
                    self._last = np.resize(self._last, cap)
                    self._alive = np.resize(self._alive, cap)
                self._rows.append((n.key, lang))
                self._row[(n.key, lang)] = row
            self._totals[row] = total
            self._norms[row] = np.linalg.norm(total) or 1.0
            self._last[row] = last
            self._alive[row] = alive

    def resolve(self, key):
        while key in self.aliases:
            key = self.aliases[key]
        return key

    def _scores(
        self, vector: np.ndarray, horizon: datetime | None, lang: str | None = None
    ) -> np.ndarray:
        k = len(self._rows)
        if k == 0:
            return np.zeros(0)
        sims = (self._totals[:k] @ vector) / self._norms[:k]
        if lang and self.cross_language:
            other = np.fromiter(
                (part not in (lang, ANY_LANGUAGE) for _, part in self._rows), bool, count=k
            )
            sims = sims + self.cross_language * other
        valid = self._alive[:k].copy()
        if horizon is not None:
            valid &= self._last[:k] >= horizon.timestamp()
        sims[~valid] = -np.inf
        return sims

    def assign(
        self,
        doc_id: str,
        vector: np.ndarray,
        seen: datetime | None,
        group: str | None,
        lang: str | None = None,
    ):
        """(narrative key, similarity, via) for one document; updates the state."""
        lang = lang or ""
        horizon = seen - timedelta(days=self.window_days) if seen else None
        key, similarity, via = None, None, "new"
        if group is not None and group in self.group_narrative:
            key = self.resolve(self.group_narrative[group])
            via = "copy"
            similarity = float(self.active[key].centroid @ vector)
        else:
            sims = self._scores(vector, horizon, lang)
            if len(sims) and np.isfinite(sims.max()) and sims.max() >= self.threshold:
                best = int(np.argmax(sims))
                key, via = self._rows[best][0], "nearest"
                # the cosine itself, without the cross-language allowance
                similarity = float(self._totals[best] @ vector / self._norms[best])
        if key is None:
            key = f"new:{doc_id}"
            self.add(_Narrative(key, 0, np.zeros_like(vector), seen))
        n = self.active[key]
        n.size += 1
        n.total = n.total + vector
        part = n.parts.setdefault(lang, [0, np.zeros_like(vector)])
        part[0] += 1
        part[1] = part[1] + vector
        if seen and (n.last_seen is None or seen > n.last_seen):
            n.last_seen = seen
        self._sync(n)
        if group is not None:
            self.group_narrative.setdefault(group, key)
        self._maybe_merge(n, lang, horizon)
        return self.resolve(key), similarity, via

    def _maybe_merge(self, n: _Narrative, lang: str, horizon: datetime | None) -> None:
        """Merge when the part a document just joined comes within ``merge_threshold`` of a
        part of another active narrative."""
        part = n.parts[lang][1]
        sims = self._scores(part / (np.linalg.norm(part) or 1.0), horizon)
        if not len(sims):
            return
        for own in n.parts:
            sims[self._row[(n.key, own)]] = -np.inf
        best = int(np.argmax(sims))
        if not np.isfinite(sims[best]) or sims[best] < self.merge_threshold:
            return
        other = self.active[self._rows[best][0]]
        survivor, merged = (n, other) if _older(n.key, other.key) else (other, n)
        survivor.size += merged.size
        survivor.total = survivor.total + merged.total
        for part_lang, (size, total) in merged.parts.items():
            mine = survivor.parts.setdefault(part_lang, [0, np.zeros_like(total)])
            mine[0] += size
            mine[1] = mine[1] + total
        if merged.last_seen and (
            survivor.last_seen is None or merged.last_seen > survivor.last_seen
        ):
            survivor.last_seen = merged.last_seen
        del self.active[merged.key]
        self._sync(merged)  # its rows are no longer alive
        self._sync(survivor)
        self.aliases[merged.key] = survivor.key
        self.merges.append(
            (merged.key, survivor.key, f"centroids converged (cosine {float(sims[best]):.3f})")
        )


def _chronological(doc: DocInput) -> tuple:
    seen = doc.seen_at
    return (seen is None, seen.timestamp() if seen else 0.0, doc.doc_id)


def _older(a, b) -> bool:
    """Existing ids (integers) are older than this batch's; among equals, the smaller."""
    if isinstance(a, int) != isinstance(b, int):
        return isinstance(a, int)
    return a < b


@dataclass
class ClusterStage(Stage):
    """Assign each document to a narrative (see the module docstring). Keyword terms are taken
    from the English translation where there is one, else from the original text."""

    name: str = "cluster"
    # 2: documents are compared by their centred leads (pipeline/similarity.py); 3: threshold
    # 0.46 and cross-language allowance 0.17 (were 0.48 and 0.2). A database clustered by an
    # earlier version is re-clustered once.
    version: str = "3"
    # Calibrated (vectors = "embed", centred leads, cross-language allowance 0.17) with
    # bench/bench_similarity.py: from 0.42 to 0.48 every planted demo narrative is one
    # narrative and none merge; over 0.44-0.48 tgcontest same-story F1 is 0.84-0.87 and SemEval
    # same-story F1 0.75-0.76 (README, "Similarity and language bias").
    threshold: float | None = None  # default per vectors: DEFAULT_THRESHOLD
    merge_threshold: float = 0.97
    # Added to the similarity with a narrative's part in another language: even with the
    # language means removed, two articles on one story in two languages score lower than
    # in one. The demo's planted narratives need 0.17 or more to hold up to 0.48; SemEval's
    # same-story F1 falls as it grows (at 0.46 in the gate's import order: 0.771 with 0.15,
    # 0.759 with 0.17, 0.721 with 0.2; over 40 random orders 0.764 and 0.761 with 0.15 and
    # 0.17; README, "Similarity and language bias").
    cross_language: float = 0.17
    window_days: int = 30
    embed_model: str = "e5-small"
    embed_input: str = "original"
    embed_prefix: str = "query"
    vectors: str = "embed"
    lead_chars: int = 300
    requires: tuple[str, ...] = field(init=False)
    needs_html: bool = False
    # Assigning documents again on top of narratives that already count them would count
    # them twice; a fresh assignment of everything is what `cluster --rebuild` does.
    force_refusal = "run `narrascope cluster --rebuild` to re-cluster everything"
    # Each document sees the narratives the documents before it formed, in this batch and
    # earlier ones: the batch is never split (see pipeline/contract.py).
    whole_batch = True

    def __post_init__(self) -> None:
        if self.vectors not in VECTORS:
            raise ValueError(f"cluster vectors must be one of {VECTORS}, not {self.vectors!r}")
        # "words" needs no embed stage: documents are compared by hashed character n-grams of
        # their title and lead (the fallback when no embedding model runs)
        self.requires = ("embed", "dedup") if self.vectors == "embed" else ("dedup",)
        if self.threshold is None:
            self.threshold = DEFAULT_THRESHOLD[self.vectors]

    @classmethod
    def from_settings(cls, settings: dict) -> ClusterStage:
        keys = (
            "threshold", "merge_threshold", "cross_language", "window_days", "embed_model",
            "embed_input",
            "embed_prefix", "vectors", "lead_chars",
        )  # fmt: skip
        return cls(**stage_options("cluster", settings, keys))

    @property
    def model_id(self) -> str:
        if self.vectors == "words":
            return WORDS_MODEL_ID
        return model_id_for(self.embed_model, self.embed_prefix)

    def word_vectors(self, leads: list[str]) -> np.ndarray:
        """Unit vectors of hashed character 3- and 4-grams (scikit-learn's HashingVectorizer):
        language-agnostic, no model, robust to Russian word endings."""
        from sklearn.feature_extraction.text import HashingVectorizer

        hashing = HashingVectorizer(
            n_features=2048, alternate_sign=False, norm="l2", analyzer="char_wb", ngram_range=(3, 4)
        )
        return hashing.transform(leads).toarray().astype(np.float32)

    def lead(self, doc: DocInput) -> str:
        title = doc.title or doc.hint_title or ""
        text = (doc.text or doc.raw_text or "")[: self.lead_chars]
        return f"{title}\n{text}" if title else text

    def clusterer(self) -> Clusterer:
        # the allowance is calibrated for centred embeddings, not for character n-grams
        allowance = self.cross_language if self.vectors == "embed" else 0.0
        return Clusterer(self.threshold, self.merge_threshold, self.window_days, allowance)

    @staticmethod
    def story_vectors(batch: list[DocInput], answer: NarrativeContext) -> dict:
        """doc id -> the vector narratives compare (pipeline/similarity.py): the lead, with
        its language's mean removed."""
        docs = [d for d in batch if d.doc_id in answer.vectors]
        if not docs:
            return {}
        leads = np.array([answer.vectors[d.doc_id] for d in docs], dtype=np.float32)
        matrix = story_vectors(leads, [d.lang for d in docs], answer.means)
        return {d.doc_id: matrix[i] for i, d in enumerate(docs)}

    def lookups(self, batch: list[DocInput], prepared=None) -> list:
        dates = [d.seen_at for d in batch if d.seen_at is not None]
        since = min(dates) - timedelta(days=self.window_days) if dates else None
        return [
            NarrativeLookup(self.model_id, self.embed_input, tuple(d.doc_id for d in batch), since)
        ]

    def process(
        self, batch: list[DocInput], found: dict | None = None, prepared=None
    ) -> BatchResult:
        answer = next(iter((found or {}).values()), None) or NarrativeContext()
        state = self.clusterer()
        for stored in answer.active:
            parts = {
                lang: [n, np.asarray(part, dtype=np.float32)] for lang, n, part in stored.parts
            }
            total = np.asarray(stored.vector_sum, dtype=np.float32)
            state.add(_Narrative(stored.narrative_id, stored.size, total, stored.last_seen, parts))
        state.group_narrative.update(answer.group_narratives)
        order = sorted(range(len(batch)), key=lambda i: _chronological(batch[i]))
        results: list = [None] * len(batch)
        if self.vectors == "words":
            matrix = self.word_vectors([self.lead(d) for d in batch])
            vectors = {d.doc_id: matrix[i] for i, d in enumerate(batch) if matrix[i].any()}
        else:
            vectors = self.story_vectors(batch, answer)
        for i in order:
            doc = batch[i]
            v = vectors.get(doc.doc_id)
            if v is None:
                results[i] = Rejection.of(self.name, doc, "no_vector", f"no {self.model_id} vector")
                continue
            key, similarity, via = state.assign(
                doc.doc_id, v, doc.seen_at, answer.groups.get(doc.doc_id), doc.lang
            )
            english = (
                doc.translated_text
                if doc.translation_status == "translated" and doc.translated_text
                else doc.text or doc.raw_text or ""
            )
            results[i] = NarrativeAssignment(
                doc.doc_id, doc.version, key, similarity, via, self.model_id, terms(english)
            )
        # final keys (merges may have redirected earlier assignments), then the batch-level
        # outputs: the state of every narrative the batch touched, and its merges
        touched = {}
        for r in results:
            if isinstance(r, NarrativeAssignment):
                r.narrative = state.resolve(r.narrative)
                touched[r.narrative] = True
        outputs: list = [state.active[key].state(self.model_id) for key in touched]
        outputs += [NarrativeMerge(m, s, why) for m, s, why in state.merges]
        return BatchResult(results, outputs)
