"""Per-language mean vectors (table ``language_means``), the reference that takes the language
out of multilingual embeddings before documents are compared (see pipeline/similarity.py).

Means are kept per model and input, for the whole-text vector ('text') and the lead vector
('lead'), and recomputed in epochs: a language gets a new epoch when its embedded documents
grew by ``GROWTH`` since its last one, so the means settle as a store grows and every
similarity stored with a copy or a narrative can be traced to the epoch current then. The row
for language '*' is the mean over all languages; a language with few documents is shrunk
towards it (``SHRINK`` pseudo-documents), and a document of no known language uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np

ALL = "*"
KINDS = {"text": "e.vector", "lead": "coalesce(e.lead_vector, e.vector)"}
GROWTH = 0.10
SHRINK = 100
_NO_LANGUAGE = ("und", "")

_CURRENT = """
    FROM embeddings e
    JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
    LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
    WHERE e.model_id = ? AND e.input = ?
"""
_LANG = "CASE WHEN l.lang IS NULL OR l.lang IN ('und', '') THEN NULL ELSE l.lang END"


@dataclass
class LanguageMeans:
    """The latest epoch of each language's mean, for one model and input."""

    model_id: str
    input: str
    means: dict = field(default_factory=dict)  # (kind, lang) -> np.ndarray
    epochs: dict = field(default_factory=dict)  # (kind, lang) -> epoch
    documents: dict = field(default_factory=dict)  # (kind, lang) -> documents in the mean

    def mean(self, kind: str, lang: str | None) -> np.ndarray | None:
        """The vector to subtract from a ``kind`` vector of a document in ``lang``."""
        if lang and lang not in _NO_LANGUAGE and (kind, lang) in self.means:
            return self.means[(kind, lang)]
        return self.means.get((kind, ALL))

    def count(self, kind: str, lang: str | None) -> int:
        """How many documents the mean ``mean(kind, lang)`` gives was taken over."""
        if lang and lang not in _NO_LANGUAGE and (kind, lang) in self.means:
            return self.documents.get((kind, lang), 0)
        return self.documents.get((kind, ALL), 0)

    def __bool__(self) -> bool:
        return bool(self.means)


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        return matrix / (np.linalg.norm(matrix) or 1.0)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def centre(
    vectors: np.ndarray, langs: Sequence[str | None], means: LanguageMeans | None, kind: str
) -> np.ndarray:
    """Unit vectors with their language's mean removed (rows of ``vectors``, one language
    each). Without means (an empty store) the vectors are only normalised."""
    out = unit(vectors).copy()
    if out.ndim == 1:
        out = out[None, :]
    if means:
        for i, lang in enumerate(langs):
            mean = means.mean(kind, lang)
            if mean is not None and len(mean) == out.shape[1]:
                out[i] -= mean
    return unit(out)


def load(con: duckdb.DuckDBPyConnection, model_id: str, input_kind: str) -> LanguageMeans:
    out = LanguageMeans(model_id, input_kind)
    rows = con.execute(
        """
        SELECT vector, lang, arg_max(epoch, epoch), arg_max(mean, epoch),
               arg_max(documents, epoch)
        FROM language_means WHERE model_id = ? AND input = ? GROUP BY 1, 2
        """,
        [model_id, input_kind],
    ).fetchall()
    for kind, lang, epoch, mean, documents in rows:
        out.means[(kind, lang)] = np.asarray(mean, dtype=np.float32)
        out.epochs[(kind, lang)] = epoch
        out.documents[(kind, lang)] = documents
    return out


def _sums(con, model_id: str, input_kind: str, kind: str, langs: list[str]) -> dict:
    """lang -> elementwise sum of the unit ``kind`` vectors of its current documents; the
    sum over every document under ALL when ALL is asked for."""
    if not langs:
        return {}
    rows = con.execute(
        f"""
        WITH v AS (
            SELECT coalesce({_LANG}, '{ALL}') AS lang, {KINDS[kind]} AS vec {_CURRENT}
        ),
        picked AS (
            SELECT lang, vec FROM v WHERE lang IN (SELECT unnest(?::VARCHAR[]))
            UNION ALL
            SELECT '{ALL}', vec FROM v WHERE list_contains(?::VARCHAR[], '{ALL}')
        ),
        cells AS (
            SELECT lang, unnest(vec) AS x, generate_subscripts(vec, 1) AS i FROM picked
        )
        SELECT lang, list(s ORDER BY i)
        FROM (SELECT lang, i, sum(x) AS s FROM cells GROUP BY 1, 2)
        GROUP BY 1
        """,
        [model_id, input_kind, [x for x in langs if x != ALL], langs],
    ).fetchall()
    return {lang: np.asarray(total, dtype=np.float64) for lang, total in rows}


def refresh(con: duckdb.DuckDBPyConnection, model_id: str, input_kind: str, now) -> int:
    """Start a new epoch for every language whose embedded documents grew by ``GROWTH`` since
    its last epoch (or that has none). Returns the number of languages refreshed."""
    counts = dict(
        con.execute(
            f"SELECT {_LANG} AS lang, count(*) {_CURRENT} GROUP BY 1", [model_id, input_kind]
        ).fetchall()
    )
    counts = {lang: n for lang, n in counts.items() if lang is not None} | {
        ALL: sum(counts.values())
    }
    if not counts[ALL]:
        return 0
    last = dict(
        con.execute(
            "SELECT lang, arg_max(documents, epoch) FROM language_means "
            "WHERE model_id = ? AND input = ? AND vector = 'text' GROUP BY 1",
            [model_id, input_kind],
        ).fetchall()
    )
    stale = sorted(
        lang for lang, n in counts.items() if lang not in last or n >= last[lang] * (1 + GROWTH)
    )
    if not stale:
        return 0
    epochs = dict(
        con.execute(
            "SELECT lang, max(epoch) FROM language_means WHERE model_id = ? AND input = ? "
            "GROUP BY 1",
            [model_id, input_kind],
        ).fetchall()
    )
    rows = []
    for kind in KINDS:
        sums = _sums(con, model_id, input_kind, kind, sorted(set(stale) | {ALL}))
        overall = sums[ALL] / counts[ALL]
        for lang in stale:
            if lang == ALL:
                mean = overall
            else:
                mean = (sums[lang] + SHRINK * overall) / (counts[lang] + SHRINK)
            epoch = epochs.get(lang, 0) + 1
            rows.append(
                (model_id, input_kind, kind, lang, epoch, counts[lang], mean.astype(np.float32))
            )
    con.executemany(
        "INSERT INTO language_means VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(*r[:6], r[6].tolist(), now) for r in rows],
    )
    return len(stale)


def refresh_all(con: duckdb.DuckDBPyConnection, now) -> int:
    """Refresh the means of every model and input with stored vectors (after languages
    changed)."""
    pairs = con.execute("SELECT DISTINCT model_id, input FROM embeddings").fetchall()
    return sum(refresh(con, model_id, input_kind, now) for model_id, input_kind in pairs)
