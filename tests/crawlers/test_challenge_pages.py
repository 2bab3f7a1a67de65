"""A site that starts answering with challenge or block pages: its source's health says so."""

from pathlib import Path

from crawlers.demo.render import mirror_page, rss
from crawlers.demo.server import load_articles, paragraphs
from storage import connect
from storage.health import latest_health
from tests.conftest import run_cli
from tests.crawlers.test_crawl import FAST, write_sources

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notnews"


def mirror_site(tmp_path, local_site, stages: list[str], encoding: str = "utf-8"):
    """Three of the demo mirror's articles behind a feed on a local site, and the `run`
    command that crawls and processes it with ``stages``: (routes, paths, db, run)."""
    articles = [a for a in load_articles() if a["site"] == "mirror"][:3]
    pages = {
        f"/news/{a['slug']}.html": mirror_page(
            title=a["title"], paragraphs=paragraphs(a), date=a["date"], lang=a["lang"]
        ).encode(encoding, errors="xmlcharrefreplace")
        for a in articles
    }
    charset = {"utf-8": "UTF-8", "cp1251": "windows-1251"}[encoding]
    routes = {path: (f"text/html; charset={charset}", body, {}) for path, body in pages.items()}
    site = local_site(routes)
    items = [{"title": a["title"], "url": f"{site.base}{path}", "date": a["date"], "summary": "s"}
             for a, path in zip(articles, pages, strict=True)]  # fmt: skip
    routes["/feed/"] = ("application/rss+xml", rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    config = tmp_path / "narrascope.toml"
    config.write_text(FAST + f"[pipeline]\nstages = {stages!r}\n".replace("'", '"'))
    db, sources = tmp_path / "n.duckdb", write_sources(tmp_path, site.base)
    return routes, list(pages), db, ("--config", str(config), "run", "--sources", str(sources))


def serve_stub(routes, pages, db, run, title: str, text: str, lang: str):
    """Every article's address now serves one stub page; the next run's output, the
    source's health and the rejections."""
    stub = mirror_page(title=title, paragraphs=[text], date="2026-10-01", lang=lang).encode()
    for path in pages:
        routes[path] = ("text/html; charset=UTF-8", stub, {})
    out = run_cli(*run, db=db).stdout
    with connect(db, read_only=True) as con:
        health = latest_health(con)["local"]
        reasons = con.execute("SELECT stage, reason, detail FROM v_rejections").fetchall()
    return out, health, reasons


def test_a_site_answering_with_challenge_pages_needs_attention(tmp_path, local_site):
    routes, pages, db, run = mirror_site(tmp_path, local_site, ["extract"], "cp1251")
    first = run_cli(*run, db=db).stdout
    assert "source needs attention" not in first
    # the site now puts a bot check in front of every article, with status 200
    for path in pages:
        routes[path] = (
            "text/html; charset=UTF-8",
            (FIXTURES / "challenge-en-cloudflare.html").read_bytes(),
            {},
        )
    second = run_cli(*run, db=db).stdout
    assert "source needs attention: local: pages are challenge or block pages (3 of 3)" in second
    with connect(db, read_only=True) as con:
        health = latest_health(con)["local"]
        reasons = con.execute(
            "SELECT reason, detail FROM v_rejections WHERE stage = 'extract'"
        ).fetchall()
    assert (health["stored"], health["not_news"], health["not_news_kind"]) == (3, 3, "challenge")
    assert health["extraction_failures"] == 0  # the pages extracted: they are just not news
    assert {(r, d.split(",")[0]) for r, d in reasons} == {
        ("not_news", "challenge: rule cloudflare")
    }
    # the same --config and --sources as the run's
    listed = run_cli(*run[:2], "sources", "list", *run[3:], db=db)
    assert "NEEDS ATTENTION: pages are challenge or block pages (3 of 3)" in listed.stdout
    # then it blocks them with HTTP 403: nothing is stored, and the refused requests count
    blocked = (FIXTURES / "block-en-cloudflare.html").read_bytes()
    for path in pages:
        routes[path] = ("text/html; charset=UTF-8", blocked, {"Status": "403"})
    third = run_cli(*run, db=db).stdout
    assert "rejected: fetch_error 3" in third
    assert "source needs attention: local: most fetches failed" in third


def test_a_stub_worded_as_no_rule_knows_shows_in_health_through_the_embed_stage(
    tmp_path, local_site
):
    """The same, with a stub page the extract stage's rules keep (a Dutch rate-limit notice):
    the embed stage rejects it by its lead vector, and source health counts it."""
    from tests.pipeline.test_stubvectors import STUBS

    routes, pages, db, run = mirror_site(tmp_path, local_site, ["extract", "embed"])
    assert "source needs attention" not in run_cli(*run, db=db).stdout

    second, health, reasons = serve_stub(routes, pages, db, run, *STUBS["nl-ratelimit"], "nl")
    assert "source needs attention: local: pages are challenge or block pages (3 of 3)" in second
    assert (health["stored"], health["not_news"], health["extraction_failures"]) == (3, 3, 0)
    assert {(s, r, d.split(";")[0]) for s, r, d in reasons} == {
        ("embed", "not_news", f"{health['not_news_kind']}: rule vectors")
    }


def test_a_challenge_page_in_wording_nobody_knows_shows_in_health_through_the_dedup_stage(
    tmp_path, local_site
):
    """The same, with a bot check that neither the rules nor (without embedding) the vectors
    know: the site serves one short text at every address, and the dedup stage rejects it as
    the site's boilerplate."""
    routes, pages, db, run = mirror_site(tmp_path, local_site, ["extract", "langid", "dedup"])
    config = tmp_path / "narrascope.toml"
    config.write_text(config.read_text() + "[dedup]\ntranslated = false\n")
    assert "source needs attention" not in run_cli(*run, db=db).stdout

    text = "Запрос принят узлом «Щит-7». Страница откроется после короткой паузы. Код сеанса 7731."
    second, health, reasons = serve_stub(routes, pages, db, run, "Щит-7", text, "ru")
    assert "source needs attention: local: pages are not news (3 of 3)" in second
    assert (health["stored"], health["not_news"], health["not_news_kind"]) == (3, 3, "boilerplate")
    assert {(s, r, d.split(";")[0]) for s, r, d in reasons} == {
        ("dedup", "not_news", "boilerplate: rule site-repeat")
    }
