"""Narratives: documents that carry the same story or claim, across languages and sites.

Incremental, for cron runs: each new document (oldest first) joins its copy group's
narrative if the group has one, else the active narrative whose centroid is nearest to the
document's lead vector (title + lead, see pipeline/embed.py) with its language's mean removed
(pipeline/similarity.py) when the cosine, plus ``cross_language`` for a part in another
language, reaches ``threshold``, else it starts a new narrative. "Nearest" is measured against
each narrative's language parts (the centroid of its documents in one language, see
pipeline/clusterer.py). A narrative is active while its last document is at most
``window_days`` older than the new one. When a document's arrival brings two
centroids within ``merge_threshold`` of each other, the narratives merge: the older id
survives, the other stays resolvable as an alias. Ids are never renumbered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from pipeline.clusterer import Clusterer, Narrative
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
)
from storage.records import BatchResult, DocInput, Rejection

VECTORS = ("embed", "words")
# "embed": see the calibration note on ClusterStage.threshold; "words": on the tgcontest pairs
# character n-grams of title and lead give F1 0.79 at 0.5-0.6 (0.84 with e5 vectors).
DEFAULT_THRESHOLD = {"embed": 0.46, "words": 0.55}
WORDS_MODEL_ID = "words:char34-hash2048"


def _chronological(doc: DocInput) -> tuple:
    seen = doc.seen_at
    return (seen is None, seen.timestamp() if seen else 0.0, doc.doc_id)


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
    # A document costs less than a batch's open, reads and close of the file, which grow
    # with the store: batches of 8 x [pipeline] batch_size. A batch is assigned oldest first,
    # so documents first seen in the order they were published (a crawl that follows its
    # sites) form the same narratives, with the same ids, in batches of any size
    # (tests/pipeline/test_narratives.py; docs/benchmarks.md, "End to end").
    batch_factor = 8

    def __post_init__(self) -> None:
        if self.vectors not in VECTORS:
            raise ValueError(f"cluster vectors must be one of {VECTORS}, not {self.vectors!r}")
        # "words" needs no embed stage: documents are compared by hashed character n-grams of
        # their title and lead (the fallback when no embedding model runs)
        self.requires = ("embed", "dedup") if self.vectors == "embed" else ("dedup",)
        if self.threshold is None:
            self.threshold = DEFAULT_THRESHOLD[self.vectors]
        for name in ("threshold", "merge_threshold"):  # a similarity: a run would go on
            value = getattr(self, name)  # with every document alone, or all in one
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise ValueError(f"[cluster] {name} must be a number in (0, 1], not {value!r}")
        if not isinstance(self.cross_language, int | float) or not 0 <= self.cross_language < 1:
            raise ValueError(
                f"[cluster] cross_language must be in [0, 1), not {self.cross_language!r}"
            )
        if not isinstance(self.window_days, int) or self.window_days < 1:
            raise ValueError(
                f"[cluster] window_days must be a whole number >= 1, not {self.window_days!r}"
            )

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

    def _leave(self, narratives: dict, answer: NarrativeContext, vectors: dict) -> set:
        """Take the batch's documents that will be placed again (those with a vector) out of
        the narratives their earlier versions are in (storage withdraws their rows in the
        same write): a narrative's size, its language part and its sum lose the earlier
        version's vector (with hashed word vectors, of which nothing is stored, the part's
        average); one left with none is dropped. Returns the narratives left with some."""
        left = set()
        for doc_id, (key, lang, vector) in sorted(answer.earlier.items()):
            n = narratives.get(key)
            if n is None or doc_id not in vectors:
                continue
            lang = lang if lang in n.parts else max(n.parts, key=lambda x: n.parts[x][0])
            size, total = n.parts[lang]
            if vector is not None and self.vectors == "embed":
                mine = story_vectors(np.asarray([vector], dtype=np.float32), [lang],
                                     answer.means)[0]  # fmt: skip
            else:
                mine = total / max(size, 1)
            n.size -= 1
            n.total = n.total - mine
            if size <= 1:
                del n.parts[lang]
            else:
                n.parts[lang] = [size - 1, total - mine]
            if n.size <= 0 or not n.parts:
                del narratives[key]
                left.discard(key)
            else:
                left.add(key)
        # its last date: its other members' latest, and that of the batch's documents that
        # stay (before, the date of one that left kept the narrative in the window)
        for key in left:
            dates = [answer.rest_last_seen.get(key)] + [
                answer.earlier_seen.get(doc_id)
                for doc_id, (k, _, _) in answer.earlier.items()
                if k == key and doc_id not in vectors
            ]
            dates = [d for d in dates if d is not None]
            narratives[key].last_seen = max(dates) if dates else None
        return left

    def process(
        self, batch: list[DocInput], found: dict | None = None, prepared=None
    ) -> BatchResult:
        answer = next(iter((found or {}).values()), None) or NarrativeContext()
        if self.vectors == "words":
            matrix = self.word_vectors([self.lead(d) for d in batch])
            vectors = {d.doc_id: matrix[i] for i, d in enumerate(batch) if matrix[i].any()}
        else:
            vectors = self.story_vectors(batch, answer)
        narratives = {
            stored.narrative_id: Narrative(
                stored.narrative_id, stored.size, np.asarray(stored.vector_sum, dtype=np.float32),
                stored.last_seen,
                {lang: [n, np.asarray(part, dtype=np.float32)] for lang, n, part in stored.parts},
            )
            for stored in answer.active
        }  # fmt: skip
        left = self._leave(narratives, answer, vectors)
        state = self.clusterer()
        state.load(list(narratives.values()))
        state.group_narrative.update(answer.group_narratives)
        order = sorted(range(len(batch)), key=lambda i: _chronological(batch[i]))
        results: list = [None] * len(batch)
        for i in order:
            doc = batch[i]
            v = vectors.get(doc.doc_id)
            if v is None:
                results[i] = Rejection.of(self.name, doc, "no_vector", f"no {self.model_id} vector")
                continue
            key, similarity, via = state.assign(
                doc.doc_id, v, doc.seen_at, answer.groups.get(doc.doc_id), doc.lang
            )
            # the document's own words; its translation's are the translate stage's (schema 20)
            own = terms(doc.text or doc.raw_text or "", lang=doc.lang)
            results[i] = NarrativeAssignment(
                doc.doc_id, doc.version, key, similarity, via, self.model_id, own
            )
        # final keys (merges may have redirected earlier assignments), then the batch-level
        # outputs: the state of every narrative the batch touched, and its merges
        touched = {key: True for key in left if key in state.active}  # not merged away
        for r in results:
            if isinstance(r, NarrativeAssignment):
                r.narrative = state.resolve(r.narrative)
                # the narrative it started merged into another: no narrative was formed
                r.merged = r.via == "new" and r.narrative != f"new:{r.doc_id}"
                touched[r.narrative] = True
        outputs: list = [state.active[key].state(self.model_id) for key in touched]
        outputs += [NarrativeMerge(m, s, why) for m, s, why in state.merges]
        return BatchResult(results, outputs)
