"""The narrative assignment rule: narratives with a part per language, scored against a
document in one matrix product, merged when they converge (see pipeline/narratives.py). Shared
by the cluster stage (a batch at a time), ``cluster --rebuild`` and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from storage.outputs.narratives import NarrativeState

ANY_LANGUAGE = "*"  # the one part of a narrative stored before parts were kept per language


@dataclass
class Narrative:
    """A narrative as the rule sees it: its key (a stored id, or ``new:DOC`` for one born in
    this batch), size, vector sum, last date and vector sums per language."""

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
    active: dict = field(default_factory=dict)  # key -> Narrative
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
        self._lang = np.zeros(0, dtype=np.int32)  # language code per row
        self._codes: dict = {ANY_LANGUAGE: 0}

    def add(self, n: Narrative) -> None:
        """Register a narrative (loaded from storage or new)."""
        self.active[n.key] = n
        self._sync(n)

    def load(self, narratives: list[Narrative]) -> None:
        """Register stored narratives on a fresh Clusterer, before any document is assigned:
        the matrix is filled in one go (a batch loads every narrative active in its window)."""
        if self._rows:
            raise ValueError("load() fills a fresh Clusterer; add() registers one more")
        for n in narratives:
            self.active[n.key] = n
        rows = [(n, lang, total) for n in narratives for lang, (_, total) in n.parts.items()]
        if not rows:
            return
        totals = np.asarray([total for _, _, total in rows], dtype=np.float32)
        k = len(rows)
        self._reserve(k, totals.shape[1])
        self._totals[:k] = totals
        norms = np.linalg.norm(totals, axis=1)
        self._norms[:k] = np.where(norms > 0, norms, 1.0)
        self._last[:k] = [n.last_seen.timestamp() if n.last_seen else np.inf for n, _, _ in rows]
        self._alive[:k] = True
        self._lang[:k] = [self._code(lang) for _, lang, _ in rows]
        self._rows = [(n.key, lang) for n, lang, _ in rows]
        self._row = {key: i for i, key in enumerate(self._rows)}

    def _code(self, lang: str) -> int:
        return self._codes.setdefault(lang, len(self._codes))

    def _reserve(self, rows: int, dim: int) -> None:
        """Room for ``rows`` matrix rows, the capacity doubling as it grows."""
        have = len(self._norms)
        if rows <= have:
            return
        cap = max(64, 2 * have, rows)
        totals = np.zeros((cap, dim), dtype=np.float32)
        if used := len(self._rows):
            totals[:used] = self._totals[:used]
        self._totals = totals
        self._norms = np.resize(self._norms, cap)
        self._last = np.resize(self._last, cap)
        self._alive = np.resize(self._alive, cap)
        self._lang = np.resize(self._lang, cap)

    def _sync(self, n: Narrative) -> None:
        """Write a narrative's parts into the matrix."""
        last = n.last_seen.timestamp() if n.last_seen else np.inf
        alive = n.key in self.active
        for lang, (_, total) in n.parts.items():
            row = self._row.get((n.key, lang))
            if row is None:
                row = len(self._rows)
                self._reserve(row + 1, len(total))
                self._rows.append((n.key, lang))
                self._row[(n.key, lang)] = row
                self._lang[row] = self._code(lang)
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
            codes = self._lang[:k]
            other = (codes != self._codes.get(lang, -1)) & (codes != self._codes[ANY_LANGUAGE])
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
            self.add(Narrative(key, 0, np.zeros_like(vector), seen))
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

    def _maybe_merge(self, n: Narrative, lang: str, horizon: datetime | None) -> None:
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


def _older(a, b) -> bool:
    """Existing ids (integers) are older than this batch's; among equals, the smaller."""
    if isinstance(a, int) != isinstance(b, int):
        return isinstance(a, int)
    return a < b
