"""Search from the command line: keywords over original and translated text, or meaning, with
the query embedded by the same model as the documents (an English query finds Russian ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.embed import EmbedStage
from storage import connect
from storage.db import StorageError
from storage.search import RESULT_COLUMNS, documents, embedded_models, keyword_search, load_vectors

KEYWORD_COLUMNS = ["rank", "score", *RESULT_COLUMNS, "snippet"]
SEMANTIC_COLUMNS = ["rank", "score", *RESULT_COLUMNS]


def _snippet(text: str | None, terms: list[str], width: int = 160) -> str | None:
    if not text:
        return None
    low = text.lower()
    hits = [low.find(t) for t in terms if low.find(t) >= 0]
    if not hits:
        return None
    start = max(0, min(hits) - width // 3)
    piece = text[start : start + width].replace("\n", " ")
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")


def _embedded_languages(con, model_id: str, input_kind: str) -> list[tuple[str, int]]:
    """(language, documents) among the current versions embedded by this model and input."""
    return con.execute(
        """
        SELECT coalesce(l.lang, '(not identified yet)'), count(*)
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        WHERE e.model_id = ? AND e.input = ?
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        [model_id, input_kind],
    ).fetchall()


def keyword(db_path: Path, query: str, *, lang: str | None, limit: int) -> list[tuple]:
    terms = [t.lower() for t in query.split()]
    with connect(db_path, read_only=True) as con:
        rows = keyword_search(con, terms, lang=lang, limit=limit)
    n = len(RESULT_COLUMNS)
    out = []
    for rank, row in enumerate(rows, 1):
        meta, score, text, translated = row[:n], row[n], row[n + 1], row[n + 2]
        snippet = _snippet(text, terms) or _snippet(translated, terms)
        out.append((rank, int(score), *meta, snippet))
    return out


def semantic(
    db_path: Path, query: str, embed_settings: dict, *, lang: str | None, limit: int
) -> list[tuple]:
    """Nearest documents by cosine similarity among the vectors of the configured model."""
    stage = EmbedStage.from_settings(embed_settings)
    with connect(db_path, read_only=True) as con:
        ids, matrix = load_vectors(con, stage.model_id, stage.input, lang=lang)
        if not ids:
            have = embedded_models(con)
            langs = _embedded_languages(con, stage.model_id, stage.input) if lang else []
    if not ids:
        vectors = f"{stage.model_id} ({stage.input} text)"
        if lang and langs:
            # this model's vectors exist, just none in that language
            listed = ", ".join(f"{code} ({n})" for code, n in langs)
            raise StorageError(
                f"no documents in {lang!r} are embedded with {vectors}; languages with "
                f"vectors: {listed}"
            )
        other = ", ".join(f"{m} ({i}): {n}" for m, i, n in have) or "none"
        raise StorageError(
            f"no documents embedded with {vectors}; stored vectors: {other}. "
            "Run `narrascope process --stage embed` first."
        )
    # the database is closed while the model works
    q = stage.embedder.encode([query], query=True)[0]
    scores = matrix @ q
    k = min(limit, len(ids))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((np.array(ids)[top], -scores[top]))]
    with connect(db_path, read_only=True) as con:
        meta = documents(con, [ids[i] for i in top])
    return [
        (rank, round(float(scores[i]), 4), *meta[ids[i]])
        for rank, i in enumerate(top, 1)
        if ids[i] in meta
    ]
