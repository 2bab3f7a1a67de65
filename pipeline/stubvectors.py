"""Stub pages recognised by what they say, in any wording: the embed stage compares a short
text's lead vector with the leads of example stub pages and example news
(``pipeline/data/stub_examples.jsonl``).

The rules of ``pipeline/data/notnews.toml`` match a stub's words, and a fresh set of stub
pages, worded by services nobody wrote a rule for, passes about half of them
(docs/notnews.md). Multilingual e5 places a Czech consent wall near the German and Polish
ones, and a Lithuanian hosting notice near the Russian ones, whatever their words. A text of
at most ``max_words`` words whose lead is at least ``floor`` close to an example stub, and
``margin`` closer to it than to any example news text, is a stub of that example's kind. The
news examples are short posts and articles about the same things (DDoS attacks, blocked
sites, paywalls, cookie law), so that a post about a captcha is not taken for one.

The thresholds are calibrated for one model's vectors (``models``); with any other model the
check is off, as a cosine of 0.89 means something else in another space. The examples'
vectors are computed once per model and kept in the user's cache folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from pipeline.embedders import model_id_for

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).parent / "data" / "stub_examples.jsonl"
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Settings:
    """When a text's lead is taken for a stub's (docs/notnews.md: the curve these were
    chosen from, on a plateau)."""

    floor: float = 0.89  # cosine with the nearest example stub, at least
    margin: float = 0.06  # ... and this much more than with the nearest example news text
    #: a text with a weak sign of a stub (a stub's shape, pipeline/stubshape.py, or a stub's
    #: title alone; notnews.Rules.weak) is one when its lead is this much nearer the nearest
    #: example stub than the nearest example news text ...
    shape_margin: float = 0.02
    #: ... and at least this close to that stub (briefs titled "Conta Suspensa" or "Zaloguj
    #: się" reach the margin at 0.852 to 0.872; the stubs with a weak sign, 0.882 and more)
    weak_floor: float = 0.88
    max_words: int = 160  # longer texts are articles: never compared
    models: tuple[str, ...] = (model_id_for("e5-small", "query"),)  # calibrated for these


@dataclass(frozen=True)
class Example:
    kind: str  # a stub kind of pipeline/notnews.py, or "news"
    lang: str
    name: str
    lead: str


def load_examples(path: Path = EXAMPLES) -> list[Example]:
    with open(path, encoding="utf-8") as fh:
        return [Example(**json.loads(line)) for line in fh if line.strip()]


def _cache_dir() -> Path:
    base = os.environ.get("NARRASCOPE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "narrascope"


class StubVectors:
    """The example leads, embedded by one model, and the judgement of a text against them."""

    def __init__(self, examples: list[Example], vectors: np.ndarray, settings: Settings):
        self.examples = examples
        self.settings = settings
        stub = np.array([e.kind != "news" for e in examples])
        self._stubs = np.flatnonzero(stub)
        self._news = np.flatnonzero(~stub)
        self._vectors = np.asarray(vectors, dtype=np.float32)

    @classmethod
    def for_model(
        cls, embedder, model_id: str, settings: Settings | None = None, path: Path = EXAMPLES
    ) -> StubVectors | None:
        """The check for vectors of ``model_id``, or None where it is not calibrated."""
        settings = settings or Settings()
        if model_id not in settings.models:
            return None
        examples = load_examples(path)
        leads = [e.lead for e in examples]
        digest = hashlib.sha256("\n\0".join([model_id, *leads]).encode()).hexdigest()[:16]
        cached = _cache_dir() / f"stub-vectors-{digest}.npy"
        try:
            vectors = np.load(cached)
            if vectors.shape[0] == len(examples):
                return cls(examples, vectors, settings)
        except (OSError, ValueError):
            pass
        vectors = np.asarray(embedder.encode(leads), dtype=np.float32)
        try:  # a cache that cannot be written only costs the next run the same seconds
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, vectors)
            partial.replace(cached)
        except OSError as err:
            log.info("stub examples' vectors not cached (%s)", err)
        return cls(examples, vectors, settings)

    def nearest(self, lead_vector: np.ndarray) -> tuple[Example, float, float]:
        """The nearest example stub, its cosine with ``lead_vector``, and the nearest example
        news text's."""
        cosines = self._vectors @ np.asarray(lead_vector, dtype=np.float32)
        nearest = self._stubs[np.argmax(cosines[self._stubs])]
        news = float(cosines[self._news].max()) if len(self._news) else -1.0
        return self.examples[nearest], float(cosines[nearest]), news

    def judge(self, text: str, lead_vector: np.ndarray) -> tuple[str, str] | None:
        """(kind, evidence) when ``text``, whose lead embeds as ``lead_vector``, is a stub."""
        s = self.settings
        if len(list(islice(WORD.finditer(text), s.max_words + 1))) > s.max_words:
            return None
        example, best, news = self.nearest(lead_vector)
        if best < s.floor or best - news < s.margin:
            return None
        return example.kind, f"{best:.2f} like example {example.name}, news at most {news:.2f}"

    def confirms(self, lead_vector: np.ndarray) -> str | None:
        """Evidence that a text with a weak sign of a stub is a stub: its lead is at least
        ``weak_floor`` close to an example stub and ``shape_margin`` nearer it than any
        example news text (None when it is not)."""
        example, best, news = self.nearest(lead_vector)
        if best < self.settings.weak_floor or best - news < self.settings.shape_margin:
            return None
        return f"lead {best:.2f} like example {example.name}, news at most {news:.2f}"
