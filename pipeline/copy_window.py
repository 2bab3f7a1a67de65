"""The vectors a batch of the dedup stage compares for translated copies (pipeline/dedup.py):
those dated near the batch, indexed by language once per batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from storage.means import LanguageMeans, centre
from storage.outputs.dedup import VectorWindow
from storage.records import DocInput

if TYPE_CHECKING:
    from pipeline.dedup import DedupStage


class Window:
    """The vectors dated near a batch, indexed by language once per batch."""

    def __init__(self, window: VectorWindow, stage: DedupStage, batch: list[DocInput],
                 means: LanguageMeans | None = None) -> None:  # fmt: skip
        self.ids, self.matrix, self.seen = window.ids, window.matrix, window.seen
        self.texts: dict[str, str] = {}
        self.langs, self.means = window.langs, means
        self.done = window.done
        self.order = {d.doc_id: i for i, d in enumerate(batch)}
        self.span = stage.window_days * 86400.0
        self.lengths = np.asarray(window.lengths, dtype=np.float64)
        langs = np.asarray(window.langs, dtype=object)
        self.languages = set(langs.tolist())
        self._rows = {lang: np.flatnonzero(langs == lang) for lang in self.languages}

    def before(self, row: int, doc_id: str) -> bool:
        """Whether the window's ``row`` was handled before ``doc_id``: by an earlier batch or
        run, or earlier in this batch."""
        if self.done is None or self.done[row]:
            return True
        return self.order.get(self.ids[row], len(self.order)) < self.order.get(doc_id, -1)

    def best(self, idx: np.ndarray, sims: np.ndarray, doc_id: str) -> int:
        """The row of ``idx`` nearest the document, of those tied for it (a piece and its
        exact copies have one vector) the first handled before the document, then the
        earliest dated, then by id. By the window's order alone, the tie went to whichever
        copy's id came first, and a translation was linked to its original or not by the
        hash of URLs (the demo's ports): 10 or 11 translated copies from one run to the next."""
        top = float(sims[idx].max())
        tied = idx[sims[idx] >= top - 1e-6]
        if len(tied) == 1:
            return int(tied[0])
        return int(min(tied, key=lambda row: (not self.before(row, doc_id),
                                              self.seen[row] if self.seen is not None else 0.0,
                                              self.ids[row])))  # fmt: skip

    def centred(self, vector, lang: str | None, row: int) -> float:
        """The cosine of ``vector`` (a document in ``lang``) and the window's ``row``, each
        with its language's mean removed; 1.0 where either mean is taken over fewer than two
        documents (a language's first document is its own mean) or there are none."""
        other = self.langs[row]
        if not self.means or min(self.means.count("text", lang),
                                 self.means.count("text", other)) < 2:  # fmt: skip
            return 1.0
        pair = centre(np.asarray([vector, self.matrix[row]], dtype=np.float32), [lang, other],
                      self.means, "text")  # fmt: skip
        return float(pair[0] @ pair[1])

    def near(self, when: float | None) -> np.ndarray | None:
        """Which rows are dated within the window of ``when`` (None: all of them)."""
        if when is None or self.seen is None:
            return None
        return np.abs(self.seen - when) <= self.span

    def rows(self, lang: str, near: np.ndarray | None = None) -> np.ndarray:
        idx = self._rows.get(lang, np.array([], dtype=np.int64))
        return idx if near is None else idx[near[idx]]
