"""Stage bookkeeping: which document versions still need a stage, their inputs, and writing a
batch's results (through the stage output modules in storage/outputs/) with its stage state,
rejections and stage errors in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.db import transaction
from storage.documents import decompress_html, record_rejections, seen_at_sql
from storage.longtext import by_row_id
from storage.outputs import WriteContext, fingerprinted, fingerprints, withdraw, write_outputs
from storage.outputs.base import VERSIONS, versions
from storage.records import DocInput, Rejection, StageError

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

#: Pending keys a stage reads at once (PendingKeys): one scan of the stage's keys per page.
PAGE = 8192


def _pending_where(
    stage: str, stage_version: str, requires: tuple[str, ...], run_id: str | None = None
) -> tuple[str, list]:
    """Current document versions the stage has not handled at this version, whose required
    stages are done; a document that made the stage raise in run ``run_id`` waits for the
    next run. A WHERE clause over `documents d`."""
    sql = [
        "WHERE NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = d.doc_id",
        "  AND s.version = d.current_version AND s.stage = ? AND s.stage_version = ?)",
        "AND NOT EXISTS (SELECT 1 FROM stage_errors x WHERE x.doc_id = d.doc_id",
        "  AND x.version = d.current_version AND x.stage = ? AND x.stage_version = ?",
        "  AND x.last_run_id = ?)",
    ]
    params: list = [stage, stage_version, stage, stage_version, run_id]
    for required in requires:
        sql.append(
            "AND EXISTS (SELECT 1 FROM stage_state r WHERE r.doc_id = d.doc_id "
            "AND r.version = d.current_version AND r.stage = ? AND r.status = 'done')"
        )
        params.append(required)
    return "\n".join(sql), params


#: Where a document version's inputs are: its date (`seen_at_sql`), then its row ids in
#: document_versions, extractions, languages and translations (None where it has no row).
_LOCATED = f"{seen_at_sql('e')}, v.rowid, e.rowid, l.rowid, t.rowid"


def _located_joins(version: str) -> str:
    return "\n".join(
        f"LEFT JOIN {table} {alias} ON {alias}.doc_id = d.doc_id AND {alias}.version = {version}"
        for table, alias in (("document_versions", "v"), ("extractions", "e"),
                             ("languages", "l"), ("translations", "t"))
    )  # fmt: skip


def _pending_rows(con, stage, stage_version, requires=(), limit=None, run_id=None, *,
                  located: bool = False) -> list[tuple]:  # fmt: skip
    """`pending`'s rows: (doc_id, version), and with ``located`` the `_LOCATED` columns."""
    where, params = _pending_where(stage, stage_version, requires, run_id)
    columns = "d.doc_id, d.current_version" + (f", {_LOCATED}" if located else "")
    joins = _located_joins("d.current_version") if located else ""
    sql = f"SELECT {columns} FROM documents d {joins} {where} ORDER BY d.first_seen_at, d.doc_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return con.execute(sql, params).fetchall()


def pending(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    limit: int | None = None,
    run_id: str | None = None,
) -> list[tuple[str, int]]:
    """(doc_id, version) keys the stage still has to process, in a stable order."""
    rows = _pending_rows(con, stage, stage_version, requires, limit, run_id)
    return [(row[0], row[1]) for row in rows]


class PendingKeys:
    """One stage run's pending keys, read a page at a time: one scan of the stage's keys
    serves the batches of ``page`` documents instead of one batch.

    ``take`` gives the next keys in `pending`'s order; ``served`` moves past them once their
    batch is read. Every document of a batch leaves the backlog when the batch is written
    (done, rejected, or a failure recorded for this run), and the writer lock keeps other
    writers out, so what a page holds after the served keys is what `pending` would return
    then. A page is read again when it runs short, after those writes.

    The page also says where each document's inputs are (``located``, for `load_inputs`):
    found in the same scan, so that a batch's read need not look its keys up again. The
    stage's own writes do not move the rows of its inputs; a row that moved anyway is read
    by key (storage/longtext.py)."""

    def __init__(self, stage: str, stage_version: str, requires: tuple[str, ...] = (),
                 run_id: str | None = None) -> None:  # fmt: skip
        self.query = (stage, stage_version, requires)
        self.run_id, self.page = run_id, PAGE
        self.keys: list[tuple[str, int]] = []
        self.located: dict[tuple[str, int], tuple] = {}
        self.at = 0
        self.last = False  # the page held the whole backlog

    def take(self, con: duckdb.DuckDBPyConnection, size: int) -> list[tuple[str, int]]:
        if len(self.keys) - self.at < size and not self.last:
            limit = max(self.page, size)
            rows = _pending_rows(con, *self.query, limit, self.run_id, located=True)
            self.keys = [(r[0], r[1]) for r in rows]
            self.located = {(r[0], r[1]): r[2:] for r in rows}
            self.at, self.last = 0, len(self.keys) < limit
        return self.keys[self.at : self.at + size]

    def served(self, n: int) -> None:
        self.at += n


def backlog(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    run_id: str | None = None,
) -> int:
    """How many document versions the stage would process now."""
    where, params = _pending_where(stage, stage_version, requires, run_id)
    return int(con.execute(f"SELECT count(*) FROM documents d {where}", params).fetchone()[0])


def locate(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple]:
    """Where the given (doc_id, version) keys' inputs are (see `_LOCATED`), found by key: a
    scan of the key columns of five tables. `PendingKeys` finds them with the keys instead."""
    rows = con.execute(
        f"""
        SELECT k.doc_id, k.version, {_LOCATED}
        FROM (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
        JOIN documents d ON d.doc_id = k.doc_id
        {_located_joins("k.version")}
        """,
        [[k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


#: What load_inputs reads of document_versions, extractions and translations, by row id
_VERSION = ("x.url", "x.source", "x.hint_title", "x.hint_published_at", "x.hint_lang")
_PAGE = ("x.text", "x.html", "x.html_zlib")
_EXTRACTED = ("x.title", "x.text")
_TRANSLATED = ("x.status", "x.title", "x.text")
_NONE = (None, None, None)


def load_inputs(
    con: duckdb.DuckDBPyConnection,
    keys: list[tuple[str, int]],
    *,
    with_html: bool = True,
    located: dict[tuple[str, int], tuple] | None = None,
    with_translation: bool = True,
) -> list[DocInput]:
    """The stage inputs for the given (doc_id, version) keys, in the same order; unknown keys
    are left out. Stages that read only extracted text pass ``with_html=False``: raw pages
    are then not loaded into Python, and the imported text (``raw_text``) only where
    extraction left no text. Stages that do not read the translation pass
    ``with_translation=False``: its status, title and text are then None.

    Every column is read by row id (storage/longtext.py), so that reading a batch does not
    grow with the store: a scan that matches keys reads whole columns, and decompresses the
    long ones. The row ids come from ``located`` (`PendingKeys.located`), else from `locate`,
    which matches the keys alone."""
    if not keys:
        return []
    located = located or {}
    missing = [k for k in keys if k not in located]
    by_key = locate(con, missing) if missing else {}
    found = {}
    for k in keys:
        loc = located[k] if k in located else by_key.get(k)
        if loc is not None and loc[1] is not None:  # a version row to read
            found[k] = loc
    if not found:
        return []

    def read(table: str, selected: tuple[str, ...], column: int, only=None) -> dict:
        rows = [(loc[column], *k) for k, loc in found.items() if only is None or only(k)]
        return by_row_id(con, table, selected, rows)

    versions = read("document_versions", _VERSION + (_PAGE if with_html else ()), 1)
    extracted = read("extractions", _EXTRACTED, 2)
    languages = read("languages", ("x.lang",), 3)
    translated = read("translations", _TRANSLATED, 4) if with_translation else {}
    if not with_html:
        # the imported text is what later stages fall back on where extraction left none
        pages = read("document_versions", _PAGE[:1], 1, lambda k: not extracted.get(k, _NONE)[1])
    docs = {}
    for key, (seen_at, *_) in found.items():
        if key not in versions:  # the version is gone since it was located
            continue
        url, source, hint_title, hint_published_at, hint_lang, *page = versions[key]
        if with_html:
            raw_text, html, html_zlib = page
        else:
            raw_text, html, html_zlib = pages.get(key, (None,))[0], None, None
        title, text = extracted.get(key, (None, None))
        status, translated_title, translated_text = translated.get(key, _NONE)
        docs[key] = DocInput(
            *key, url, source,
            # HTML is stored compressed since schema 7; older versions keep it in `html`
            html=html or decompress_html(html_zlib),
            raw_text=raw_text, text=text, title=title,
            hint_title=hint_title, hint_published_at=hint_published_at, hint_lang=hint_lang,
            lang=languages.get(key, (None,))[0],
            translation_status=status,
            translated_title=translated_title,
            translated_text=translated_text,
            seen_at=seen_at,
        )  # fmt: skip
    return [docs[k] for k in keys if k in docs]


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
    rejections = [r for r in items if isinstance(r, Rejection)]
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
