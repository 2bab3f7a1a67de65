"""Whether one text is a translation of another, sentence by sentence.

Two pieces on one story or one topic in two languages reach the whole-text cosine of a
translation (0.88 to 0.93 with multilingual e5), and their languages' means removed they
still may (README, "Similarity and language bias"). What a translation has and they do not
is a counterpart for each sentence: the sentence it translates, much nearer to it than any
other sentence of the other text. Of the shorter text's sentences, the share whose nearest
sentence in the other text is ``gap`` nearer than the second nearest tells the two apart
(at a gap of 0.06, translations 0.33 and more, loose and machine-made ones included; two
stories or topics 0.2 at most; the curve: README, "Translated copies, sentence by
sentence"). The sentences are embedded by the model the documents' vectors come from; the
thresholds are calibrated for one model (``models``), and with any other the check is off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pipeline.embedders import model_id_for

# A sentence ends at . ! ? … and their CJK, Arabic, Urdu, Devanagari, Armenian, Burmese,
# Ethiopic and Khmer forms, with closing quotes or brackets, before a space (or, after a CJK
# mark, before anything): the case of the next letter is not asked, as scripts without case
# (Arabic, Hindi, Georgian) have none. Thai and Lao mark no sentence end: such a text is
# not split, and not checked (``Aligner.share``).
_MARKS = ".!?…。！？؟।॥۔։။።។"
_END = re.compile(rf"(?<=[{_MARKS}])[\"'»”’)\]]*(?:\s+|(?<=[。！？]))")
_LINE_END = re.compile(rf"[{_MARKS}][\"'»”’)\]]*\s*$")


@dataclass(frozen=True)
class Settings:
    """When two texts count as one a translation of the other (the README's curve)."""

    #: the nearest sentence at least this much nearer than the second nearest ...
    gap: float = 0.06
    #: ... for at least this share of the shorter text's sentences (0: the check is off)
    share: float = 0.3
    #: a text of fewer sentences than this cannot be told by its sentences: not checked
    min_sentences: int = 3
    #: nor two texts one of which has more than this many times the other's sentences (one
    #: split where the other's script marks no end: the written translations reach 2.0)
    max_ratio: float = 3.0
    max_sentences: int = 40  # the first ones: a translation keeps the order
    min_chars: int = 20  # shorter pieces (a dateline, "Photo: ...") are no sentence
    models: tuple[str, ...] = (model_id_for("e5-small", "query"),)


def sentences(text: str, settings: Settings = Settings()) -> list[str]:
    """The text's first ``max_sentences`` sentences of ``min_chars`` or more; none where no
    sentence in it ends with a mark before another begins (a script that marks no end)."""
    out, marked = [], False
    for line in text.splitlines():
        pieces = _END.split(line)
        marked = marked or len(pieces) > 1 or _LINE_END.search(line) is not None
        for piece in pieces:
            if len(piece := piece.strip()) >= settings.min_chars:
                out.append(piece)
                if len(out) == settings.max_sentences:
                    return out
    return out if marked else []


def aligned_share(a: np.ndarray, b: np.ndarray, gap: float) -> float:
    """Of the shorter text's sentence vectors (unit rows of ``a`` or ``b``), the share whose
    nearest in the other is ``gap`` nearer than the second nearest."""
    sims = a @ b.T if len(a) <= len(b) else b @ a.T
    if sims.shape[1] < 2:
        return 0.0
    top = np.sort(sims, axis=1)[:, -2:]
    return float(np.mean(top[:, 1] - top[:, 0] >= gap))


class Aligner:
    """The check for one embedder, with each text's sentence vectors kept for the batch."""

    def __init__(self, load, settings: Settings = Settings()) -> None:
        self._load = load  # gives the embedder, loaded when a pair first needs it
        self.settings = settings
        self._vectors: dict[str, np.ndarray] = {}

    @cached_property
    def embedder(self):
        return self._load()

    def forget(self) -> None:
        """Drop the sentence vectors kept so far (a new batch: texts may have changed)."""
        self._vectors.clear()

    def vectors(self, key: str, text: str) -> np.ndarray:
        if key not in self._vectors:
            self._vectors[key] = np.asarray(
                self.embedder.encode(sentences(text, self.settings)), dtype=np.float32
            )
        return self._vectors[key]

    def share(self, key_a: str, text_a: str, key_b: str, text_b: str) -> float | None:
        """The aligned share of two texts, or None where the shorter has too few sentences
        to tell."""
        counts = sorted(len(sentences(t, self.settings)) for t in (text_a, text_b))
        if (
            counts[0] < self.settings.min_sentences
            or counts[1] > self.settings.max_ratio * counts[0]
        ):
            return None  # told before the model is asked for
        a, b = self.vectors(key_a, text_a), self.vectors(key_b, text_b)
        return aligned_share(a, b, self.settings.gap)

    def translates(self, key_a: str, text_a: str, key_b: str, text_b: str) -> bool:
        """Whether one text may be a translation of the other: its sentences align, or there
        are too few of them to tell."""
        share = self.share(key_a, text_a, key_b, text_b)
        return share is None or share >= self.settings.share
