"""Run records: every crawl, import and process run, with its outcome and summary."""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from storage.db import connect, transaction
from storage.lock import deleted_lock, identity, still_running

#: SQL over `runs` (or `v_runs`): not an `alerts` check that raised and sent nothing and did
#: not fail. Lists of the last runs (`status`, the dashboard) leave such checks out, so that
#: an hourly alerts cron does not push the crawls and process runs off them.
NOT_QUIET = """NOT (kind = 'alerts' AND status = 'ok'
     AND coalesce(TRY_CAST(summary->>'raised' AS BIGINT), 0) = 0
     AND coalesce(TRY_CAST(summary->>'delivered' AS BIGINT), 0) = 0)"""

log = logging.getLogger(__name__)


def new_run_id(kind: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(3)}"


def start_run(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    run_id: str | None = None,
    summary: dict | None = None,
) -> str:
    """Record a run as started, with what its ``summary`` says from the start (a process run:
    the settings of the stages it runs, which an export of what it committed names, also
    while it runs or once it died). The caller holds the writer lock, so any other run still
    marked 'running' was left by a process that died (kill -9, power loss): it is closed as
    'abandoned' in the same transaction, keeping what its summary said."""
    run_id = run_id or new_run_id(kind)
    with transaction(con):
        # its lock file deleted after the writer lock looked (storage/lock.py), before its
        # run was recorded: this look, in the transaction that records ours, closes that gap
        if live := _live(con):
            [(path,)] = con.execute("SELECT path FROM duckdb_databases() "
                                    "WHERE database_name = current_database()").fetchall()  # fmt: skip
            raise deleted_lock(path or ":memory:", *live[0])
        abandoned = con.execute(
            "UPDATE runs SET status = 'abandoned', finished_at = ?, "
            "summary = json_merge_patch(coalesce(TRY_CAST(summary AS JSON), '{}'), "
            "json_object('error', 'its process ended before it finished')) "
            "WHERE status = 'running' RETURNING run_id",
            [datetime.now(UTC)],
        ).fetchall()
        for (old,) in abandoned:
            log.warning("run %s was left unfinished by a process that died: marked abandoned", old)
        # who writes, while it runs: what another writer checks where the lock file has gone
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', ?)",
            [
                run_id,
                kind,
                datetime.now(UTC),
                json.dumps({**(summary or {}), "writer": identity()}, default=str),
            ],  # fmt: skip
        )
    return run_id


def live_writers(db_path) -> list[tuple[str, dict]]:
    """The runs recorded as running whose process still runs (storage/lock.py ``still_running``):
    (run id, the writer's identity)."""
    # upgrade=False: a store to upgrade is read by no writer of this version yet, and its
    # runs name no writer (the caller takes the StorageError for "none")
    with connect(db_path, read_only=True, upgrade=False) as con:
        return _live(con)


def _live(con: duckdb.DuckDBPyConnection) -> list[tuple[str, dict]]:
    rows = con.execute(
        "SELECT run_id, summary, started_at FROM runs WHERE status = 'running'"
    ).fetchall()
    live = []
    for run_id, summary, started_at in rows:
        try:
            who = (json.loads(summary) or {}).get("writer") if summary else None
        except (ValueError, AttributeError):
            who = None
        if isinstance(who, dict) and still_running(who):
            live.append((run_id, as_holder(who, started_at)))
    return live


def as_holder(who: dict, started_at: datetime) -> dict:
    """A running run's writer (``identity``) as a lock file names its holder: the same
    fields (the lock inodes are for finding it), started to the second."""
    return {**{k: v for k, v in who.items() if k != "lock_inodes"},
            "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds")}  # fmt: skip


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, summary: dict | None = None
) -> None:
    with transaction(con):
        con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
            [datetime.now(UTC), status, json.dumps(summary or {}, default=str), run_id],
        )


@dataclass
class Run:
    """A run in progress: what its caller reports back before it is recorded as finished.
    ``status`` stays 'ok' unless the caller says otherwise or the block raises ('failed')."""

    run_id: str
    kind: str
    status: str = "ok"
    summary: dict = field(default_factory=dict)

    def fail(self, error: BaseException | str) -> None:
        self.status = "failed"
        self.summary["error"] = (
            error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        )


@contextmanager
def recorded_run(
    db_path: str | os.PathLike | None,
    kind: str,
    run_id: str | None = None,
    summary: dict | None = None,
) -> Iterator[Run]:
    """Record a run in ``runs`` around a ``with`` block: started, then finished with its
    outcome and summary, whatever happens inside ('interrupted' for a stop signal or Ctrl-C).
    The one run-bookkeeping helper for crawls, imports, processing and rebuilds; it holds
    the database's writer lock (re-entrant)."""
    from storage.lock import writer_lock

    with writer_lock(db_path):
        with connect(db_path) as con:
            run = Run(start_run(con, kind, run_id, summary), kind, summary=dict(summary or {}))
        try:
            yield run
        except BaseException as err:
            stopped = getattr(err, "run_status", None)  # pipeline.interrupt.Interrupted
            # a signal that arrived during a query comes out of DuckDB as this
            by_signal = isinstance(err, RuntimeError) and str(err) == "Query interrupted"
            if stopped or by_signal or isinstance(err, KeyboardInterrupt):
                run.status = stopped or "interrupted"
                run.summary["error"] = str(err) or type(err).__name__
            else:
                run.fail(err)
            raise
        finally:
            try:
                with connect(db_path) as con:
                    finish_run(con, run.run_id, run.status, run.summary)
            except Exception as err:  # noqa: BLE001 - do not hide the error that ended the run
                if run.status in ("ok", "stopped early"):  # else: the block's failure
                    raise
                log.error("could not record the end of run %s: %s", run.run_id, err)


def recent_summaries(con: duckdb.DuckDBPyConnection, kind: str, n: int = 5) -> list[dict]:
    """The summaries of the latest ``n`` finished runs of a kind, newest first (what a
    time-boxed run estimates its processing time from: pipeline/deadline.py)."""
    rows = con.execute(
        "SELECT summary FROM runs WHERE kind = ? AND status IN ('ok', 'stopped early') "
        "AND summary IS NOT NULL ORDER BY started_at DESC LIMIT ?",
        [kind, n],
    ).fetchall()
    return [json.loads(s) for (s,) in rows]
