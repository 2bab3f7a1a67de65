"""Stage bookkeeping: which document versions still need a stage, their inputs, and results."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from storage.db import transaction
from storage.documents import record_rejections
from storage.records import DocInput, Extraction, LanguageResult, Rejection


def _pending_where(stage: str, stage_version: str, requires: tuple[str, ...]) -> tuple[str, list]:
    """Current document versions the stage has not handled at this version, whose required
    stages are done."""
    sql = [
        "FROM documents d",
        "WHERE NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = d.doc_id",
        "  AND s.version = d.current_version AND s.stage = ? AND s.stage_version = ?)",
    ]
    params: list = [stage, stage_version]
    for required in requires:
        sql.append(
            "AND EXISTS (SELECT 1 FROM stage_state r WHERE r.doc_id = d.doc_id "
            "AND r.version = d.current_version AND r.stage = ? AND r.status = 'done')"
        )
        params.append(required)
    return "\n".join(sql), params


def pending(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[tuple[str, int]]:
    """(doc_id, version) keys the stage still has to process, in a stable order."""
    where, params = _pending_where(stage, stage_version, requires)
    sql = f"SELECT d.doc_id, d.current_version {where} ORDER BY d.first_seen_at, d.doc_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [(row[0], row[1]) for row in con.execute(sql, params).fetchall()]


def backlog(
    con: duckdb.DuckDBPyConnection, stage: str, stage_version: str, requires: tuple[str, ...] = ()
) -> int:
    """How many document versions the stage would process now."""
    where, params = _pending_where(stage, stage_version, requires)
    return int(con.execute(f"SELECT count(*) {where}", params).fetchone()[0])


def load_inputs(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]], *, with_html: bool = True
) -> list[DocInput]:
    """The stage inputs for the given (doc_id, version) keys, in the same order. Stages that
    read only extracted text pass ``with_html=False``: raw pages are then not loaded into Python."""
    if not keys:
        return []
    rows = con.execute(
        """
        SELECT v.doc_id, v.version, v.url, v.source, CASE WHEN ? THEN v.html END, v.text,
               e.text, e.title,
               v.hint_title, v.hint_published_at, v.hint_lang
        FROM document_versions v
        JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
          ON k.doc_id = v.doc_id AND k.version = v.version
        LEFT JOIN extractions e ON e.doc_id = v.doc_id AND e.version = v.version
        """,
        [with_html, [k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    by_key = {(r[0], r[1]): DocInput(*r) for r in rows}
    return [by_key[k] for k in keys if k in by_key]


def _write_extraction(con, stage_version: str, r: Extraction) -> None:
    con.execute(
        "INSERT OR REPLACE INTO extractions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [r.doc_id, r.version, stage_version, r.title, r.author, r.published_at, r.sitename, r.text],
    )


def _write_language(con, stage_version: str, r: LanguageResult) -> None:
    con.execute(
        "INSERT OR REPLACE INTO languages VALUES (?, ?, ?, ?, ?, ?)",
        [r.doc_id, r.version, stage_version, r.lang, r.confidence, r.method],
    )


# One writer per result type; a new stage adds its table (a migration) and its writer here.
WRITERS = {Extraction: _write_extraction, LanguageResult: _write_language}


def write_results(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    results: list,
    *,
    run_id: str | None = None,
) -> dict[str, int]:
    """Write one batch of stage results and mark each document version handled, atomically."""
    now = datetime.now(UTC)
    counts = {"done": 0, "rejected": 0}
    rejections = [r for r in results if isinstance(r, Rejection)]
    with transaction(con):
        states = []
        for result in results:
            if isinstance(result, Rejection):
                status = "rejected"
            else:
                WRITERS[type(result)](con, stage_version, result)
                status = "done"
            counts[status] += 1
            states.append(
                [result.doc_id, result.version, stage, stage_version, status, run_id, now]
            )
        con.executemany("INSERT OR REPLACE INTO stage_state VALUES (?, ?, ?, ?, ?, ?, ?)", states)
        record_rejections(con, rejections, run_id=run_id)
    return counts


def reset_stage(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Forget that a stage ran, so ``process --force`` redoes it. Outputs are replaced on rerun."""
    with transaction(con):
        con.execute("DELETE FROM stage_state WHERE stage = ?", [stage])
