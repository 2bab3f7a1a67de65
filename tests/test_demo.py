"""`narrascope demo` end to end: serve, crawl, process and summarise, offline."""

import json

from storage import connect
from tests.conftest import run_cli


def test_demo_end_to_end(tmp_path):
    db = tmp_path / "demo.duckdb"
    proc = run_cli("demo", "--db", str(db), cwd=tmp_path)
    assert "crawled 3 demo sites: 41 documents, 0 rejected" in proc.stdout
    assert "Next, try:" in proc.stdout
    with connect(db, read_only=True) as con:
        langs = dict(con.execute("SELECT lang, count(*) FROM v_documents GROUP BY 1").fetchall())
        oped = con.execute(
            "SELECT text, lang FROM v_documents WHERE source = 'demo-wp' AND lang = 'en'"
        ).fetchall()
        cp1251 = con.execute(
            "SELECT text FROM v_documents WHERE title = 'Перемирие, которого не хочет Брюссель'"
        ).fetchone()
        encodings = {
            e for (e,) in con.execute("SELECT DISTINCT encoding FROM document_versions").fetchall()
        }
    assert sum(langs.values()) == 41
    assert {"ru", "uk", "de", "en"} <= set(langs)
    assert len(oped) == 1
    text = oped[0][0]
    assert text.rstrip().endswith("showing how the talks could unfold?")
    assert "Добавить комментарий" not in text and "Ваш адрес email" not in text
    assert "Каждую неделю звучат новые разговоры" in cp1251[0]
    assert "cp1251" in encodings
    # nothing left to do, and status says so
    again = run_cli("process", "--no-progress", db=db).stdout
    assert "extract v1: 0 done" in again
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert status["documents"] == 41 and status["backlog"] == {"extract": 0, "langid": 0}


def test_demo_never_deletes_a_database_holding_other_sources(tmp_path):
    db = tmp_path / "ops.duckdb"
    src = tmp_path / "a.jsonl"
    src.write_text(
        json.dumps({"url": "https://ops.example/1", "text": "x", "source": "ops"}) + "\n"
    )
    run_cli("import", str(src), db=db)
    proc = run_cli("demo", "--db", str(db), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "holds documents of other sources (ops)" in proc.stderr
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
