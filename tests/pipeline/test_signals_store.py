"""The signals stage in a real store: a database from before the stage gets it run on its
documents, v_documents and v_signal_share show the decisions."""

import duckdb

from storage import connect
from storage.db import migrate, schema_version
from storage.migrations import LATEST_VERSION, MIGRATIONS
from tests.conftest import import_jsonl, run_cli

OFFER = "Would you like me to tailor this piece to a specific audience?"
DOCS = [
    {"url": "https://farm.example/1", "lang": "en", "published_at": "2026-10-05T08:00:00Z",
     "text": "The council approved the budget after a long debate.\n\n" * 3 + OFFER},
    {"url": "https://farm.example/2", "lang": "en", "published_at": "2026-10-06T08:00:00Z",
     "text": "The harbour swim raised money for the lifeboat station.\n\n" * 3
     + "Would you like to subscribe to our newsletter?"},
    {"url": "https://farm.example/3", "lang": "ru", "published_at": "2026-10-13T08:00:00Z",
     "text": "Конечно! Вот статья о новом мосте:\n\n"
     + "Мост через реку открыли в понедельник утром, движение пустили по четырём полосам. " * 3},
]  # fmt: skip


def test_an_older_database_gets_the_new_columns_and_views(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:-1])  # the schema before the signals stage
    con.execute("INSERT INTO documents VALUES ('d1', 'https://a.example/x', 's', now(), now(), 1)")
    con.close()
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM v_signal_share").fetchone()[0] == 0


def test_documents_processed_before_the_stage_get_it_on_the_next_run(tmp_path):
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, DOCS)
    before = tmp_path / "before.toml"
    before.write_text('[pipeline]\nstages = ["extract", "langid"]\n')
    run_cli("--config", str(before), "process", "--no-progress", db=db)
    with connect(db, read_only=True) as con:
        assert (
            con.execute("SELECT count(*) FROM v_documents WHERE signals IS NULL").fetchone()[0] == 3
        )
    after = tmp_path / "after.toml"
    after.write_text('[pipeline]\nstages = ["extract", "langid", "signals"]\n')
    out = run_cli("--config", str(after), "process", "--no-progress", db=db).stdout
    assert "signals v1." in out and ": 3 done" in out and "2 machine written" in out, out
    again = run_cli("--config", str(after), "process", "--no-progress", db=db).stdout
    assert "signals v1." in again and ": 0 done" in again.split("signals")[1]  # nothing pending
    with connect(db, read_only=True) as con:
        docs = con.execute(
            "SELECT url, signals, signal_score, machine_written FROM v_documents ORDER BY url"
        ).fetchall()
        share = con.execute(
            "SELECT source_id, source, week, documents, flagged, machine_written, flagged_share, "
            "machine_written_share FROM v_signal_share ORDER BY week"
        ).fetchall()
        hits = con.execute("SELECT count(*) FROM signal_hits").fetchone()[0]
    assert docs == [
        ("https://farm.example/1", ["offer-en"], 1.0, True),
        ("https://farm.example/2", [], 0.0, False),
        ("https://farm.example/3", ["preamble-ru"], 1.0, True),
    ]
    assert hits == 2
    assert [(str(w), n, f, m) for _, _, w, n, f, m, _, _ in share] == [
        ("2026-10-05", 2, 1, 1),
        ("2026-10-12", 1, 1, 1),
    ]
    assert share[0][6:] == (0.5, 0.5)
