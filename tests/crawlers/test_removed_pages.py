"""Listed pages that answer 404 or 410 (found by a probe written beside the seeded check of
incremental crawls, tests/crawlers/test_incremental_random.py)."""

import pytest

from crawlers.demo import render
from tests.crawlers.test_incremental_kinds import HTML, crawl, page, stored, write_sources
from tests.crawlers.test_spiders import rows


@pytest.mark.parametrize("broken", ["404, 410", "503, 500", "timeout, 403"])
def test_removed_pages_a_feed_still_lists_do_not_hold_the_budget_for_ever(
    tmp_path, local_site, broken
):
    """An RSS feed lists two removed posts (404, 410) or two broken ones (503, 500, after
    their retries; one that times out and one answering 403) ahead of three live ones, with a
    budget of two pages: a failed fetch kept no crawl state, so those posts were pages never
    fetched on every run, asked for first, and the live ones were never read. Now a 404 or
    410 is recorded in the crawl state (kind ``gone``), a server error too (kind ``failed``,
    since 2026-12-06), any other failure as well (since 2026-12-07), and the page is asked
    for again in turn with the pages fetched before."""
    site = local_site({})
    b = site.base
    log = site.server.RequestHandlerClass.log = []
    paths = ["/gone/1", "/gone/2", "/p/1", "/p/2", "/p/3"]
    items = [{"title": p, "url": b + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in paths]  # fmt: skip
    for i in (1, 2, 3):
        site.routes[f"/p/{i}"] = (HTML, page(f"P{i}"), {})
    first, second = broken.split(", ")
    if first == "timeout":  # answered after the crawl's timeout of one second
        site.routes["/gone/1"] = (HTML, page("Late"), {"Delay": "2"})
    elif first != "404":  # /gone/1: no route, 404
        site.routes["/gone/1"] = (HTML, b"broken", {"Status": first})
    site.routes["/gone/2"] = (HTML, b"gone", {"Status": second})
    site.routes["/feed.xml"] = ("application/rss+xml",
                                render.rss(title="t", link=b + "/", items=items).encode(), {})  # fmt: skip
    sources = write_sources(tmp_path, {"home": b + "/", "feeds": [b + "/feed.xml"],
                                       "max_pages": 2})  # fmt: skip
    asked = []
    for _ in range(4):
        log.clear()
        crawl(tmp_path, sources, "timeout = 1\n")
        asked.append([p for p, _ in log if p in paths])
    assert stored(tmp_path) == {b + p for p in paths[2:]}, asked


def test_a_stored_page_removed_and_edited_back_is_read_again(tmp_path, local_site):
    """A sitemap page, stored, answers 404 for a run (its lastmod moved: it was being
    edited), then comes back edited under that lastmod: the failed fetch is recorded
    (kind ``gone``) but does not make the listing's date skip the page."""
    site = local_site({})
    b = site.base
    site.routes["/p/1"] = (HTML, page("P1", 0), {})
    site.routes["/sitemap.xml"] = ("application/xml",
                                   render.sitemap([(f"{b}/p/1", "2026-10-01")]).encode(), {})  # fmt: skip
    sources = write_sources(tmp_path, {"home": b + "/", "sitemaps": [b + "/sitemap.xml"]})
    crawl(tmp_path, sources)
    del site.routes["/p/1"]
    site.routes["/sitemap.xml"] = ("application/xml",
                                   render.sitemap([(f"{b}/p/1", "2030-01-01")]).encode(), {})  # fmt: skip
    crawl(tmp_path, sources)  # 404
    site.routes["/p/1"] = (HTML, page("P1", 1), {})
    crawl(tmp_path, sources)
    versions = rows(tmp_path, "SELECT count(*) FROM document_versions")[0][0]
    assert versions == 2
    kinds = rows(tmp_path, "SELECT kind FROM crawl_state WHERE url LIKE '%/p/1'")
    assert kinds == [("page",)]
