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
