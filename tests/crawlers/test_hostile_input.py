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
        render.wp_rest_post(i, f"{b}/p/{i}", {"date": d, "slug": f"p{i}", "title": f"Пост {i}"},
                            [PARA * 3])  # fmt: skip
        for i, d in enumerate(dates)
    ]
    items = [{"title": p, "url": b + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/n/0", "/n/1")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=b, items=items).encode(), {})  # fmt: skip
    out = crawl(tmp_path, sources_file(tmp_path, home=b + "/", wordpress=True, feeds=[b + "/feed/"]))
    assert "5 new" in out
    assert sorted(u.removeprefix(b) for (u,) in rows(tmp_path, "SELECT url FROM document_versions")) == [
        "/n/0", "/n/1", "/p/0", "/p/1", "/p/2"]  # fmt: skip
