"""Answers to the lookups stages ask for before a batch: cached sentence translations and
finished work on identical texts that can be reused."""

from __future__ import annotations

import duckdb

from storage.records import SentenceCacheLookup, TranslationReuseLookup, VectorReuseLookup


def _sentence_cache(con: duckdb.DuckDBPyConnection, q: SentenceCacheLookup) -> dict[str, str]:
    if not q.hashes:
        return {}
    return dict(
        con.execute(
            "SELECT sentence_hash, translation FROM translation_cache "
            "WHERE source_lang = ? AND target_lang = ? AND model_id = ? "
            "AND sentence_hash IN (SELECT unnest(?::VARCHAR[]))",
            [q.source_lang, q.target_lang, q.model_id, list(q.hashes)],
        ).fetchall()
    )


def _translation_reuse(con: duckdb.DuckDBPyConnection, q: TranslationReuseLookup) -> dict:
    """(text_hash, source_lang) -> (doc_id, model_id, title, text, sentences) of the earliest
    finished translation of an identical text."""
    if not q.keys:
        return {}
    rows = con.execute(
        """
        SELECT t.text_hash, t.source_lang,
               arg_min(t.doc_id, t.translated_at), arg_min(t.model_id, t.translated_at),
               arg_min(t.title, t.translated_at), arg_min(t.text, t.translated_at),
               arg_min(t.sentences, t.translated_at)
        FROM translations t
        JOIN (SELECT unnest(?::VARCHAR[]) AS text_hash, unnest(?::VARCHAR[]) AS source_lang) k
          ON k.text_hash = t.text_hash AND k.source_lang = t.source_lang
        WHERE t.status = 'translated' AND t.target_lang = ?
        GROUP BY 1, 2
        """,
        [[k[0] for k in q.keys], [k[1] for k in q.keys], q.target_lang],
    ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _vector_reuse(con: duckdb.DuckDBPyConnection, q: VectorReuseLookup) -> dict:
    """text_hash -> (doc_id, chunks, truncated, runtime, vector) of a stored vector of an
    identical text."""
    if not q.hashes:
        return {}
    rows = con.execute(
        """
        SELECT text_hash, arg_min(doc_id, embedded_at), arg_min(chunks, embedded_at),
               arg_min(truncated, embedded_at), arg_min(runtime, embedded_at),
               arg_min(vector, embedded_at)
        FROM embeddings
        WHERE model_id = ? AND input = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY 1
        """,
        [q.model_id, q.input, list(q.hashes)],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


_ANSWER = {
    SentenceCacheLookup: _sentence_cache,
    TranslationReuseLookup: _translation_reuse,
    VectorReuseLookup: _vector_reuse,
}


def answer(con: duckdb.DuckDBPyConnection, lookups: list) -> dict:
    """Each lookup (a frozen record) mapped to its answer."""
    return {q: _ANSWER[type(q)](con, q) for q in lookups}
