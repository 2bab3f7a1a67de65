"""Reading long texts for a few rows without decompressing the whole column.

DuckDB stores long strings (an average over ``zstd_min_string_length``, 4,096 characters;
many news articles are longer) ZSTD-compressed in blocks of many rows, and a scan that
matches keys while it reads them decompresses the whole column, so reading a batch's texts by
key grew with the store (docs/benchmarks.md, "End to end"; bench/bench_batch_reads.py). So
the rows are found first, reading only the key columns and ``rowid``, and their long columns read
afterwards, joined on row id: the scan then decompresses only the blocks that hold those
rows, few where the rows were stored near each other (a stage's batch, the documents of the
last days)."""

from __future__ import annotations

import duckdb


def by_row_id(
    con: duckdb.DuckDBPyConnection,
    table: str,
    selected: tuple[str, ...],
    rows: list[tuple[int | None, str, int]],
) -> dict[tuple[str, int], tuple]:
    """(doc_id, version) -> the ``selected`` expressions (over ``x``, the table) for the rows
    of ``table`` given as (row id, doc_id, version); a row id of None is skipped. ``table`` and
    ``selected`` are written into the SQL: constants of the caller, never input.

    The key is checked with the row id, and a row no longer at its id (a checkpoint between
    the two reads may renumber the rows) is read by key instead."""
    rows = sorted({r for r in rows if r[0] is not None})
    if not rows:
        return {}
    columns = ", ".join(selected)
    got = con.execute(
        f"""
        SELECT x.doc_id, x.version, {columns} FROM {table} x
        JOIN (SELECT unnest(?::BIGINT[]) AS r, unnest(?::VARCHAR[]) AS doc_id,
                     unnest(?::INTEGER[]) AS version) k
          ON x.rowid = k.r AND x.doc_id = k.doc_id AND x.version = k.version
        """,
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
    ).fetchall()
    found = {(g[0], g[1]): g[2:] for g in got}
    moved = [r[1:] for r in rows if r[1:] not in found]
    if moved:
        got = con.execute(
            f"""
            SELECT x.doc_id, x.version, {columns} FROM {table} x
            JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
              ON x.doc_id = k.doc_id AND x.version = k.version
            """,
            [[m[0] for m in moved], [m[1] for m in moved]],
        ).fetchall()
        found.update({(g[0], g[1]): g[2:] for g in got})
    return found
