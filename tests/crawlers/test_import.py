import json

from storage import connect
from tests.conftest import run_cli


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_reports_malformed_lines_and_keeps_the_rest(tmp_path):
    db = tmp_path / "n.duckdb"
    src = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            json.dumps(
                {"url": "https://a.example/1", "text": "Первый текст о переговорах.", "lang": "ru"}
            ),
            "{not json",
            json.dumps(
                {
                    "url": "https://a.example/2",
                    "html": "<html><body><p>Second</p></body></html>",
                    "title": "Second",
                    "published_at": "2026-10-01T10:00:00Z",
                    "source": "corpus",
                }
            ),
            json.dumps({"text": "no url"}),
            json.dumps({"url": "https://a.example/3"}),
            json.dumps({"url": "mailto:x@example.com", "text": "x"}),
            json.dumps(["a", "list"]),
        ],
    )
    proc = run_cli("import", str(src), db=db)
    assert f"{src}:2: skipped: not JSON" in proc.stderr
    assert f"{src}:4: skipped: missing 'url'" in proc.stderr
    assert f"{src}:5: skipped: needs 'html' or 'text'" in proc.stderr
    assert f"{src}:6: skipped:" in proc.stderr
    assert f"{src}:7: skipped: not a JSON object" in proc.stderr
    assert "imported 2 of 7 lines: 2 new" in proc.stdout
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT url, source, title FROM v_documents ORDER BY url").fetchall()
    assert rows == [
        ("https://a.example/1", None, None),
        ("https://a.example/2", "corpus", "Second"),
    ]


def test_reimport_is_idempotent_and_a_changed_body_is_a_new_version(tmp_path):
    db = tmp_path / "n.duckdb"
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [
            json.dumps({"url": "https://b.example/story/?utm_source=tg", "text": "Original text."}),
        ],
    )
    run_cli("import", str(first), db=db)
    out = run_cli("import", str(first), db=db).stdout
    assert "0 new, 0 changed, 1 unchanged" in out
    # the same page under another spelling of its URL, with a changed body
    changed = write_jsonl(
        tmp_path / "b.jsonl",
        [
            json.dumps({"url": "https://B.example/story#top", "text": "Edited text."}),
        ],
    )
    assert "0 new, 1 changed" in run_cli("import", str(changed), db=db).stdout
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        versions = con.execute(
            "SELECT version, text FROM document_versions ORDER BY version"
        ).fetchall()
    assert versions == [(1, "Original text."), (2, "Edited text.")]
    run_cli("process", "--no-progress", db=db)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT version, text FROM v_documents").fetchall() == [
            (2, "Edited text.")
        ]


def test_oversized_document_is_rejected_with_a_reason(tmp_path):
    db = tmp_path / "n.duckdb"
    config = tmp_path / "narrascope.toml"
    config.write_text("[crawl]\nmax_bytes = 1000\n")
    src = write_jsonl(
        tmp_path / "big.jsonl",
        [
            json.dumps({"url": "https://c.example/big", "html": "<p>" + "x" * 5000 + "</p>"}),
            json.dumps({"url": "https://c.example/small", "text": "small enough"}),
        ],
    )
    out = run_cli("--config", str(config), "import", str(src), db=db).stdout
    assert "1 new" in out and "1 rejected" in out
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage, reason, url FROM rejections").fetchall() == [
            ("import", "too_large", "https://c.example/big")
        ]
