"""How many requests a crawl has in flight at one site, counted at the server: [crawl]
concurrent_requests and concurrent_per_domain both hold, with no download delay too
(crawlers/downloader.py)."""

import pytest

from crawlers.demo.render import sitemap
from crawlers.frontier.crawl import frontier_settings
from crawlers.runner import scrapy_settings
from tests.conftest import run_cli
from tests.support.inflight import counting_site

pytestmark = pytest.mark.slow
FAST = "[crawl]\ndownload_delay = 0\nautothrottle = false\nlog_level = 'ERROR'\n"
PAGES = 12


def crawl_peak(tmp_path, config: str) -> tuple[int, list]:
    """Crawl PAGES pages that each answer after 0.3 s; (most in flight at once, requests)."""
    routes, log = {}, []
    server, base = counting_site(routes, log=log)
    try:
        for i in range(PAGES):
            routes[f"/p/{i}.html"] = ("text/html", f"<p>{i}</p>".encode(), {"Delay": 0.3})
        urls = [(f"{base}/p/{i}.html", "") for i in range(PAGES)]
        routes["/sitemap.xml"] = ("application/xml", sitemap(urls).encode(), {})
        (tmp_path / "s.toml").write_text(
            f'[[source]]\nname = "slow"\nhome = "{base}/"\nsitemaps = ["{base}/sitemap.xml"]\n'
            'allowed_domains = ["127.0.0.1"]\nallow_private = true\ncrawl_delay = 0\n'
        )  # fmt: skip
        (tmp_path / "c.toml").write_text(FAST + config)
        run_cli("--config", str(tmp_path / "c.toml"), "crawl", "--sources",
                str(tmp_path / "s.toml"), db=tmp_path / "c.duckdb")  # fmt: skip
        return server.RequestHandlerClass.peak, log
    finally:
        server.shutdown()
        server.server_close()


def test_concurrent_requests_caps_what_a_site_sees_at_once(tmp_path):
    peak, log = crawl_peak(tmp_path, "concurrent_requests = 2\nconcurrent_per_domain = 4\n")
    assert sum(path.startswith("/p/") for path, _ in log) == PAGES
    assert peak == 2


def test_concurrent_per_domain_caps_a_site(tmp_path):
    """With no download delay, Scrapy 2.19's own downloader started every queued request for
    a site at once (6-7 in flight here); crawlers/downloader.py holds the setting."""
    peak, log = crawl_peak(tmp_path, "concurrent_per_domain = 2\n")
    assert sum(path.startswith("/p/") for path, _ in log) == PAGES
    assert peak == 2


def test_concurrent_requests_reaches_scrapy_and_every_frontier_crawler():
    crawl = {"concurrent_requests": 3}
    assert scrapy_settings("x.duckdb", "run", crawl)["CONCURRENT_REQUESTS"] == 3
    settings = frontier_settings("redis://127.0.0.1:1/0", "run", "w", crawl, [])
    assert settings["CONCURRENT_REQUESTS"] == 3
    assert settings["DOWNLOADER"] == "crawlers.downloader.SlotBoundDownloader"
    assert scrapy_settings("x.duckdb", "run", {})["CONCURRENT_REQUESTS"] == 16
