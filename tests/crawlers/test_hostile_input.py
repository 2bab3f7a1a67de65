"""Hostile values inside well-formed answers (a date past the calendar's end, ...): the value
is taken for what it is worth, and the rest of the source's answers are crawled as usual."""

from crawlers.demo import render
from tests.crawlers.test_spiders import PARA, article, crawl, rows, sources_file


def test_a_wordpress_post_modified_in_the_year_9999_loses_no_other_post(tmp_path, local_site):
    """One post of a WordPress API page says it was modified at 9999-12-31T23:59:59. The
    page's other posts, that post and the source's feed are crawled; before, a second past
    that time overflowed in the API callback: the source stored nothing, its feed was never
    read, and the crawl said "ok ... nothing new: no source listed a page to fetch"."""
    site = local_site({f"/n/{i}": ("text/html; charset=utf-8", article(f"Статья {i}"), {})
                       for i in range(2)})  # fmt: skip
    b = site.base
    dates = ["2026-10-01T10:00:00", "9999-12-31T23:59:59", "2026-10-02T10:00:00"]
    site.server.RequestHandlerClass.wp_posts = [
        render.wp_rest_post(
            i, f"{b}/p/{i}", {"date": d, "slug": f"p{i}", "title": f"Пост {i}"}, [PARA * 3]
        )  # fmt: skip
        for i, d in enumerate(dates)
    ]
    items = [{"title": p, "url": b + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/n/0", "/n/1")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=b, items=items).encode(), {})  # fmt: skip
    out = crawl(
        tmp_path, sources_file(tmp_path, home=b + "/", wordpress=True, feeds=[b + "/feed/"])
    )
    assert "5 new" in out
    assert sorted(u.removeprefix(b) for (u,) in rows(tmp_path, "SELECT url FROM document_versions")) == [
        "/n/0", "/n/1", "/p/0", "/p/1", "/p/2"]  # fmt: skip


def test_a_warc_record_dated_past_the_year_9999_is_imported_with_a_readable_date(tmp_path):
    """An archive's record says WARC-Date 9999-12-31T23:59:59-23:00: the year 10000 in UTC,
    which DuckDB stores but Python cannot read back. Imported beside two good records, it
    takes the import's time, as a missing date does; before, the dashboard's overview
    answered 500 (TypeError) and `process` failed twice at dedup on its batch (all three
    documents) before giving that record up."""
    import io
    from datetime import UTC, datetime, timedelta

    from starlette.testclient import TestClient
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from dashboards.app import create_app
    from tests.conftest import run_cli

    warc = tmp_path / "dated.warc.gz"
    with open(warc, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for name, date in (("ok1", None), ("future", "9999-12-31T23:59:59-23:00"), ("ok2", None)):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")  # fmt: skip
            writer.write_record(writer.create_warc_record(
                f"https://w.example/{name}", "response", http_headers=http,
                payload=io.BytesIO(article(name).replace(b"\n", b" ")),
                warc_headers_dict={"WARC-Date": date} if date else None))  # fmt: skip
    db = tmp_path / "n.duckdb"
    assert "3 new" in run_cli("import", str(warc), db=db).stdout
    fetched = dict(rows(tmp_path, "SELECT url, fetched_at FROM document_versions"))
    now = datetime.now(UTC)
    assert all(now - timedelta(minutes=5) < at <= now for at in fetched.values()), fetched
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        assert client.get("/").status_code == 200


def refresh_to(path: str) -> tuple[str, bytes, dict]:
    page = f'<html><head><meta http-equiv="refresh" content="0;url={path}"></head></html>'
    return "text/html", page.encode(), {}


def test_meta_refresh_loops_are_cut_and_recorded(tmp_path, local_site):
    """A feed lists a page that refreshes (``<meta http-equiv="refresh">``) to itself, one of
    two that refresh to each other, and one that refreshes to an article. The loops are
    recorded as ``redirect_loop``, as HTTP redirect loops are, and the article is stored;
    before, the duplicate filter dropped the looping pages' last request silently: no page,
    no rejection, "0 rejected"."""
    routes = {"/self": refresh_to("/self"), "/r1": refresh_to("/r2"), "/r2": refresh_to("/r1"),
              "/m": refresh_to("/target"), "/target": ("text/html", article("Цель"), {})}  # fmt: skip
    site = local_site(routes)
    b = site.base
    items = [{"title": p, "url": b + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/self", "/r1", "/m")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=b, items=items).encode(), {})  # fmt: skip
    out = crawl(tmp_path, sources_file(tmp_path, home=b + "/", feeds=[b + "/feed/"]))
    assert "1 new" in out and "redirect_loop 2" in out
    assert rows(tmp_path, "SELECT url FROM document_versions") == [(b + "/target",)]
    assert sorted(rows(tmp_path, "SELECT reason, url FROM rejections")) == [
        ("redirect_loop", b + "/r2"), ("redirect_loop", b + "/self")]  # fmt: skip


def test_a_sites_escape_sequences_reach_no_terminal_through_a_warning(tmp_path, local_site):
    """A feed served with a Content-Type that holds terminal escape sequences (clear the
    screen, set the window title): feedparser's complaint quotes it, and the crawl's warning
    on stderr shows it escaped; before, the raw sequences reached the operator's terminal."""
    from tests.conftest import run_cli
    from tests.crawlers.test_spiders import FAST

    site = local_site({"/ok": ("text/html", article("Обычная"), {})})
    b = site.base
    items = [{"title": "ok", "url": b + "/ok", "date": "2026-10-01T10:00:00+00:00", "summary": "s"}]
    feed = render.rss(title="t", link=b, items=items).encode()
    site.routes["/feed/"] = ("\x1b[2J\x1b]0;pwned\x07text/plain", feed, {})
    (tmp_path / "narrascope.toml").write_text(FAST)
    sources = sources_file(tmp_path, home=b + "/", feeds=[b + "/feed/"])
    run = run_cli("--config", str(tmp_path / "narrascope.toml"), "crawl", "--sources", sources,
                  db=tmp_path / "n.duckdb")  # fmt: skip
    assert "1 new" in run.stdout
    assert "\\x1b[2J\\x1b]0;pwned\\x07text/plain is not an XML media type" in run.stderr
    assert not any(c in run.stderr for c in "\x1b\x07"), run.stderr
