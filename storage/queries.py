"""Read-only queries: analysts' SQL and the status report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NamedTuple

import duckdb

from storage.runs import NOT_QUIET


def documents_by_source(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(
        con.execute(
            "SELECT coalesce(source, '(none)'), count(*) FROM documents GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    )


def documents_by_language(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(
        con.execute(
            "SELECT lang, count(*) FROM v_documents WHERE lang IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    )


def translation_needs(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Languages whose current documents wait for a translation model, with counts."""
    return dict(
        con.execute(
            "SELECT source_lang, count(*) FROM translations t JOIN documents d "
            "ON d.doc_id = t.doc_id AND d.current_version = t.version "
            "WHERE t.status = 'no_model' GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    )


def embeddings_by_model(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return [
        {"model_id": m, "input": i, "runtime": r, "dim": d, "documents": n}
        for m, i, r, d, n in con.execute(
            "SELECT model_id, input, any_value(runtime), any_value(dim), count(*) "
            "FROM embeddings e JOIN documents d "
            "ON d.doc_id = e.doc_id AND d.current_version = e.version "
            "GROUP BY 1, 2 ORDER BY 5 DESC, 1"
        ).fetchall()
    ]


def top_narratives(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[tuple]:
    """(narrative_id, documents, independent_sites, langs, representative_title, keywords)."""
    return con.execute(
        "SELECT narrative_id, documents, independent_sites, langs, representative_title, "
        "keywords FROM v_narratives WHERE documents > 1 "
        "ORDER BY documents DESC, narrative_id LIMIT ?",
        [limit],
    ).fetchall()


def status(con: duckdb.DuckDBPyConnection, stages: list) -> dict:
    """Documents by stage and language, backlog per stage, rejections by reason, last runs."""
    from storage.stage_inputs import backlog

    one = lambda sql, *p: con.execute(sql, list(p)).fetchone()[0]  # noqa: E731
    by_stage = {
        stage: {"done": done, "rejected": rejected}
        for stage, done, rejected in con.execute(
            "SELECT stage, count(*) FILTER (status = 'done'), count(*) FILTER (status = 'rejected') "
            "FROM stage_state s JOIN documents d ON d.doc_id = s.doc_id AND d.current_version = s.version "
            "GROUP BY stage ORDER BY stage"
        ).fetchall()
    }
    return {
        "documents": one("SELECT count(*) FROM documents"),
        "versions": one("SELECT count(*) FROM document_versions"),
        "sources": documents_by_source(con),
        "by_stage": by_stage,
        "backlog": {s.name: backlog(con, s.name, s.version, s.requires) for s in stages},
        "languages": documents_by_language(con),
        "translations": dict(
            con.execute(
                "SELECT status, count(*) FROM translations t JOIN documents d "
                "ON d.doc_id = t.doc_id AND d.current_version = t.version GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        ),
        "translation_needs": translation_needs(con),
        "embeddings": embeddings_by_model(con),
        "copies": dict(
            zip(
                ("groups", "documents"),
                con.execute(
                    "SELECT count(DISTINCT group_id), count(*) FROM copy_members"
                ).fetchone(),
                strict=True,
            )
        ),
        "narratives": one("SELECT count(*) FROM narratives"),
        "rejections": [
            {"stage": st, "reason": r, "count": n}
            for st, r, n in con.execute(REJECTIONS_BY_REASON).fetchall()
        ],
        "stage_errors": [
            {"stage": st, "url": url, "attempts": n, "error": err, "given_up": bool(gave_up)}
            for st, url, n, err, gave_up in con.execute(
                "SELECT x.stage, x.url, x.attempts, x.error, s.status = 'rejected' "
                "FROM stage_errors x "
                "JOIN documents d ON d.doc_id = x.doc_id AND d.current_version = x.version "
                "LEFT JOIN stage_state s ON s.doc_id = x.doc_id AND s.version = x.version "
                "AND s.stage = x.stage AND s.stage_version = x.stage_version "
                "WHERE s.status IS DISTINCT FROM 'done' "
                "ORDER BY 5 DESC, x.last_failed_at DESC LIMIT 50"
            ).fetchall()
        ],
        "last_runs": [
            {
                "run_id": rid,
                "kind": k,
                "started_at": s,
                "status": st,
                "summary": json.loads(summ) if summ else None,
            }
            for rid, k, s, st, summ in con.execute(
                "SELECT run_id, kind, started_at, status, summary FROM runs "
                f"WHERE {NOT_QUIET} ORDER BY started_at DESC LIMIT 5"
            ).fetchall()
        ],
    }


#: SQL: the rejection ``r`` still stands, its stage's state for that version being rejected
#: (a forced stage that kept the version since, or a document sent back, leaves it in the log)
STANDING = (
    "EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = r.doc_id AND s.version = r.version "
    "AND s.stage = r.stage AND s.status = 'rejected')"
)


# Rejections by stage and reason: a document's once for each version and stage, by its latest
# reason, while the stage still rejects it (a page rejected again after an upgrade or a forced
# run is not counted twice; one a forced run kept is not counted); the crawl's and the
# import's rejections (of pages they did not store, or of a source), each.
REJECTIONS_BY_REASON = f"""
    WITH staged AS (SELECT DISTINCT stage FROM stage_state)
    SELECT stage, reason, count(*) FROM (
        SELECT r.stage, arg_max(r.reason, r.rejection_id) AS reason FROM rejections r
        WHERE r.doc_id IS NOT NULL AND r.stage IN (FROM staged) AND {STANDING}
        GROUP BY r.doc_id, r.version, r.stage
        UNION ALL
        SELECT stage, reason FROM rejections
        WHERE doc_id IS NULL OR stage NOT IN (FROM staged)
    ) GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"""


def current_rejection(con: duckdb.DuckDBPyConnection, doc_id: str) -> tuple | None:
    """(stage, reason, detail) of the rejection that stands for the document's current
    version, or None."""
    return con.execute(
        "SELECT r.stage, r.reason, r.detail FROM rejections r JOIN documents d "
        f"ON d.doc_id = r.doc_id AND d.current_version = r.version WHERE r.doc_id = ? AND {STANDING} "
        "ORDER BY r.rejected_at DESC LIMIT 1",
        [doc_id],
    ).fetchone()


class Gone(NamedTuple):
    """A narrative left with no documents: how many left it, how many of those were rejected
    for good at their current version (and the commonest reason), and when the last left."""

    documents: int
    rejected: int
    reason: str | None
    when: object


def gone_narratives(con: duckdb.DuckDBPyConnection, ids: list[int]) -> dict[int, Gone]:
    """Of ``ids``, the narratives that have no documents now because every one of them was
    withdrawn (sent back to the stages before clustering, or rejected). Such an id comes back
    when its documents are clustered again (``narrative_withdrawn``); until then links,
    exports and aliases that name it find nothing, and say why with ``gone_message``. A
    document whose current version a stage rejected waits for nothing: it comes back only if
    a new version of its page, or a stage redone with ``--force``, keeps it."""
    if not ids:
        return {}
    rows = con.execute(
        f"""WITH notes AS (
            SELECT w.narrative_id, w.doc_id, w.withdrawn_at, (
                SELECT arg_max(r.stage || ': ' || r.reason, r.rejected_at) FROM rejections r
                WHERE r.doc_id = w.doc_id AND r.version = d.current_version AND {STANDING}
            ) AS rejected
            FROM narrative_withdrawn w LEFT JOIN documents d USING (doc_id)
            WHERE w.narrative_id IN (SELECT unnest(?::BIGINT[]))
              AND w.narrative_id NOT IN (SELECT narrative_id FROM narratives)
        )
        SELECT narrative_id, count(*), count(rejected), mode(rejected), max(withdrawn_at)
        FROM notes GROUP BY narrative_id""",
        [list(ids)],
    ).fetchall()
    return {row[0]: Gone(*row[1:]) for row in rows}


def gone_message(asked: int, current: int, gone: Gone) -> str:
    """Why narrative ``asked`` (or ``current``, which it was merged into) shows nothing."""
    if asked == current:
        which = f"Narrative {asked}"
    else:
        which = f"Narrative {asked} was merged into {current}, which"
    when = gone.when
    if isinstance(when, datetime):
        when = when.astimezone(UTC) if when.tzinfo else when
        when = when.strftime("%Y-%m-%d %H:%M UTC")
    left = f"{which} has no documents now: its {gone.documents} document(s) left it on {when}"
    waiting = gone.documents - gone.rejected
    if not gone.rejected:
        return (
            f"{left}, sent back to the earlier stages to be processed again. It comes back "
            "under the same id when they are clustered again (narrascope process)."
        )
    rejected = f"{gone.rejected} rejected ({gone.reason})"
    if waiting:
        return (
            f"{left}: {rejected}, {waiting} sent back to the earlier stages to be processed "
            "again. It comes back under the same id when those are clustered again "
            "(narrascope process)."
        )
    return (
        f"{left}, all {rejected}. It comes back under the same id only if one of them is kept "
        f"again: a new version of its page, or the stage redone (narrascope process --stage "
        f"{gone.reason.split(':')[0]} --force) after its rules changed."
    )
