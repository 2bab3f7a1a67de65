"""Search queries: keyword matches over original and translated text, stored vectors of one
model, and the document fields search results show."""

from __future__ import annotations

import duckdb
import numpy as np

MAX_TERMS = 12
RESULT_COLUMNS = ["doc_id", "lang", "source", "published_at", "title", "title_translated", "url"]


def keyword_search(
    con: duckdb.DuckDBPyConnection, terms: list[str], *, lang: str | None, limit: int
) -> list[tuple]:
    """Documents containing every term (case-insensitive) in their title or text, original or
    translated; scored by the number of occurrences. Rows: RESULT_COLUMNS + score, text,
    text_translated."""
    terms = [t.lower() for t in terms if t.strip()][:MAX_TERMS]
    if not terms:
        return []
    occurrences = " + ".join(
        "(length(hay) - length(replace(hay, ?, ''))) // length(?)" for _ in terms
    )
    matches = " AND ".join("contains(hay, ?)" for _ in terms)
    params: list = [lang, lang]
    for t in terms:
        params += [t, t]
    params += terms + [limit]
    sql = f"""
        WITH docs AS (
            SELECT doc_id, lang, source, published_at, title, title_translated, url,
                   text, text_translated,
                   lower(concat_ws(' ', title, text, title_translated, text_translated)) AS hay
            FROM v_documents
            WHERE (?::VARCHAR IS NULL OR lang = ?)
        )
        SELECT {", ".join(RESULT_COLUMNS)}, {occurrences} AS score, text, text_translated
        FROM docs
        WHERE {matches}
        ORDER BY score DESC, published_at DESC NULLS LAST, doc_id
        LIMIT ?
    """
    return con.execute(sql, params).fetchall()


def load_vectors(
    con: duckdb.DuckDBPyConnection, model_id: str, input_kind: str, *, lang: str | None = None
) -> tuple[list[str], np.ndarray, np.ndarray, list[str | None]]:
    """Doc ids, lead vectors, whole-text vectors and languages (one row each) of current
    document versions embedded by exactly this model and input: vectors of two models are
    never compared."""
    rows = con.execute(
        """
        SELECT e.doc_id, coalesce(e.lead_vector, e.vector) AS lead, e.vector, l.lang
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        WHERE e.model_id = ? AND e.input = ? AND (?::VARCHAR IS NULL OR l.lang = ?)
        ORDER BY e.doc_id
        """,
        [model_id, input_kind, lang, lang],
    ).fetchall()
    if not rows:
        return [], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), []
    ids = [r[0] for r in rows]
    leads = np.array([r[1] for r in rows], dtype=np.float32)
    texts = np.array([r[2] for r in rows], dtype=np.float32)
    return ids, leads, texts, [r[3] for r in rows]


def documents(con: duckdb.DuckDBPyConnection, doc_ids: list[str]) -> dict[str, tuple]:
    """doc_id -> RESULT_COLUMNS row."""
    rows = con.execute(
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM v_documents "
        "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [doc_ids],
    ).fetchall()
    return {r[0]: r for r in rows}


def embedded_models(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(model_id, input, documents) for the vectors stored."""
    return con.execute(
        "SELECT model_id, input, count(*) FROM embeddings GROUP BY 1, 2 ORDER BY 3 DESC"
    ).fetchall()
