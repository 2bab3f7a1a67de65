"""Storing pages: versions, compressed HTML and what stages read back."""

import json
from datetime import UTC, datetime

from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord
from storage.stages import load_inputs
from tests.conftest import run_cli


def page(url: str, html: str) -> PageRecord:
    return PageRecord(url=url, source="s", origin="crawl", fetched_at=datetime.now(UTC), html=html)


def test_html_is_stored_compressed_and_read_back_exactly(tmp_path):
    html = "<html><body><p>Перемирие \U0001f54a " + "слово " * 2000 + "\ud800</p></body></html>"
    with connect(tmp_path / "d.duckdb") as con:
        store_pages(con, [page("https://a.example/1", html)])
        stored, compressed = con.execute(
            "SELECT html, octet_length(html_zlib) FROM document_versions"
        ).fetchone()
        [doc] = load_inputs(con, [(con.execute("SELECT doc_id FROM documents").fetchone()[0], 1)])
    raw = len(html.encode("utf-8", "surrogatepass"))
    assert stored is None and compressed < raw / 5  # about a fifth of the bytes, or less
    assert doc.html == html  # lone surrogates included


def test_versions_stored_before_compression_still_load(tmp_path):
    """A database written before schema 7 keeps its HTML in the `html` column."""
    with connect(tmp_path / "d.duckdb") as con:
        store_pages(con, [page("https://a.example/1", "<p>new</p>")])
        doc_id = con.execute("SELECT doc_id FROM documents").fetchone()[0]
        con.execute(
            "UPDATE document_versions SET html = '<p>old</p>', html_zlib = NULL WHERE doc_id = ?",
            [doc_id],
        )
        [doc] = load_inputs(con, [(doc_id, 1)])
        [no_html] = load_inputs(con, [(doc_id, 1)], with_html=False)
    assert doc.html == "<p>old</p>" and no_html.html is None


def test_analysts_read_stored_html_back_with_inflate_in_sql(tmp_path):
    html = "<html><body><p>Перемирие</p></body></html>"
    db = tmp_path / "d.duckdb"
    with connect(db) as con:
        store_pages(con, [page("https://a.example/1", html), page("https://a.example/2", None)])
    out = run_cli("sql", "SELECT url, inflate(html_zlib) AS html FROM document_versions "
                  "ORDER BY url", "--format", "json", db=db).stdout  # fmt: skip
    assert json.loads(out) == [
        {"url": "https://a.example/1", "html": html},
        {"url": "https://a.example/2", "html": None},
    ]
