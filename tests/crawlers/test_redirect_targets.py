"""Listed addresses that redirect to a page the same run also asks for (found by the seeded
check of incremental crawls, tests/crawlers/test_incremental_random.py)."""

import json

import pytest

from crawlers.demo import render
from tests.crawlers.test_incremental_kinds import HTML, crawl, page, write_sources
from tests.crawlers.test_spiders import rows


@pytest.mark.parametrize("order", ["target first", "redirect first"])
def test_a_page_that_a_listed_address_redirects_to_is_fetched_once_a_run(
    tmp_path, local_site, order
):
    """A sitemap lists /p/1 and /p/2, and /p/2 now redirects to /p/1 (two addresses merged):
    redirect targets bypassed the duplicate filter, and the listing did not know the target
    was asked for, so /p/1 was fetched twice in the run, archived twice and counted twice in
    the summary (1 new and 1 unchanged for one page)."""
    site = local_site({})
    b = site.base
    log = site.server.RequestHandlerClass.log = []
    site.routes["/p/1"] = (HTML, page("P1"), {})
    site.routes["/p/2"] = (HTML, b"", {"Status": "301", "Location": f"{b}/p/1"})
    urls = [(f"{b}/p/1", "2026-10-01"), (f"{b}/p/2", "2026-10-01")]
    if order == "redirect first":
        urls.reverse()
    site.routes["/sitemap.xml"] = ("application/xml", render_sitemap(urls), {})
    sources = write_sources(tmp_path, {"home": b + "/", "sitemaps": [b + "/sitemap.xml"]})
    crawl(tmp_path, sources, "concurrent_per_domain = 1\n")
    assert [p for p, _ in log].count("/p/1") == 1, log
    [(summary,)] = rows(tmp_path, "SELECT summary FROM runs WHERE kind = 'crawl'")
    summary = json.loads(summary)
    assert (summary["new"], summary["unchanged"]) == (1, 0), summary
    log.clear()  # the next run knows both addresses: the sitemap's dates skip them
    crawl(tmp_path, sources, "concurrent_per_domain = 1\n")
    assert [p for p, _ in log if p.startswith("/p/")] == [], log


def render_sitemap(urls) -> bytes:
    return render.sitemap(urls).encode()


def test_a_listed_page_moved_to_an_address_with_the_same_etag_is_fetched_there(
    tmp_path, local_site
):
    """ETags are the server's per address (here revision numbers, as many CMSs send): a
    sitemap's page, fetched once with ETag "1", moves to another address whose page also has
    revision "1". The redirect was followed with the first address's If-None-Match, the new
    address answered 304, and its page was never stored (the next runs skip the listed
    address by its lastmod)."""
    site = local_site({})
    b = site.base
    log = site.server.RequestHandlerClass.log = []
    site.routes["/p/1"] = (HTML, page("P1"), {"ETag": '"1"'})
    listed = [(f"{b}/p/1", "2026-10-01")]
    site.routes["/sitemap.xml"] = ("application/xml", render_sitemap(listed), {})
    sources = write_sources(tmp_path, {"home": b + "/", "sitemaps": [b + "/sitemap.xml"]})
    crawl(tmp_path, sources)
    site.routes["/p/1"] = (HTML, b"", {"Status": "301", "Location": f"{b}/posts/2"})
    site.routes["/posts/2"] = (HTML, page("P2"), {"ETag": '"1"'})
    listed = [(f"{b}/p/1", "2030-01-01")]  # changed since
    site.routes["/sitemap.xml"] = ("application/xml", render_sitemap(listed), {})
    crawl(tmp_path, sources)
    assert ("/posts/2", 200) in log, log
    urls = {u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")}
    assert urls == {f"{b}/p/1", f"{b}/posts/2"}, urls
