"""A source's crawl_delay, counted at the server: AutoThrottle (on by default) moved every
site's delay toward the default download_delay, whatever the source asked for (found by a
helper's configuration review); crawlers/throttle.py keeps it as the floor."""

import statistics

import pytest
from scrapy import Request
from scrapy.core.downloader import Slot

from crawlers.demo.render import sitemap
from crawlers.downloader import SlotBoundDownloader
from crawlers.runner import scrapy_settings
from crawlers.sources import Source, configured_domain, slot_domain
from tests.conftest import run_cli
from tests.support.inflight import counting_site
from tests.support.politeness import Site

pytestmark = pytest.mark.slow


def page_gaps(tmp_path, crawl_delay: float, pages: int, robots: str = "",
              crawl: str = "") -> list[float]:  # fmt: skip
    """Seconds between the page requests of a crawl with the default [crawl] settings (and
    ``crawl``'s lines), the site serving ``robots`` as its robots.txt if given."""
    routes, stamps = {}, []
    server, base = counting_site(routes, stamps=stamps)
    if robots:
        routes["/robots.txt"] = ("text/plain", robots.encode(), {})
    try:
        for i in range(pages):
            routes[f"/p/{i}.html"] = ("text/html", f"<p>{i}</p>".encode(), {})
        urls = [(f"{base}/p/{i}.html", "") for i in range(pages)]
        routes["/sitemap.xml"] = ("application/xml", sitemap(urls).encode(), {})
        (tmp_path / "s.toml").write_text(
            f'[[source]]\nname = "polite"\nhome = "{base}/"\nsitemaps = ["{base}/sitemap.xml"]\n'
            f'allowed_domains = ["127.0.0.1"]\nallow_private = true\ncrawl_delay = {crawl_delay}\n'
        )  # fmt: skip
        (tmp_path / "c.toml").write_text(f"[crawl]\nlog_level = 'ERROR'\n{crawl}")
        db = tmp_path / f"c{crawl_delay}-{len(list(tmp_path.glob('*.duckdb')))}.duckdb"
        run_cli("--config", str(tmp_path / "c.toml"), "crawl", "--sources",
                str(tmp_path / "s.toml"), db=db)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    times = [t for path, _, t in stamps if path.startswith("/p/")]
    assert len(times) == pages
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_a_sources_crawl_delay_holds_with_autothrottle_on(tmp_path):
    slow = page_gaps(tmp_path, 1.2, 4)
    assert min(slow) >= 1.15, slow  # was 0.4-0.85: AutoThrottle's floor was download_delay
    fast = page_gaps(tmp_path, 0, 6)
    assert statistics.median(fast) < 0.3, fast  # was >= 0.5, raised to download_delay


def test_a_sites_robots_txt_crawl_delay_holds_up_to_max_robots_delay(tmp_path):
    """robots.txt's Crawl-delay for our product token (its group, else *) is the least time
    between two requests to the site, with no jitter below it, AutoThrottle on; a group for
    another crawler is not ours; [crawl] max_robots_delay caps it. Before, Crawl-delay lines
    were not read: pages came 0.0-0.3 s apart under `Crawl-delay: 1.2`."""
    asked = page_gaps(tmp_path, 0, 4, robots="User-agent: *\nCrawl-delay: 1.2\n")
    assert min(asked) >= 1.15, asked
    ours = "User-agent: googlebot\nCrawl-delay: 9\n\nUser-agent: narrascope\nCrawl-delay: 1\n"
    assert min(page_gaps(tmp_path, 0, 3, robots=ours)) >= 0.95
    theirs = page_gaps(tmp_path, 0, 5, robots="User-agent: googlebot\nCrawl-delay: 9\n")
    assert statistics.median(theirs) < 0.3, theirs
    capped = page_gaps(tmp_path, 0, 5, robots="User-agent: *\nCrawl-delay: 60\n",
                       crawl="max_robots_delay = 0.4\n")  # fmt: skip
    assert min(capped) >= 0.35 and statistics.median(capped) < 0.9, capped


def test_a_sources_subdomains_share_its_delay_with_no_jitter_below_it():
    assert configured_domain("news.example.org", {"example.org"}) == "example.org"
    assert configured_domain("a.b.example.org", {"example.org", "b.example.org"}) == "b.example.org"
    assert configured_domain("example.org.evil.net", {"example.org"}) is None
    assert configured_domain("notexample.org", {"example.org"}) is None
    # as scrapy names hosts: IDNA, lower case; a single-label domain's subdomains too
    assert slot_domain("Пример.РФ.") == "xn--e1afmkfd.xn--p1ai" == slot_domain("ПРИМЕР.рф")
    assert configured_domain("www.xn--e1afmkfd.xn--p1ai", {slot_domain("пример.рф")})
    assert configured_domain("api.intranet", {"intranet"}) == "intranet"
    source = Source("s", "https://example.org/", allowed_domains=["example.org"], crawl_delay=2.0)
    slots = scrapy_settings("x.duckdb", "run", {}, [source])["DOWNLOAD_SLOTS"]
    assert slots["example.org"]["delay"] == 2.0
    downloader = object.__new__(SlotBoundDownloader)  # the slot key alone: no crawler needed
    downloader.per_slot_settings, downloader.ip_concurrency = slots, 0
    assert downloader.get_slot_key(Request("https://www.example.org/a")) == "example.org"
    assert downloader.get_slot_key(Request("https://other.example/a")) == "other.example"
    slot = Slot(1, 2.0, slots["example.org"]["jitter"])
    assert {slot.download_delay() for _ in range(20)} == {2.0}  # never under the delay


def test_autothrottle_keeps_a_crawl_delay_above_its_max_delay():
    """A crawl_delay of 90 s came down to AUTOTHROTTLE_MAX_DELAY (60) after one response."""
    from types import SimpleNamespace

    from crawlers.throttle import SourceDelayThrottle

    throttle = object.__new__(SourceDelayThrottle)  # its delay rule alone: no crawler needed
    throttle.target_concurrency, throttle.mindelay, throttle.maxdelay = 1.0, 0.5, 60.0
    throttle._floor = 90.0
    slot = Slot(1, 90.0, 0)
    throttle._adjust_delay(slot, 0.01, SimpleNamespace(status=200))
    assert slot.delay == 90.0 and (throttle.mindelay, throttle.maxdelay) == (0.5, 60.0)
    throttle._floor = None  # a slot of no crawl_delay: scrapy's own rule
    slot = Slot(1, 5.0, 0)
    throttle._adjust_delay(slot, 0.01, SimpleNamespace(status=200))
    assert slot.delay == 2.505  # halfway to the latency, within [0.5, 60]


def test_two_sources_on_one_site_keep_the_larger_crawl_delay(tmp_path):
    """Two sources on one site (sections of it, channels on t.me) share its download slot:
    the slot took the crawl_delay of the source listed last, so a source that asked for 1 s
    had its pages fetched with no delay at all when the next one said 0."""
    routes, stamps = {}, []
    server, base = counting_site(routes, stamps=stamps)
    try:
        sources = ""
        for name, delay in (("careful", 1.0), ("eager", 0)):
            urls = [(f"{base}/{name}/{i}.html", "") for i in range(3)]
            for url, _ in urls:
                routes[url.removeprefix(base)] = ("text/html", b"<p>page</p>", {})
            routes[f"/{name}.xml"] = ("application/xml", sitemap(urls).encode(), {})
            sources += (f'[[source]]\nname = "{name}"\nhome = "{base}/"\nsitemaps = '
                        f'["{base}/{name}.xml"]\nallow_private = true\ncrawl_delay = {delay}\n')  # fmt: skip
        (tmp_path / "s.toml").write_text(sources)
        (tmp_path / "c.toml").write_text("[crawl]\nlog_level = 'ERROR'\n")
        run_cli("--config", str(tmp_path / "c.toml"), "crawl", "--sources",
                str(tmp_path / "s.toml"), db=tmp_path / "c.duckdb")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    times = sorted(t for _, _, t in stamps)
    assert len(times) == 9  # robots.txt, two sitemaps, six pages
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps  # were 0.0-0.01 apart: the slot's delay was 0


def test_a_slot_keeps_the_crawl_delay_of_every_source_that_covers_it():
    sources = [
        Source("a", "https://example.org/", crawl_delay=2.0),
        Source("b", "https://example.org/news/", crawl_delay=0.0),
        Source("c", "https://news.example.org/", crawl_delay=0.5),
        Source("d", "https://other.example/", crawl_delay=0.0),
    ]
    slots = scrapy_settings("x.duckdb", "run", {}, sources)["DOWNLOAD_SLOTS"]
    # example.org's own 2 s covers its subdomain news.example.org too
    assert {k: v["delay"] for k, v in slots.items()} == {
        "example.org": 2.0,
        "news.example.org": 2.0,
        "other.example": 0.0,
    }


def test_retry_after_holds_every_request_to_the_site(tmp_path):
    """A page answers 429 with Retry-After: 3 beside two pages in flight: their answers let
    AutoThrottle bring the site's raised delay down, and the jitter cut it again, so the next
    pages were requested 0.6-1.7 s after the 429, not 3 (only the retried page itself waited
    it out)."""
    site = Site("127.0.0.1").start()
    try:
        urls = [f"{site.base}/p/{i}" for i in range(8)]
        for url in urls:
            site.routes[url.removeprefix(site.base)] = (200, "text/html", b"<p>p</p>", {}, 0.5)
        site.faults.update({"/p/0": [(429, 3)], "/p/7": [(429, 3)]})
        site.routes["/sitemap.xml"] = (200, "application/xml",
                                       sitemap([(u, "") for u in urls]).encode(), {}, 0)  # fmt: skip
        (tmp_path / "s.toml").write_text(
            f'[[source]]\nname = "busy"\nhome = "{site.base}/"\nsitemaps = '
            f'["{site.base}/sitemap.xml"]\nallow_private = true\n'
        )  # fmt: skip
        (tmp_path / "c.toml").write_text(
            "[crawl]\nlog_level = 'ERROR'\ndownload_delay = 0\nconcurrent_per_domain = 3\n"
        )
        run_cli("--config", str(tmp_path / "c.toml"), "crawl", "--sources",
                str(tmp_path / "s.toml"), db=tmp_path / "c.duckdb")  # fmt: skip
    finally:
        site.close()
    assert sorted(h.path for h in site.log if h.status == 200 and h.path != "/sitemap.xml") == [
        f"/p/{i}" for i in range(8)
    ]
    for pause in (h for h in site.log if h.status == 429):
        # requests the crawler sent before the 429 reached it may start just after it
        after = [round(h.start - pause.end, 2) for h in site.log if h.start > pause.end + 0.1]
        assert min(after) >= 3 - 0.05, after  # was 0.6-1.7
