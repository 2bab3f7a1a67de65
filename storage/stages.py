"""Stage bookkeeping: writing a batch's results (through the stage output modules in
storage/outputs/) with its stage state, rejections and stage errors in one transaction. Which
document versions still need a stage, and their inputs, is storage/stage_inputs.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.db import transaction
from storage.documents import record_rejections
from storage.outputs import WriteContext, fingerprinted, fingerprints, withdraw, write_outputs
from storage.outputs.base import VERSIONS, versions
from storage.records import Rejection, StageError

# stage_state rows: (doc_id, version, stage, stage_version, status, run_id, processed_at)
STAGE_STATE_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage", "VARCHAR"),
    ("stage_version", "VARCHAR"),
    ("status", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("processed_at", "TIMESTAMPTZ"),
]

#: How often a document may make a stage raise before the stage gives up on it.
MAX_ATTEMPTS = 3


def write_results(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    items: list,
    extras: list = (),
    *,
    run_id: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    dependents: Sequence[str] = (),
    again: bool = True,
) -> dict[str, int]:
    """Write one batch of stage results atomically: each result through its stage output
    module, batch-level ``extras`` too, every handled document version's stage state, the
    rejections, and the documents that made the stage raise (``StageError``: an attempt is
    counted; at ``max_attempts`` the document is rejected for good).

    A document version rejected after it was processed (a forced rerun, a new stage
    version) is withdrawn: what this stage stored from it before, and what the stages that
    depend on it (``dependents``, in pipeline order) built on it, go with the rejection.
    One processed again with a result that changed what they read (``Output.fingerprint``)
    is withdrawn from the dependents alone, which then redo it. ``again=False`` (the runner
    found that no document the stage has still to handle was handled by a dependent:
    `reprocessing`) skips looking that up, a scan of the stage state a batch."""
    ctx = WriteContext(stage, stage_version, run_id, datetime.now(UTC))
    # a rejection among the batch-level outputs is of a document handled before, outside the
    # batch, that the batch shows to be unusable (the dedup stage's site boilerplate)
    rejections = [r for r in (*items, *extras) if isinstance(r, Rejection)]
    extras = [e for e in extras if not isinstance(e, Rejection)]
    failures = [r for r in items if isinstance(r, StageError)]
    results = [r for r in items if not isinstance(r, Rejection | StageError)]
    handled = [
        (r.doc_id, r.version, stage, stage_version, "done", run_id, ctx.now) for r in results
    ] + [
        (r.doc_id, r.version, stage, stage_version, "rejected", run_id, ctx.now) for r in rejections
    ]
    with transaction(con):
        done = [(r.doc_id, r.version) for r in results] if again and fingerprinted(stage) else []
        built_on = _built_on(con, done, list(dependents))
        redone = [r for r in results if (r.doc_id, r.version) in built_on]
        before = fingerprints(con, stage, redone) if redone else {}
        write_outputs(con, ctx, results, list(extras))
        after = fingerprints(con, stage, redone) if before else {}
        changed = [k for k, h in before.items() if after.get(k, h) != h]
        insert_rows(con, "stage_state", STAGE_STATE_COLUMNS, handled)
        record_rejections(con, rejections, run_id=run_id)
        if handled:
            con.execute(
                "DELETE FROM stage_errors x USING (SELECT unnest(?::VARCHAR[]) AS doc_id, "
                "unnest(?::INTEGER[]) AS version) k "
                "WHERE x.stage = ? AND x.doc_id = k.doc_id AND x.version = k.version",
                [[h[0] for h in handled], [h[1] for h in handled], stage],
            )
        given_up = _record_failures(con, ctx, failures, max_attempts)
        keys = [(r.doc_id, r.version) for r in rejections if r.doc_id is not None] + given_up
        withdrawn = _withdraw(con, ctx, keys, list(dependents))
        sent_back = _withdraw(con, ctx, changed, list(dependents), own=False)
    return {
        "done": len(results),
        "rejected": len(rejections) + len(given_up),
        "retrying": len(failures) - len(given_up),
        **({"withdrawn": withdrawn} if withdrawn else {}),
        **({"sent_back": sent_back} if sent_back else {}),
    }


def _built_on(con, keys: list[tuple[str, int]], dependents: list[str]) -> set[tuple[str, int]]:
    """The document versions among ``keys`` that a dependent stage has handled (done or
    rejected): on a first run none, as the dependents wait for this stage."""
    if not keys or not dependents:
        return set()
    rows = con.execute(
        f"SELECT DISTINCT x.doc_id, x.version FROM stage_state x JOIN {VERSIONS} "
        "ON x.doc_id = k.doc_id AND x.version = k.version "
        "WHERE x.stage IN (SELECT unnest(?::VARCHAR[]))",
        [*versions(keys), dependents],
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def _withdraw(con, ctx: WriteContext, keys: list[tuple[str, int]], dependents: list[str], *,
              own: bool = True) -> int:  # fmt: skip
    """Withdraw document versions from the results stored before (see ``write_results``):
    the dependents' results, and with ``own`` (a rejection) this stage's; returns how many a
    dependent stage had done."""
    if not keys:
        return 0
    on = (
        "x.doc_id = k.doc_id AND x.version = k.version AND x.stage IN (SELECT unnest(?::VARCHAR[]))"
    )
    params = [*versions(keys), dependents]
    processed = (
        con.execute(
            f"SELECT x.doc_id, x.version, bool_or(x.status = 'done') FROM stage_state x "
            f"JOIN {VERSIONS} ON {on} GROUP BY 1, 2",
            params,
        ).fetchall()
        if dependents
        else []
    )
    # the stage's own outputs are keyed by version or check it: no-ops on a first run
    mine = [ctx.stage] if own else []
    withdraw(con, keys, [*reversed(dependents), *mine] if processed else mine, ctx.now)
    if processed:
        for table in ("stage_state", "stage_errors"):
            con.execute(f"DELETE FROM {table} x USING {VERSIONS} WHERE {on}", params)
    return sum(1 for *_, done in processed if done)


def _record_failures(con, ctx: WriteContext, failures: list[StageError], max_attempts: int
                     ) -> list[tuple[str, int]]:  # fmt: skip
    """Count an attempt for each failed document; reject those out of attempts. Returns the
    document versions given up on."""
    if not failures:
        return []
    con.execute(
        """
        INSERT INTO stage_errors
        SELECT unnest(?::VARCHAR[]), unnest(?::INTEGER[]), ?, ?, 1, unnest(?::VARCHAR[]),
               unnest(?::VARCHAR[]), ?, ?, ?
        ON CONFLICT (doc_id, version, stage, stage_version) DO UPDATE SET
            attempts = stage_errors.attempts + 1, error = excluded.error,
            last_failed_at = excluded.last_failed_at, last_run_id = excluded.last_run_id
        """,
        [
            [f.doc_id for f in failures], [f.version for f in failures], ctx.stage,
            ctx.stage_version, [f.error for f in failures], [f.url for f in failures],
            ctx.now, ctx.now, ctx.run_id,
        ],
    )  # fmt: skip
    spent = con.execute(
        "SELECT x.doc_id, x.version, x.attempts, x.error FROM stage_errors x "
        "JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k "
        "ON x.doc_id = k.doc_id AND x.version = k.version "
        "WHERE x.stage = ? AND x.stage_version = ? AND x.attempts >= ?",
        [[f.doc_id for f in failures], [f.version for f in failures], ctx.stage,
         ctx.stage_version, max_attempts],
    ).fetchall()  # fmt: skip
    if not spent:
        return []
    by_key = {(f.doc_id, f.version): f for f in failures}
    insert_rows(
        con,
        "stage_state",
        STAGE_STATE_COLUMNS,
        [(d, v, ctx.stage, ctx.stage_version, "rejected", ctx.run_id, ctx.now)
         for d, v, _, _ in spent],
    )  # fmt: skip
    record_rejections(
        con,
        [
            Rejection(
                ctx.stage,
                "stage_error",
                f"gave up after {n} attempts: {error}",
                url=by_key[d, v].url,
                source=by_key[d, v].source,
                doc_id=d,
                version=v,
            )
            for d, v, n, error in spent
        ],  # fmt: skip
        run_id=ctx.run_id,
    )
    return [(d, v) for d, v, _, _ in spent]


def reprocessing(con: duckdb.DuckDBPyConnection, stage: str, stage_version: str,
                 dependents: Sequence[str]) -> bool:  # fmt: skip
    """Whether a current document version the stage has still to handle at this version was
    handled by one of its ``dependents``: a forced run, a new stage version, or one of them
    left unfinished (``--limit``, ``--max-duration``, a failure). Only then can a result
    change what the dependents built on (``write_results``' ``again``); always False for a
    stage whose output declares no ``fingerprint``."""
    if not dependents or not fingerprinted(stage):
        return False
    return bool(
        con.execute(
            "SELECT EXISTS (SELECT 1 FROM stage_state s JOIN documents d ON d.doc_id = s.doc_id "
            "AND d.current_version = s.version WHERE s.stage IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT EXISTS (SELECT 1 FROM stage_state t WHERE t.doc_id = s.doc_id "
            "AND t.version = s.version AND t.stage = ? AND t.stage_version = ?))",
            [list(dependents), stage, stage_version],
        ).fetchone()[0]
    )


def reset_stage(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Forget that a stage ran, so ``process --force`` redoes it. Outputs are replaced on rerun;
    a document the rerun rejects is withdrawn from them (``write_results``)."""
    with transaction(con):
        con.execute("DELETE FROM stage_state WHERE stage = ?", [stage])
        con.execute("DELETE FROM stage_errors WHERE stage = ?", [stage])
