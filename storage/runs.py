"""Run records: every crawl, import and process run, with its summary."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import duckdb

from storage.db import transaction


def new_run_id(kind: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(3)}"


def start_run(con: duckdb.DuckDBPyConnection, kind: str, run_id: str | None = None) -> str:
    run_id = run_id or new_run_id(kind)
    with transaction(con):
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, NULL, 'running', NULL)",
            [run_id, kind, datetime.now(UTC)],
        )
    return run_id


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, summary: dict | None = None
) -> None:
    with transaction(con):
        con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
            [datetime.now(UTC), status, json.dumps(summary or {}, default=str), run_id],
        )
