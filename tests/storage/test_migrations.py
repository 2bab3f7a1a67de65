import duckdb
import pytest

from storage import SchemaTooNewError, connect
from storage.db import migrate, schema_version
from storage.migrations import LATEST_VERSION, MIGRATIONS
from tests.conftest import run_cli


def test_init_creates_the_latest_schema(tmp_path):
    db = tmp_path / "n.duckdb"
    out = run_cli("init", db=db).stdout
    assert f"schema version {LATEST_VERSION}" in out
    with connect(db, read_only=True) as con:
        assert schema_version(con) == LATEST_VERSION
        con.execute(
            "SELECT doc_id, url, source, title, author, published_at, first_seen_at, lang, "
            "lang_confidence, text FROM v_documents"
        ).fetchall()


def test_older_database_is_migrated_and_keeps_its_data(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:1])  # a database written by the first release
    con.execute("INSERT INTO documents VALUES ('d1', 'https://a.example/x', 's', now(), now(), 1)")
    con.close()
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        con.execute("SELECT * FROM v_rejections").fetchall()  # added by migration 2


def test_newer_database_is_refused_clearly(tmp_path):
    db = tmp_path / "new.duckdb"
    with connect(db) as con:
        con.execute("INSERT INTO schema_version VALUES (999, now())")
    with pytest.raises(SchemaTooNewError, match="upgrade narrascope"):
        with connect(db):
            pass
    proc = run_cli("status", db=db, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: database schema is version 999")
    assert "Traceback" not in proc.stderr


def test_read_only_commands_migrate_an_older_database_first(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:1])
    con.close()
    out = run_cli("sql", "SELECT count(*) AS n FROM v_rejections", "--format", "csv", db=db).stdout
    assert out.strip() == "n\n0"


def test_terms_move_to_one_row_a_document_and_read_as_before(tmp_path):
    """Schema 18: doc_terms (a row per term) becomes doc_term_lists (a row per document),
    read through a view of the old name; a later write replaces a document's terms whole."""
    db = tmp_path / "17.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 17])
    con.execute("INSERT INTO doc_terms VALUES ('d1', 'ceasefire', 3), ('d1', 'guarantee', 1), "
                "('d2', 'перемирие', 2)")  # fmt: skip
    con.close()
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        assert con.execute("SELECT doc_id, term, n FROM doc_terms ORDER BY 1, 2").fetchall() == [
            ("d1", "ceasefire", 3), ("d1", "guarantee", 1), ("d2", "перемирие", 2)
        ]  # fmt: skip
        assert con.execute(
            "SELECT terms[1].term FROM doc_term_lists WHERE doc_id = 'd1'"
        ).fetchone() == ("ceasefire",)
        con.execute(
            "INSERT OR REPLACE INTO doc_term_lists VALUES ('d1', [{'term': 'truce', 'n': 1}])"
        )
        assert con.execute("SELECT term FROM doc_terms WHERE doc_id = 'd1'").fetchall() == [
            ("truce",)
        ]
