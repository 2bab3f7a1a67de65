"""Storing pages: versions, compressed HTML and what stages read back."""

import json
from datetime import UTC, datetime

import pytest

from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord
from storage.stage_inputs import load_inputs
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


POST = """<html><head><title>Перемирие</title><script>var v = "{v}";</script></head><body>
<header class="site-header"><nav><a href="/">Главная</a></nav></header>
<article><header class="entry-header"><h1>{title}</h1></header>
<p>Переговоры о перемирии зашли в тупик.</p><p>{body}</p></article>
<aside id="secondary" class="widget-area"><h2>Свежие записи</h2><ul>{recent}</ul></aside>
<div id="comments" class="comments-area">{comments}</div>
<form id="commentform"><input type="hidden" name="nonce" value="{v}"></form>
<footer class="site-footer">© 2026 · {v}</footer></body></html>"""


def post(title="Тупик", body="Стороны не уступают.", recent=1, comments=0, v="a1") -> str:
    return POST.format(
        title=title, body=body, v=v,
        recent="".join(f"<li><a href='/p/{i}'>Запись {i}</a></li>" for i in range(recent)),
        comments="".join(f"<p>Комментарий {i}</p>" for i in range(comments)),
    )  # fmt: skip


def test_a_page_is_a_new_version_when_its_content_changes_not_its_surroundings(tmp_path):
    url = "https://wp.example/2026/10/peremirie/"
    with connect(tmp_path / "d.duckdb") as con:
        assert store_pages(con, [page(url, post())]).new == 1
        # a new post in the sidebar, two comments, another nonce and cache-buster: the same
        surroundings = post(recent=2, comments=2, v="b2")
        counts = store_pages(con, [page(url, surroundings)])
        assert (counts.unchanged, counts.changed) == (1, 0)
        # the article's text or its title changed: a new version each
        assert store_pages(con, [page(url, post(body="Стороны уступили."))]).changed == 1
        assert store_pages(con, [page(url, post(title="Прорыв", body="Стороны уступили."))]
                           ).changed == 1  # fmt: skip
        versions = con.execute("SELECT count(*) FROM document_versions").fetchone()[0]
    assert versions == 3


def test_versions_stored_before_content_hashes_do_not_all_change_at_the_upgrade(tmp_path):
    """A version whose hash is the raw body's (stored before content hashes) matches the
    same body; a change of its surroundings makes one more version, as it did then, and from
    there the content decides."""
    from storage.documents import raw_hash

    url = "https://wp.example/old/"
    with connect(tmp_path / "d.duckdb") as con:
        store_pages(con, [page(url, post())])
        con.execute("UPDATE document_versions SET content_hash = ?", [raw_hash(page(url, post()))])
        assert store_pages(con, [page(url, post())]).unchanged == 1
        assert store_pages(con, [page(url, post(recent=3))]).changed == 1
        assert store_pages(con, [page(url, post(recent=4))]).unchanged == 1


def test_an_imported_copy_of_a_version_stored_before_content_hashes_is_that_version(tmp_path):
    """An archive's copy of a page's first version, stored before content hashes, imported
    after the page changed: it was a new version (only the current version's hash was read
    the old way), and the old text became the current one again."""
    from storage.documents import raw_hash

    url = "https://wp.example/old/"
    with connect(tmp_path / "d.duckdb") as con:
        store_pages(con, [page(url, post())])
        con.execute("UPDATE document_versions SET content_hash = ?", [raw_hash(page(url, post()))])
        assert store_pages(con, [page(url, post(body="Стороны уступили."))]).changed == 1
        old = PageRecord(url=url, source="s", origin="import", fetched_at=datetime.now(UTC),
                         html=post())  # fmt: skip
        assert store_pages(con, [old]).unchanged == 1
        assert con.execute("SELECT current_version FROM documents").fetchone()[0] == 2


LAYOUTS = {  # where real sites keep the article: inside elements named like page furniture
    "asp.net form": '<form id="aspnetForm"><h1>T</h1><p>{body}</p><div class="sidebar">{r}</div>'
                    "</form>",
    "tagged article": '<article class="post tag-social category-ads"><h1>T</h1><p>{body}</p>'
                      "</article><aside>{r}</aside>",
    "elementor": '<div class="elementor-widget elementor-widget-theme-post-content"><p>{body}'
                 '</p></div><aside class="widget">{r}</aside>',
    "share-enabled": '<h1>T</h1><div class="entry-content share-enabled"><p>{body}</p></div>'
                     '<div class="widget">{r}</div>',
    "has-sidebar": '<div class="container has-sidebar"><main><p>{body}</p></main>'
                   '<div id="sidebar">{r}</div></div>',
    "title in a site header": "<header><h1>{body}</h1></header><div><p>Текст.</p></div>"
                              "<aside>{r}</aside>",
}  # fmt: skip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_changed_article_is_never_taken_for_a_changed_sidebar(layout):
    """Nothing that holds the article is left out of the fingerprint, whatever its name; when
    names would leave out most of the page, its whole text decides."""
    from storage.fingerprint import content_digest

    def digest(body, recent):
        return content_digest(f"<html><body>{LAYOUTS[layout].format(body=body, r=recent)}"
                              "</body></html>")  # fmt: skip

    body = "Переговоры о перемирии зашли в тупик, стороны не уступают друг другу ни в чём."
    assert digest(body, "Запись 1") != digest(body.replace("не уступают", "уступили"), "Запись 1")
