"""Narrative tables for `cluster --rebuild`: everything to re-cluster, and the swap."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.db import transaction
from storage.documents import seen_at_sql
from storage.outputs.narratives import MEMBER_COLUMNS as NARRATIVE_MEMBER_COLUMNS
from storage.outputs.narratives import NARRATIVE_COLUMNS, write_parts
from storage.stages import STAGE_STATE_COLUMNS
from storage.vectors import read_columns

# A version that a stage the cluster stage waits for (directly, or through dedup) rejected is
# in no narrative: not news at extraction, by its vector, or as a site's boilerplate (the
# dedup stage's rejections keep their vectors).
_NOT_REJECTED = (
    "NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = d.doc_id "
    "AND s.version = d.current_version AND s.status = 'rejected' "
    "AND s.stage IN ('extract', 'langid', 'embed', 'dedup'))"
)


# The version a rebuild clusters: the current one where the stages before the cluster stage
# have it (``ready``: SQL on ``d``, true when they do) and did not reject it, else the one the
# cluster stage placed, if any: a page whose new version waits for `process` (or was rejected
# after its earlier version was placed) keeps its place, as it does in `process` until its new
# version is placed (before, a rebuild dropped it, and its narrative's id when it was alone).
def _rebuild_version(ready: str) -> str:
    return f"""
        CASE WHEN {ready} AND {_NOT_REJECTED} THEN d.current_version
             ELSE (SELECT max(s.version) FROM stage_state s WHERE s.doc_id = d.doc_id
                   AND s.stage = 'cluster' AND s.status = 'done'
                   AND d.doc_id IN (SELECT doc_id FROM narrative_members)) END"""


def rebuild_inputs(con: duckdb.DuckDBPyConnection, model_id: str, input_kind: str) -> list[tuple]:
    """(doc_id, version, lead vector, seen_at, copy group, language) of every document to
    cluster, at its current version with a vector of this model and no rejection, else at the
    version placed (``_rebuild_version``), oldest first; the vectors are rows of one float32
    matrix (read through Arrow: ``storage/vectors.py``)."""
    ready = (
        "EXISTS (SELECT 1 FROM embeddings r WHERE r.doc_id = d.doc_id "
        "AND r.version = d.current_version AND r.model_id = $model AND r.input = $input)"
    )
    cols = read_columns(
        con,
        f"""
        WITH docs AS (SELECT d.doc_id, {_rebuild_version(ready)} AS version FROM documents d)
        SELECT d.doc_id, k.version,
               coalesce(e.lead_vector, e.vector) AS vector,
               {seen_at_sql()} AS seen_at,
               c.group_id, l.lang
        FROM docs k
        JOIN documents d ON d.doc_id = k.doc_id
        JOIN embeddings e ON e.doc_id = d.doc_id AND e.version = k.version
        JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = k.version
        LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = k.version
        LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = k.version
        LEFT JOIN copy_members c ON c.doc_id = d.doc_id
        WHERE e.model_id = $model AND e.input = $input
        ORDER BY seen_at, d.doc_id
        """,
        {"model": model_id, "input": input_kind},
        vectors=("vector",),
    )
    names = ("doc_id", "version", "vector", "seen_at", "group_id", "lang")
    return list(zip(*(cols[n] for n in names), strict=True))


def rebuild_texts(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(doc_id, version, title, text, seen_at, copy group, language) of every document to
    cluster, at its current version where it is extracted and not rejected, else at the
    version placed (``_rebuild_version``), oldest first (for clustering without an embedding
    model)."""
    ready = (
        "EXISTS (SELECT 1 FROM extractions r WHERE r.doc_id = d.doc_id "
        "AND r.version = d.current_version)"
    )
    return con.execute(
        f"""
        WITH docs AS (SELECT d.doc_id, {_rebuild_version(ready)} AS version FROM documents d)
        SELECT d.doc_id, k.version, coalesce(x.title, v.hint_title), x.text,
               {seen_at_sql()} AS seen_at,
               c.group_id, l.lang
        FROM docs k
        JOIN documents d ON d.doc_id = k.doc_id
        JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = k.version
        JOIN extractions x ON x.doc_id = d.doc_id AND x.version = k.version
        LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = k.version
        LEFT JOIN copy_members c ON c.doc_id = d.doc_id
        ORDER BY seen_at, d.doc_id
        """
    ).fetchall()


def memberships(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """doc id -> its narrative; a document withdrawn and not clustered again since (sent
    back) from a narrative that has gone (no narrative or alias has its id) -> that id, which
    a rebuild may so give back. A live id is mapped through its members alone: notes of
    documents rejected for good would lower its overlap, and an alias must stay one."""
    return dict(
        con.execute(
            """SELECT doc_id, narrative_id FROM narrative_withdrawn
               WHERE doc_id NOT IN (SELECT doc_id FROM narrative_members)
                 AND narrative_id NOT IN (SELECT id FROM v_narrative_ids)
               UNION ALL
               SELECT doc_id, narrative_id FROM narrative_members"""
        ).fetchall()
    )


def replace_all(
    con: duckdb.DuckDBPyConnection,
    *,
    model_id: str,
    stage: str,
    stage_version: str,
    members: list[tuple[str, int, int | str, float | None, str]],  # doc, version, key, sim, via
    states: dict,  # key -> NarrativeState
    keep: dict,  # key -> old narrative id it keeps
    aliases: list[tuple[int, int | str, str]],  # old id, key it now resolves to, reason
    run_id: str | None = None,
) -> dict:
    """Swap in a rebuilt clustering in one transaction; returns key -> narrative id."""
    now = datetime.now(UTC)
    with transaction(con):
        created = dict(
            con.execute(
                "SELECT narrative_id, created_at FROM narratives "
                "UNION ALL SELECT narrative_id, min(created_at) FROM narrative_withdrawn "
                "WHERE narrative_id NOT IN (SELECT narrative_id FROM narratives) GROUP BY 1"
            ).fetchall()
        )
        fresh = [k for k in states if k not in keep]
        ids = dict(keep)
        if fresh:
            rows = con.execute("SELECT nextval('narrative_seq') FROM range(?)", [len(fresh)])
            ids.update({k: int(r[0]) for k, r in zip(fresh, rows.fetchall(), strict=True)})
        con.execute("DELETE FROM narrative_members")
        con.execute("DELETE FROM narratives")
        con.execute("DELETE FROM narrative_parts")
        # placed, their old ids mapped; a document not rebuilt (no vector yet) keeps its note
        con.execute(
            "DELETE FROM narrative_withdrawn WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [[doc for doc, *_ in members]],
        )
        insert_rows(
            con,
            "narratives",
            NARRATIVE_COLUMNS,
            [
                (ids[k], created.get(ids[k], now), now, model_id, s.size, s.last_seen, s.vector_sum)
                for k, s in states.items()
            ],
            replace=False,
        )
        write_parts(con, {ids[k]: s.parts for k, s in states.items()})
        insert_rows(
            con,
            "narrative_members",
            NARRATIVE_MEMBER_COLUMNS,
            [(doc, ids[key], sim, via, now) for doc, _, key, sim, via in members],
            replace=False,
        )
        for old, key, reason in aliases:
            con.execute(
                "UPDATE narrative_aliases SET narrative_id = ? WHERE narrative_id = ?",
                [ids[key], old],
            )
            con.execute(
                "INSERT OR REPLACE INTO narrative_aliases VALUES (?, ?, ?, ?)",
                [old, ids[key], now, reason],
            )
        insert_rows(
            con,
            "stage_state",
            STAGE_STATE_COLUMNS,
            [
                (doc, version, stage, stage_version, "done", run_id, now)
                for doc, version, *_ in members
            ],
        )
    return ids
