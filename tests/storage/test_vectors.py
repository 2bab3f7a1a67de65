"""storage/vectors.py: stored vectors read as numpy matrices, the other columns as lists."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from storage.vectors import read_columns


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id VARCHAR, n INTEGER, v FLOAT[], w FLOAT[])")
    yield con
    con.close()


def test_vectors_come_back_as_float32_matrices_in_row_order(con):
    con.execute(
        "INSERT INTO t VALUES ('a', 1, [1, 2, 3], [0.5]), ('b', 2, [4, 5, 6], [0.25]), "
        "('c', 3, [7, 8, 9], [1])"
    )
    got = read_columns(
        con, "SELECT id, n, v, w FROM t WHERE n >= ? ORDER BY n DESC", [2], vectors=("v", "w")
    )
    assert got["id"] == ["c", "b"] and got["n"] == [3, 2]
    assert got["v"].dtype == np.float32
    assert got["v"].tolist() == [[7, 8, 9], [4, 5, 6]]
    assert got["w"].tolist() == [[1.0], [0.25]]


def test_no_rows_give_empty_lists_and_an_empty_matrix(con):
    got = read_columns(con, "SELECT id, v FROM t", [], vectors=("v",))
    assert got["id"] == []
    assert got["v"].shape == (0, 0)


def test_vectors_of_different_lengths_or_null_are_refused(con):
    con.execute("INSERT INTO t VALUES ('a', 1, [1, 2], NULL), ('b', 2, [1, 2, 3], NULL)")
    with pytest.raises(ValueError, match="different lengths"):
        read_columns(con, "SELECT v FROM t", [], vectors=("v",))
    with pytest.raises(ValueError, match="NULL"):
        read_columns(con, "SELECT w FROM t", [], vectors=("w",))


def test_vectors_at_row_ids_come_in_the_order_asked_and_moved_rows_by_key():
    """The dedup window reads row ids first and the vectors at them after (reading them in
    its join read every stored vector); a row renumbered between the two reads is read by its
    key, of the model asked for, not lost or mixed up."""
    from storage.vectors import vectors_at

    con = duckdb.connect()
    con.execute("CREATE TABLE e (doc_id VARCHAR, version INTEGER, model VARCHAR, vector FLOAT[])")
    con.execute(
        "INSERT INTO e VALUES ('a', 1, 'm', [1, 1]), ('a', 1, 'other', [9, 9]), "
        "('b', 2, 'm', [2, 2]), ('c', 1, 'm', [3, 3])"
    )
    ids = dict(con.execute("SELECT doc_id, rowid FROM e WHERE model = 'm'").fetchall())
    rows = [(ids["c"], "c", 1), (ids["a"], "a", 1), (ids["b"], "b", 2)]
    by_key = ("AND x.model = ?", ["m"])
    assert vectors_at(con, "e", rows, *by_key).tolist() == [[3, 3], [1, 1], [2, 2]]
    moved = [(ids["b"], "c", 1), (ids["c"], "a", 1), (ids["a"], "b", 2)]  # ids of other rows
    got = vectors_at(con, "e", moved, *by_key)
    assert got.dtype == np.float32 and got.tolist() == [[3, 3], [1, 1], [2, 2]]
    assert vectors_at(con, "e", [], *by_key).shape == (0, 0)
    with pytest.raises(LookupError, match="1 vectors of e went missing"):
        vectors_at(con, "e", [(ids["a"], "gone", 1)], *by_key)
    con.close()
