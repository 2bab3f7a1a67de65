"""Set-based writes: one INSERT statement for a whole batch of rows, not one per row."""

from __future__ import annotations

import duckdb


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[tuple[str, str]],
    rows: list[tuple],
    *,
    replace: bool = True,
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order; column = (name, SQL type)) with a single
    statement: each column travels as one list parameter and is unnested server-side.
    ``table`` and column names are code constants, never user input."""
    if not rows:
        return
    values = [list(col) for col in zip(*rows, strict=True)]
    names = ", ".join(name for name, _ in columns)
    select = ", ".join(f"unnest(?::{sql_type}[])" for _, sql_type in columns)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    con.execute(f"{verb} INTO {table} ({names}) SELECT {select}", values)
