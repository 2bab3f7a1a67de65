"""Reading many stored vectors at once, as numpy matrices.

``fetchall`` turns every vector into a Python list of floats: for the 10,000 vectors of a
dedup window that is about 0.7 s, on every batch, and a batch's window grows with the
documents dated near it. Through Arrow the same rows arrive in about 0.05 s (0.4 s the first
time in a process): a ``FLOAT[]`` column is one flat float buffer, reshaped into a matrix."""

from __future__ import annotations

import duckdb
import numpy as np


def read_columns(
    con: duckdb.DuckDBPyConnection, sql: str, params: list, vectors: tuple[str, ...] = ()
) -> dict[str, list | np.ndarray]:
    """The query's columns by name: the ``vectors`` columns (``FLOAT[]``, one length per
    column, no NULL) as float32 matrices of one row per result row, the others as lists."""
    table = con.sql(sql, params=params).to_arrow_table()
    out: dict[str, list | np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if name not in vectors:
            out[name] = column.to_pylist()
            continue
        if column.null_count:
            raise ValueError(f"column {name!r} holds NULL vectors")
        lists = column.combine_chunks()
        flat = lists.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        rows = len(lists)
        if rows == 0:
            out[name] = np.zeros((0, 0), dtype=np.float32)
            continue
        lengths = lists.value_lengths().to_numpy()
        if lengths.min() != lengths.max():
            raise ValueError(f"column {name!r} holds vectors of different lengths")
        out[name] = flat.reshape(rows, flat.size // rows)
    return out


def vectors_at(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[tuple[int, str, int]],
    by_key: str = "",
    params: list = (),
) -> np.ndarray:
    """The ``vector`` column of ``table``'s rows given as (row id, doc_id, version), as a
    float32 matrix in that order. A query that joins a store's tables to pick a window of
    rows reads every row's vector before the join drops most of them (the vectors are most
    of the bytes: 0.35 s a dedup batch at 100,000 documents, for a window of 10,000); its
    row ids, then the vectors at them, take a fifth of that. A row no longer at its id (a
    checkpoint between the two reads may renumber rows) is read by key: its doc_id, version
    and ``by_key`` (SQL over ``x``, with ``params``). ``table`` and ``by_key`` are written
    into the SQL: constants of the caller, never input."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    keys = [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
    got = read_columns(
        con,
        f"""
        SELECT k.i, x.vector FROM {table} x
        JOIN (SELECT unnest(?::BIGINT[]) AS r, unnest(?::VARCHAR[]) AS doc_id,
                     unnest(?::INTEGER[]) AS version, unnest(?::INTEGER[]) AS i) k
          ON x.rowid = k.r AND x.doc_id = k.doc_id AND x.version = k.version {by_key}
        """,
        [*keys, list(range(len(rows))), *params],
        vectors=("vector",),
    )
    found = np.asarray(got["i"], dtype=np.int64)
    if len(found) < len(rows):  # moved: by key
        lost = sorted(set(range(len(rows))) - set(found.tolist()))
        more = read_columns(
            con,
            f"""
            SELECT k.i, x.vector FROM {table} x
            JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version,
                         unnest(?::INTEGER[]) AS i) k
              ON x.doc_id = k.doc_id AND x.version = k.version {by_key}
            """,
            [[rows[i][1] for i in lost], [rows[i][2] for i in lost], lost, *params],
            vectors=("vector",),
        )
        if len(more["i"]) < len(lost):
            raise LookupError(f"{len(lost) - len(more['i'])} vectors of {table} went missing")
        parts = [m for m in (got["vector"], more["vector"]) if m.size]
        found = np.concatenate([found, np.asarray(more["i"], dtype=np.int64)])
        got = {"vector": np.concatenate(parts)}
    out = np.empty((len(rows), got["vector"].shape[1]), dtype=np.float32)
    out[found] = got["vector"]
    return out
