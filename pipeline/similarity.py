"""Document similarity without language bias: what search, `similar` and narratives compare,
and what the SQL macros ``doc_similarity`` and ``story_similarity`` give.

Multilingual embedding models place texts of one language closer together than a text and its
translation. Each vector has its language's mean vector subtracted (storage/means.py keeps
the means, per model, in epochs) and is normalised again: "centred" (Libovický et al., 2020).
- document similarity (search, `similar`, ``doc_similarity``): the cosine of the centred lead
  (title and first sentences) and whole-text vectors, weighted by ``LEAD_WEIGHT``;
- story similarity (narratives, ``story_similarity``): the cosine of the centred leads;
- `similar` ranks the documents nearest by document similarity again, adding the share of
  names and numbers the two have in common (``anchor_overlap``, storage/schema/m17_anchors.py).
Translated copies (pipeline/dedup.py) keep the raw whole-text cosine. See the README,
"Similarity and language bias", for the measurements behind these choices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storage.means import LanguageMeans, centre, unit

# Weight of the lead cosine in a document similarity; the rest is the whole-text cosine.
LEAD_WEIGHT = 0.5
# Centring removes most of the language gap, not all of it. Search adds CROSS_LANGUAGE to
# documents in another language than the query's (narratives add their own allowance, 0.17:
# pipeline/narratives.py); `similar` adds none (on the SemEval pairs any allowance there cost
# more same-language partners than it won across languages).
CROSS_LANGUAGE = 0.2
# `similar` ranks by doc_similarity + SIMILAR_ANCHOR_WEIGHT * anchor_overlap, over the
# SIMILAR_CANDIDATES documents nearest by doc_similarity. On the SemEval pairs the partner
# article came first for 0.849 of queries at 0.3, 0.855 at 0.4 and 0.5, 0.852 at 0.6, against
# 0.837 without; from 0.6 German-English partners start to lose (29 of 32 against 30). On the
# tgcontest pairs one query of 80 loses its partner at any weight (README, "Similarity and
# language bias").
SIMILAR_ANCHOR_WEIGHT = 0.4
SIMILAR_CANDIDATES = 50


def document_vectors(
    leads: np.ndarray,
    texts: np.ndarray,
    langs: Sequence[str | None],
    means: LanguageMeans | None,
    weight: float = LEAD_WEIGHT,
) -> np.ndarray:
    """The vectors whose dot products are document similarities, one row per document: the
    centred lead and whole-text vectors, weighted, summed and normalised."""
    lead = centre(leads, langs, means, "lead")
    text = centre(texts, langs, means, "text")
    return unit(weight * lead + (1.0 - weight) * text)


def query_vector(vector: np.ndarray, lang: str | None, means: LanguageMeans | None) -> np.ndarray:
    """A search query's vector, comparable with document_vectors: a short query is both
    its own lead and its own text."""
    return document_vectors(vector[None, :], vector[None, :], [lang], means)[0]


def story_vectors(
    leads: np.ndarray, langs: Sequence[str | None], means: LanguageMeans | None
) -> np.ndarray:
    """The vectors narratives compare: the centred lead (title and first sentences) alone,
    the story a piece tells (whole texts of two stories on one topic sit too close)."""
    return centre(leads, langs, means, "lead")


def cross_language(scores: np.ndarray, langs: Sequence[str | None], lang: str | None) -> np.ndarray:
    """``scores`` with CROSS_LANGUAGE added where a candidate's language is known and differs
    from ``lang`` (the query's)."""
    if not lang:
        return scores
    other = np.fromiter((bool(x) and x != lang for x in langs), bool, count=len(langs))
    return scores + CROSS_LANGUAGE * other


def anchor_overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """The share of anchors two documents have in common (Jaccard), as the SQL macro gives it."""
    union = len(set(a) | set(b))
    return len(set(a) & set(b)) / union if union else 0.0


# Scores closer than this are equal: a matrix product (BLAS) rounds a row by its place in the
# matrix, so one text's documents (equal vectors) scored up to about 3e-8 apart on the demo's
# store, and were ranked by that noise rather than by doc id. Far below the 4 decimals shown.
NOISE = 1e-6


def noiseless(values: np.ndarray) -> np.ndarray:
    """``values`` with each run of them closer than NOISE to the next, in sorted order, set to
    the run's lowest: keys that rank the noise of equal scores as the tie it is."""
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    starts = np.concatenate([[True], ~(np.diff(ranked) <= NOISE)])  # inf - inf: a new run
    out = np.empty_like(values)
    out[order] = ranked[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return out
