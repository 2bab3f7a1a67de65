"""Answers to the lookups stages ask for before a batch: cached sentence translations and
finished work on identical texts that can be reused."""

from __future__ import annotations

import duckdb
import numpy as np

from storage.documents import seen_at_sql
from storage.records import (
    CopyCandidatesLookup,
    NarrativeLookup,
    SentenceCacheLookup,
    TranslationReuseLookup,
    VectorReuseLookup,
)


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
    """text_hash -> (doc_id, chunks, truncated, runtime, vector, lead_vector) of a stored
    vector of an identical text."""
    if not q.hashes:
        return {}
    rows = con.execute(
        """
        SELECT text_hash, arg_min(doc_id, embedded_at), arg_min(chunks, embedded_at),
               arg_min(truncated, embedded_at), arg_min(runtime, embedded_at),
               arg_min(vector, embedded_at), arg_min(lead_vector, embedded_at)
        FROM embeddings
        WHERE model_id = ? AND input = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY 1
        """,
        [q.model_id, q.input, list(q.hashes)],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _copy_candidates(con: duckdb.DuckDBPyConnection, q: CopyCandidatesLookup) -> dict:
    """exact: text_hash -> [doc_id]; near: doc_id -> signature of every document sharing an
    LSH bucket; vectors: doc_id -> vector for the batch; window: (doc_ids, langs, lengths,
    matrix) of documents embedded by the model and dated within [since, until]."""
    exact: dict[str, list[str]] = {}
    for h, doc_id in con.execute(
        "SELECT text_hash, doc_id FROM minhash WHERE text_hash IN (SELECT unnest(?::VARCHAR[]))",
        [list(q.text_hashes)],
    ).fetchall():
        exact.setdefault(h, []).append(doc_id)
    near: dict = {}
    index: dict = {}
    if q.buckets:
        rows = con.execute(
            """
            SELECT b.band, b.bucket, b.doc_id
            FROM lsh_bands b
            JOIN (SELECT unnest(?::SMALLINT[]) AS band, unnest(?::UBIGINT[]) AS bucket) k
              ON k.band = b.band AND k.bucket = b.bucket
            """,
            [[b for b, _ in q.buckets], [k for _, k in q.buckets]],
        ).fetchall()
        for band, bucket, doc_id in rows:
            index.setdefault((band, bucket), []).append(doc_id)
        near = dict(
            con.execute(
                "SELECT doc_id, signature FROM minhash "
                "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
                [sorted({r[2] for r in rows})],
            ).fetchall()
        )
    out = {
        "exact": exact,
        "near": near,
        "buckets": index,
        "vectors": {},
        "window": ([], [], [], None),
    }
    if q.model_id is None:
        return out
    out["vectors"] = dict(
        con.execute(
            "SELECT doc_id, vector FROM embeddings e JOIN documents d USING (doc_id) "
            "WHERE e.version = d.current_version AND e.model_id = ? AND e.input = ? "
            "AND doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [q.model_id, q.input, list(q.doc_ids)],
        ).fetchall()
    )
    rows = con.execute(
        f"""
        SELECT e.doc_id, l.lang, length(x.text), e.vector
        FROM embeddings e
        JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
        JOIN document_versions v ON v.doc_id = e.doc_id AND v.version = e.version
        JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
        JOIN extractions x ON x.doc_id = e.doc_id AND x.version = e.version
        WHERE e.model_id = ? AND e.input = ?
          AND {seen_at_sql()} BETWEEN ? AND ?
        """,
        [q.model_id, q.input, q.since, q.until],
    ).fetchall()
    if rows:
        matrix = np.array([r[3] for r in rows], dtype=np.float32)
        out["window"] = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], matrix)
    return out


def _narratives(con: duckdb.DuckDBPyConnection, q: NarrativeLookup) -> dict:
    ids = list(q.doc_ids)
    vectors = dict(
        con.execute(
            "SELECT e.doc_id, coalesce(e.lead_vector, e.vector) FROM embeddings e "
            "JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version "
            "WHERE e.model_id = ? AND e.input = ? AND e.doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [q.model_id, q.input, ids],
        ).fetchall()
    )
    groups = dict(
        con.execute(
            "SELECT doc_id, group_id FROM copy_members WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
    )
    group_narratives = dict(
        con.execute(
            "SELECT c.group_id, min(m.narrative_id) FROM copy_members c "
            "JOIN narrative_members m ON m.doc_id = c.doc_id "
            "WHERE c.group_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [sorted(set(groups.values()))],
        ).fetchall()
    )
    # narratives active in the window, and those of the batch's copy groups however old
    active = con.execute(
        "SELECT narrative_id, size, vector_sum, last_seen FROM narratives "
        "WHERE model_id = ? AND (?::TIMESTAMPTZ IS NULL OR last_seen >= ? "
        "OR narrative_id IN (SELECT unnest(?::BIGINT[]))) ORDER BY narrative_id",
        [q.model_id, q.since, q.since, list(group_narratives.values())],
    ).fetchall()
    parts: dict = {}
    for narrative_id, lang, size, total in con.execute(
        "SELECT narrative_id, lang, size, vector_sum FROM narrative_parts "
        "WHERE narrative_id IN (SELECT unnest(?::BIGINT[])) ORDER BY narrative_id, lang",
        [[row[0] for row in active]],
    ).fetchall():
        parts.setdefault(narrative_id, []).append((lang, size, total))
    return {
        "vectors": vectors,
        "groups": groups,
        "group_narratives": group_narratives,
        "active": active,
        "parts": parts,
    }


_ANSWER = {
    SentenceCacheLookup: _sentence_cache,
    TranslationReuseLookup: _translation_reuse,
    VectorReuseLookup: _vector_reuse,
    CopyCandidatesLookup: _copy_candidates,
    NarrativeLookup: _narratives,
}


def answer(con: duckdb.DuckDBPyConnection, lookups: list) -> dict:
    """Each lookup (a frozen record) mapped to its answer."""
    return {q: _ANSWER[type(q)](con, q) for q in lookups}
