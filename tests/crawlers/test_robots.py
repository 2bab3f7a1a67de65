"""robots.txt: obeyed unless the source overrides it, its groups matched against our product
token, and the pages it disallows no charge on a source's page budget (moved from
test_safety.py)."""

import pytest

from crawlers.demo import render
from crawlers.runner import scrapy_settings
from tests.crawlers.test_spiders import article, crawl, rows, sources_file


def private_and_open(local_site, robots: bytes):
    """A site with this robots.txt, two articles (/private/a, /open/b) and a feed of both."""
    site = local_site({
        "/robots.txt": ("text/plain", robots, {}),
        "/private/a": ("text/html", article("Закрытая"), {}),
        "/open/b": ("text/html", article("Открытая"), {}),
    })  # fmt: skip
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/private/a", "/open/b")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    return site


def test_robots_txt_is_obeyed_unless_the_source_overrides_it(tmp_path, local_site):
    site = private_and_open(local_site, b"User-agent: *\nDisallow: /private/\n")
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    out = crawl(tmp_path, sources)
    assert "1 new" in out and "robots_txt 1" in out
    override = tmp_path / "override"
    override.mkdir()
    sources = sources_file(override, home=site.base + "/", feeds=[site.base + "/feed/"],
                           obey_robots=False)  # fmt: skip
    assert "2 new" in crawl(override, sources)
    # the other way round: a source that asks to obey robots.txt when [crawl] says not to
    # (scrapy's middleware was off altogether, so it did not; found by a helper's review)
    opt_in = tmp_path / "opt_in"
    opt_in.mkdir()
    sources = sources_file(opt_in, home=site.base + "/", feeds=[site.base + "/feed/"],
                           obey_robots=True)  # fmt: skip
    out = crawl(opt_in, sources, "obey_robots = false\n")
    assert "1 new" in out and "robots_txt 1" in out
    by_default = tmp_path / "by_default"
    by_default.mkdir()
    sources = sources_file(by_default, home=site.base + "/", feeds=[site.base + "/feed/"])
    assert "2 new" in crawl(by_default, sources, "obey_robots = false\n")


def test_robots_txt_groups_match_our_product_token_not_words_of_our_user_agent(
    tmp_path, local_site
):
    """A robots.txt group for another crawler named by a word that happens to be in our
    User-Agent string ("...; research crawler)"): scrapy matched groups against the whole
    string, so that group (allowing everything) won over "*" and /private/ was fetched."""
    robots = b"User-agent: *\nDisallow: /private/\n\nUser-agent: crawler\nAllow: /\n"
    site = private_and_open(local_site, robots)
    log = site.server.RequestHandlerClass.log = []
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    out = crawl(tmp_path, sources)
    assert "1 new" in out and "robots_txt 1" in out, out
    assert "/private/a" not in [p for p, _ in log]
    crawl_table = {"user_agent": "Acme-Monitor/2.0 (research crawler)", "contact_url": "x"}
    agent = scrapy_settings("x.duckdb", "r", crawl_table)["ROBOTSTXT_USER_AGENT"]
    assert agent == "Acme-Monitor/2.0"
    agent = scrapy_settings("x.duckdb", "r", {})["ROBOTSTXT_USER_AGENT"]
    assert agent == "narrascope/0.1"  # a group for "narrascope" or "narrascope/0.1" applies
    from scrapy.robotstxt import ProtegoRobotParser

    for group in ("narrascope", "NarraScope", "narrascope/0.1"):
        robots = f"User-agent: *\nAllow: /\n\nUser-agent: {group}\nDisallow: /\n".encode()
        assert not ProtegoRobotParser(robots, None).allowed("http://h/a", agent), group


def test_pages_robots_txt_disallows_cost_no_page_budget(tmp_path, local_site):
    """A feed naming three pages that robots.txt disallows before three it allows, with a
    budget of three pages: the refused pages spent it, and having no crawl state they came
    first again on every run, so the allowed pages were never asked for (0 new, run after
    run, and nothing recorded about them)."""
    paths = [f"/private/{i}" for i in range(3)] + [f"/open/{i}" for i in range(3)]
    site = local_site({p: ("text/html", article(f"Статья {p}"), {}) for p in paths})
    site.routes["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /private/\n", {})
    log = site.server.RequestHandlerClass.log = []
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in paths]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"],
                           max_pages=3)  # fmt: skip
    out = crawl(tmp_path, sources)
    assert "3 new" in out and "robots_txt 3" in out, out
    assert sorted(p for p, _ in log) == ["/feed/", "/open/0", "/open/1", "/open/2", "/robots.txt"]
    refused = rows(tmp_path, "SELECT url FROM rejections WHERE reason = 'robots_txt'")
    assert sorted(url for (url,) in refused) == [site.base + p for p in paths[:3]]


@pytest.mark.parametrize(
    "status,fetched",
    [("404", {"/feed/", "/private/a", "/open/b"}), ("503", set()), ("429", set())],
)
def test_a_robots_txt_that_answers_an_error_is_read_as_rfc_9309_says(
    tmp_path, local_site, status, fetched
):
    """RFC 9309 2.3.1: a robots.txt that is "unavailable" (4xx) allows everything, whatever
    its error page says; one that is "unreachable" (5xx; and 429, as Google reads it)
    disallows the whole site. scrapy read the body of either answer as the file: an error
    page with no rules allowed everything, a 404 page with rules was obeyed."""
    site = private_and_open(local_site, b"User-agent: *\nDisallow: /\n")
    site.routes["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /\n", {"Status": status})
    if status != "404":  # an error page that says nothing about robots
        site.routes["/robots.txt"] = ("text/html", b"<h1>Busy</h1>", {"Status": status})
    log = site.server.RequestHandlerClass.log = []
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    out = crawl(tmp_path, sources)
    assert {p for p, _ in log} - {"/robots.txt"} == fetched, out
    if status == "404":
        assert "2 new" in out and "robots_txt" not in out, out
    else:
        assert "0 new" in out and "robots_txt 1" in out, out
        [(detail,)] = rows(tmp_path, "SELECT detail FROM rejections WHERE reason = 'robots_txt'")
        assert detail.endswith(f"robots.txt answered HTTP {status} (RFC 9309)"), detail
