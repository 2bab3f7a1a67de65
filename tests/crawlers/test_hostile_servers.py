"""Hostile servers next to a normal source, crawled within small [crawl] limits: an endless
chunked response, a slowloris (one byte a second), a server that never sends headers, a public
source redirecting to 169.254.169.254 and to a name that resolves to a 10.x address, a page
(and a sitemap) of 100,000 links. Each is cut off within the limits and recorded with its
reason, the crawl stays bounded in time and memory, and the normal source gets every page.

Sources that fail outright stop no other source either, and their health says why: every
request answered with HTTP 500 (retried as configured, with backoff, then given up), every
connection reset, bytes that are not HTTP, a feed of binary garbage, pages answering 500.

Three crawls (each a guarded subprocess, tests/support/hostile.py): the servers that stream or
stall, the pages of links (whose reading competes for the crawl's one thread), and the servers
that fail."""

import json
import random

import pytest

from crawlers.demo import render
from storage import connect
from tests.conftest import LocalSite
from tests.crawlers.test_spiders import article
from tests.support.hostile import HostileServer, run_guarded_cli

TIMEOUT = 2  # [crawl] timeout, seconds
MAX_BYTES = 3_000_000  # [crawl] max_bytes (the crawl of the pages of links keeps 10 MB)
CONFIG = "[crawl]\ndownload_delay = 0\nautothrottle = false\nretries = 0\n"
PUBLIC = "93.184.215.14"  # a globally routable literal, reached only through the test proxy
INTRANET = "intranet.example"  # the stub resolver answers a 10.x address for it
# the failing servers' names: each its own download slot (scrapy keys slots by host name, ports
# aside), so one server's backoff slows no other source down
FAILING = ("errors", "robots-500", "reset", "garbage", "binary-feed", "pages-500")
STUB_HOSTS = {INTRANET: "10.20.30.40", **{f"{name}.test": "127.0.0.1" for name in FAILING}}
MAX_PAGES = 20  # the page budget of the sources with 100,000 links
MAX_PAGE_LINKS = 2000  # crawlers/spiders/sources.py
PEAK_RSS_MB = 500  # measured: ~160 MB (the stalling servers), ~310 MB (the pages of links)


def feed(base: str, paths: list[str]) -> tuple[str, bytes, dict]:
    items = [{"title": p, "url": base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in paths]  # fmt: skip
    return "application/rss+xml", render.rss(title="t", link=base + "/", items=items).encode(), {}


def source(name: str, home: str, **kw) -> str:
    table = {"name": name, "home": home, "allow_private": True, **kw}
    return "[[source]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


def normal_site() -> tuple[LocalSite, str]:
    """A well-behaved site with a feed of five articles, and its source entry."""
    site = LocalSite({f"/n/{i}": ("text/html", article(f"Обычная {i}"), {}) for i in range(5)})
    site.routes["/feed/"] = feed(site.base, [f"/n/{i}" for i in range(5)])
    return site, source("normal", site.base + "/", feeds=[site.base + "/feed/"])


class ManyLinks(dict):
    """Routes of a site whose home page and sitemap link to 100,000 pages each, all served."""

    def get(self, path, default=None):
        if path.startswith(("/p/", "/s/")):
            return "text/html; charset=utf-8", article(f"Статья {path}"), {}
        return super().get(path, default)


def crawl(tmp, sources: list[str], config: str, env: dict | None = None, fmt="text") -> dict:
    """Crawl the sources in a guarded subprocess; the run, what the database recorded and
    `sources list --format FMT`."""
    (tmp / "sources.toml").write_text("\n".join(sources))
    (tmp / "narrascope.toml").write_text(config)
    db = str(tmp / "n.duckdb")
    run = run_guarded_cli("--db", db, "--config", str(tmp / "narrascope.toml"), "crawl",
                          "--sources", str(tmp / "sources.toml"), stub_hosts=STUB_HOSTS,
                          workdir=tmp, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    with connect(db, read_only=True) as con:
        rejections = con.execute("SELECT source, reason, url, detail FROM rejections").fetchall()
        health = con.execute("SELECT source, fetched, new, errors, problem FROM v_source_health")
        health = {s: {"fetched": f, "new": n, "errors": json.loads(e), "problem": p}
                  for s, f, n, e, p in health.fetchall()}  # fmt: skip
        stored = dict(con.execute("SELECT source, count(*) FROM documents GROUP BY 1").fetchall())
    listed = run_guarded_cli("--db", db, "sources", "list", "--sources",
                             str(tmp / "sources.toml"), "--format", fmt, stub_hosts=STUB_HOSTS,
                             workdir=tmp)  # fmt: skip
    return {"run": run, "rejections": rejections, "health": health, "stored": stored,
            "listed": listed.stdout}  # fmt: skip


@pytest.fixture(scope="module")
def stalling(tmp_path_factory):
    """One crawl: endless, slowloris, silent, a public source redirecting inward, a normal one."""
    servers = {mode: HostileServer(mode)
               for mode in ("endless", "slowloris", "silent", "headers")}  # fmt: skip
    normal, normal_source = normal_site()
    pub = f"http://{PUBLIC}"
    proxy = LocalSite({  # stands in for the internet: answers for the public address
        f"{pub}/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {}),
        f"{pub}/feed/": feed(pub, ["/metadata", "/metadata-dot", "/intranet", "/file", "/story"]),
        f"{pub}/file": ("text/html", b"", {"Status": "302", "Location": "file:///etc/passwd"}),
        f"{pub}/metadata": ("text/html", b"", {"Status": "302",
                            "Location": "http://169.254.169.254/latest/meta-data/"}),
        # with a trailing dot: no address parser reads it, and it went to the proxy as a name
        f"{pub}/metadata-dot": ("text/html", b"", {"Status": "302",
                                "Location": "http://169.254.169.254./latest/meta-data/"}),
        f"{pub}/intranet": ("text/html", b"", {"Status": "302",
                            "Location": f"http://{INTRANET}/admin"}),
        f"{pub}/story": ("text/html", article("Публичная"), {}),
    })  # fmt: skip
    proxy_log = proxy.server.RequestHandlerClass.log = []
    # each server answers every path its way, robots.txt too, which RFC 9309 takes as a site
    # that disallows everything: these sources ignore robots.txt, so the feed is asked for
    sources = [source(mode, s.base + "/", feeds=[s.base + "/feed/"], obey_robots=False)
               for mode, s in servers.items()]  # fmt: skip
    sources += [normal_source, source("public", pub + "/", feeds=[pub + "/feed/"],
                                      allow_private=False)]  # fmt: skip
    config = CONFIG + f"timeout = {TIMEOUT}\nmax_bytes = {MAX_BYTES}\n"
    try:
        result = crawl(tmp_path_factory.mktemp("stalling"), sources, config,
                       env={"http_proxy": proxy.base, "no_proxy": "127.0.0.1"})  # fmt: skip
    finally:
        for server in (*servers.values(), normal, proxy):
            server.close()
    return {**result, "servers": servers, "proxy_log": proxy_log}


def rejected(result: dict, name: str) -> list[tuple[str, str, str]]:
    return sorted((reason, url, detail) for s, reason, url, detail in result["rejections"]
                  if s == name)  # fmt: skip


def listed_entry(result: dict, name: str) -> str:
    """The source's lines in `narrascope sources list` (its name, then indented lines)."""
    entries: dict[str, list[str]] = {}
    for line in result["listed"].splitlines():
        if not line.startswith(" "):
            current = entries.setdefault(line.split("  ")[0], [])
        current.append(line)
    return "\n".join(entries[name])


def test_an_endless_chunked_response_is_cut_at_max_bytes(stalling):
    server = stalling["servers"]["endless"]
    [(reason, url, detail)] = rejected(stalling, "endless")
    assert (reason, url) == ("too_large", server.base + "/feed/")
    assert detail == (
        f"DownloadCancelledError: the body grew past max_bytes ({MAX_BYTES} bytes) while streaming"
    )
    feed_hit = next(h for h in server.hits if h.path == "/feed/")
    # the client hung up once past the limit, long before the timeout; what was sent beyond
    # the limit sat in the loopback socket buffers (an uncut stream runs at GB/s)
    assert feed_hit.hung_up and feed_hit.seconds < TIMEOUT
    assert MAX_BYTES < feed_hit.sent < MAX_BYTES + 16 * 2**20
    assert stalling["health"]["endless"]["errors"] == {"too_large": 1}


def test_headers_without_end_are_cut_at_their_cap(stalling):
    """Header lines without end: Twisted limits each line, not their number, and before the
    cap the crawl's memory grew with them (240 MB of headers: 1.1 GB) and the page was stored.
    Now the client hangs up past MAX_HEADER_BYTES and the page is recorded too_large."""
    from crawlers.headers import MAX_HEADER_BYTES

    server = stalling["servers"]["headers"]
    [(reason, url, detail)] = rejected(stalling, "headers")
    assert (reason, url) == ("too_large", server.base + "/feed/")
    assert f"response headers grew past {MAX_HEADER_BYTES} bytes" in detail
    [hit] = [h for h in server.hits if h.path == "/feed/"]
    assert hit.hung_up and hit.seconds < TIMEOUT
    assert MAX_HEADER_BYTES < hit.sent < MAX_HEADER_BYTES + 16 * 2**20  # socket buffers
    assert stalling["health"]["headers"]["errors"] == {"too_large": 1}


def test_headers_past_their_cap_are_not_asked_for_again(tmp_path):
    """With retries on, a response whose headers passed the cap is not retried, as one whose
    body passed max_bytes is not (before, each retry took another megabyte and more, and
    doubled the site's delay)."""
    server = HostileServer("headers", give_up=20)
    try:
        result = crawl(tmp_path, [source("headers", server.base + "/", feeds=[server.base + "/feed/"],
                                         obey_robots=False)],
                       CONFIG.replace("retries = 0", "retries = 2") + f"timeout = {TIMEOUT}\n")  # fmt: skip
    finally:
        server.close()
    assert [h.path for h in server.hits] == ["/feed/"]
    assert result["health"]["headers"]["errors"] == {"too_large": 1}
    assert "Gave up retrying" not in result["run"].stderr


@pytest.mark.parametrize("mode", ["slowloris", "silent"])
def test_slow_and_silent_servers_are_cut_at_the_timeout(stalling, mode):
    """One byte a second, or not even a status line: the connection is dropped by the client
    at the timeout; the feed's is recorded as a fetch error."""
    server = stalling["servers"][mode]
    [(reason, url, detail)] = rejected(stalling, mode)
    assert (reason, url) == ("fetch_error", server.base + "/feed/")
    assert detail.startswith("DownloadTimeoutError") and f"{TIMEOUT}.0 seconds" in detail
    assert sorted(h.path for h in server.hits) == ["/feed/"]  # retries = 0
    for hit in server.hits:  # the server gives up only after 60 s; the slowloris polls each 1 s
        assert hit.hung_up and TIMEOUT - 0.2 < hit.seconds < TIMEOUT + 2.5, hit
    if mode == "slowloris":
        assert all(hit.sent < 5 for hit in server.hits)  # a few bytes of the status line
    health = stalling["health"][mode]
    assert health["errors"] == {"fetch_error": 1}
    assert health["problem"] == "nothing could be fetched"
    listed = listed_entry(stalling, mode)  # `narrascope sources list`
    assert 'errors {"fetch_error": 1}' in listed
    assert "health: NEEDS ATTENTION: nothing could be fetched" in listed


def test_redirects_to_link_local_and_private_addresses_are_refused_before_connecting(stalling):
    """The public source's pages redirect to the cloud metadata address and to a name the stub
    resolver maps to 10.20.30.40: both refused before any connection (the proxy, the only way
    to a non-loopback address, never saw them; the guard saw no connection attempt)."""
    assert rejected(stalling, "public") == [
        ("private_address", "http://169.254.169.254./latest/meta-data/",
         "PrivateAddressRefused: refused non-public address for 169.254.169.254 "
         "(http://169.254.169.254./latest/meta-data/)"),
        ("private_address", "http://169.254.169.254/latest/meta-data/",
         "PrivateAddressRefused: refused non-public address for 169.254.169.254 "
         "(http://169.254.169.254/latest/meta-data/)"),
        ("private_address", f"http://{INTRANET}/admin",
         f"PrivateAddressRefused: refused non-public address for {INTRANET} "
         f"(http://{INTRANET}/admin)"),
        ("unsupported_scheme", f"http://{PUBLIC}/file",  # before, "HttpError: Ignoring ..."
         "SchemeRefused: refused file scheme (a redirect to file:///etc/passwd)"),
    ]  # fmt: skip
    assert sorted(url for url, _ in stalling["proxy_log"]) == [
        f"http://{PUBLIC}/{path}"
        for path in ("feed/", "file", "intranet", "metadata", "metadata-dot", "robots.txt", "story")
    ]
    assert stalling["run"].connects == []
    health = stalling["health"]["public"]
    assert health["errors"] == {"private_address": 3, "unsupported_scheme": 1}
    assert health["new"] == 1  # /story


def test_stalling_servers_cost_bounded_time_and_memory_and_stop_no_other_source(stalling):
    assert stalling["stored"] == {"normal": 5, "public": 1}
    normal = stalling["health"]["normal"]
    assert (normal["new"], normal["errors"], normal["problem"]) == (5, {}, None)
    # the feed's timeout for a stalling server, side by side
    assert stalling["run"].seconds < 12 + 4 * TIMEOUT, stalling["run"].seconds  # 9 s here
    assert stalling["run"].peak_rss_mb < PEAK_RSS_MB


@pytest.fixture(scope="module")
def many_links(tmp_path_factory):
    """One crawl: a home page (1.8 MB) and a sitemap (8 MB) of 100,000 links each, read by two
    sources with a budget of 20 pages, and a normal source."""
    home = "".join(f"<a href=/p/{i}>{i}</a>\n" for i in range(100_000))
    site = LocalSite(ManyLinks({"/": ("text/html", f"<html><body>{home}</body></html>".encode(),
                                      {})}))  # fmt: skip
    urls = [(f"{site.base}/s/{i}", "2026-10-01") for i in range(100_000)]
    site.routes["/sitemap.xml"] = ("application/xml", render.sitemap(urls).encode(), {})
    log = site.server.RequestHandlerClass.log = []
    stamps = site.server.RequestHandlerClass.stamps = []
    normal, normal_source = normal_site()
    sources = [source("many-links", site.base + "/", follow_links=True, max_depth=1,
                      max_pages=MAX_PAGES),
               source("big-sitemap", site.base + "/", sitemaps=[site.base + "/sitemap.xml"],
                      max_pages=MAX_PAGES), normal_source]  # fmt: skip
    # longer than the crawl's thread is busy reading a page of links (which would time out
    # downloads in flight: the other sources' too)
    config = CONFIG + f"timeout = {3 * TIMEOUT}\nmax_bytes = 10_000_000\n"
    try:
        result = crawl(tmp_path_factory.mktemp("links"), sources, config)
    finally:
        site.close()
        normal.close()
    return {**result, "log": log, "stamps": stamps, "base": site.base}


def reading_seconds(result: dict, listing: str, prefix: str) -> float:
    """From the listing sent to the first page it lists requested: the time the crawl's one
    thread spent reading it (other downloads wait, and time out, meanwhile)."""
    sent = next(at for path, _, at in result["stamps"] if path == listing)
    return min(at for path, _, at in result["stamps"] if path.startswith(prefix)) - sent


def test_a_page_of_100000_links_is_cut_and_the_page_budget_holds(many_links):
    requested = [path for path, _ in many_links["log"] if path.startswith("/p/")]
    assert sorted(requested) == sorted(f"/p/{i}" for i in range(MAX_PAGES))  # the first ones
    assert rejected(many_links, "many-links") == [
        ("too_many_links", many_links["base"] + "/",
         f"more than {MAX_PAGE_LINKS} links on the page; the first {MAX_PAGE_LINKS} were read"),
    ]  # fmt: skip
    health = many_links["health"]["many-links"]
    assert (health["fetched"], health["new"]) == (1 + MAX_PAGES, MAX_PAGES)
    assert health["errors"] == {"too_many_links": 1} and health["problem"] is None
    assert 'errors {"too_many_links": 1}' in listed_entry(many_links, "many-links")
    # ~1.3 s here (~4.5 s when the sitemap is read first); 25 s when every link was read
    assert reading_seconds(many_links, "/", "/p/") < 10


def test_a_sitemap_of_100000_links_costs_what_the_page_budget_spends(many_links):
    """The sitemap is parsed whole (~3 s here), but only the links up to where the budget
    runs out are looked up and requested (looking up all 100,000 took 5 s more)."""
    requested = [path for path, _ in many_links["log"] if path.startswith("/s/")]
    assert sorted(requested) == sorted(f"/s/{i}" for i in range(MAX_PAGES))
    health = many_links["health"]["big-sitemap"]
    assert (health["fetched"], health["new"], health["errors"]) == (1 + MAX_PAGES, MAX_PAGES, {})
    assert reading_seconds(many_links, "/sitemap.xml", "/s/") < 10  # 3-5 s here


FEED_ITEMS = 15_000  # feedparser reads ~2,000 a second here
TRICKLE = 30  # pages of a source beside it, 0.3 s each, two at a time: ~5 s of downloads


def test_a_big_feed_is_parsed_while_other_downloads_go_on(tmp_path):
    """feedparser is pure Python: parsed on the crawl's one thread, a feed of 15,000 entries
    held every other download (and timed them out) for seconds. Parsed in a thread, the pages
    of the source beside it keep coming."""
    site = LocalSite({f"/t/{i}": ("text/html", article(f"Статья {i}"), {"Delay": "0.3"})
                      for i in range(TRICKLE)})  # fmt: skip
    site.routes["/big.xml"] = feed(site.base, [f"/f/{i}" for i in range(FEED_ITEMS)])
    site.routes["/trickle.xml"] = feed(site.base, [f"/t/{i}" for i in range(TRICKLE)])
    site.routes.update({f"/f/{i}": ("text/html", article(f"Лента {i}"), {}) for i in range(3)})
    stamps = site.server.RequestHandlerClass.stamps = []
    sources = [source("big-feed", site.base + "/", feeds=[site.base + "/big.xml"], max_pages=3),
               source("trickle", site.base + "/", feeds=[site.base + "/trickle.xml"])]  # fmt: skip
    try:
        result = crawl(tmp_path, sources, CONFIG + "concurrent_per_domain = 2\n")
    finally:
        site.close()
    assert result["stored"] == {"big-feed": 3, "trickle": TRICKLE}
    sent = next(at for path, _, at in stamps if path == "/big.xml")
    parsed = min(at for path, _, at in stamps if path.startswith("/f/"))
    trickle = sorted(at for path, _, at in stamps if path.startswith("/t/"))
    gaps = [b - a for a, b in zip(trickle, trickle[1:], strict=False)]
    # the feed took seconds to read, and the other source's requests never paused that long
    assert parsed - sent > 3 and max(gaps) < 2, (parsed - sent, max(gaps))


def test_pages_of_links_cost_bounded_time_and_memory_and_stop_no_other_source(many_links):
    assert many_links["stored"] == {"many-links": MAX_PAGES, "big-sitemap": MAX_PAGES,
                                    "normal": 5}  # fmt: skip
    assert many_links["health"]["normal"]["errors"] == {}
    assert many_links["run"].seconds < 25, many_links["run"].seconds  # ~9 s here
    assert many_links["run"].peak_rss_mb < PEAK_RSS_MB


RETRIES = 1  # [crawl] retries of the crawl of failing servers: each URL is asked twice
HTTP_500 = ("text/html", b"<h1>Internal Server Error</h1>", {"Status": "500"})


class Failing(dict):
    """Routes of a site that answers HTTP 500 to every path it does not list (robots.txt too)."""

    def get(self, path, default=None):
        return super().get(path) or HTTP_500


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """One crawl: a site answering 500 to everything but robots.txt, one answering 500 to
    everything, one resetting every connection, one sending bytes that are not HTTP, one whose
    feed is binary garbage (with HTTP 200), one whose feed lists two pages that answer 500, and
    a normal source; one retry each."""
    errors, pages = LocalSite(Failing()), LocalSite({})
    errors.routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    binary = LocalSite({"/feed/": ("application/rss+xml", random.Random(14).randbytes(4096), {})})
    servers = {"reset": HostileServer("reset"), "garbage": HostileServer("garbage")}
    sites = {"errors": errors, "robots-500": LocalSite(Failing()), "binary-feed": binary,
             "pages-500": pages, **servers}  # fmt: skip
    bases = {name: site.base.replace("127.0.0.1", f"{name}.test") for name, site in sites.items()}
    pages.routes.update({"/a/0": HTTP_500, "/a/1": HTTP_500,
                         "/feed/": feed(bases["pages-500"], ["/a/0", "/a/1"])})  # fmt: skip
    stamps = {}
    for name, site in sites.items():
        if isinstance(site, LocalSite):
            stamps[name] = site.server.RequestHandlerClass.stamps = []
    normal, normal_source = normal_site()
    # the servers that answer every path their way, robots.txt too, are read without it (RFC
    # 9309 takes such a robots.txt as disallowing everything: "robots-500" shows it)
    sources = [source(name, base + "/", feeds=[base + "/feed/"],
                      **({"obey_robots": False} if name in servers else {}))
               for name, base in bases.items()]  # fmt: skip
    config = CONFIG.replace("retries = 0", f"retries = {RETRIES}")
    config += f"timeout = {TIMEOUT}\nmax_bytes = {MAX_BYTES}\n"
    try:
        result = crawl(tmp_path_factory.mktemp("failing"), [*sources, normal_source], config,
                       fmt="json")  # fmt: skip
    finally:
        for site in (*sites.values(), normal):
            site.close()
    listed = {row["name"]: row["health"] for row in json.loads(result["listed"])}
    return {**result, "listed": listed, "bases": bases, "stamps": stamps, "servers": servers}


def nothing_fetched(result: dict, name: str, detail: str) -> None:
    """The source's feed failed (its one rejection, starting with ``detail``); its health, in
    the database, in `sources list --format json` and in the crawl's output, says so."""
    [(reason, url, rejection)] = rejected(result, name)
    assert (reason, url) == ("fetch_error", result["bases"][name] + "/feed/")
    assert rejection.startswith(detail), rejection
    health = result["health"][name]
    assert (health["fetched"], health["errors"]) == (0, {"fetch_error": 1})
    assert health["problem"] == "nothing could be fetched"
    listed = result["listed"][name]
    assert (listed["errors"], listed["problem"]) == ({"fetch_error": 1}, "nothing could be fetched")
    assert f"source needs attention: {name}: nothing could be fetched" in result["run"].stdout


def test_a_server_answering_500_to_everything_is_retried_with_backoff_then_given_up(failing):
    """The feed is asked 1 + RETRIES times, no more, and a failure backs off the site's
    delay (from 1 s, jittered by 0.5-1.5; doubled by each failure: test_safety.py)."""
    tries = failing["stamps"]["errors"]
    assert [(path, status) for path, status, _ in tries] == [("/robots.txt", 200)] + [
        ("/feed/", 500)] * (1 + RETRIES)  # fmt: skip
    gaps = [b - a for (_, _, a), (_, _, b) in zip(tries, tries[1:], strict=False)]
    # the feed's retry waits the 1 s delay its failure set (robots.txt was read at once)
    assert gaps[1] >= 0.5, gaps  # ~ms without backoff
    nothing_fetched(failing, "errors", "HttpError: Ignoring non-200 response")


def test_a_site_whose_robots_txt_answers_500_is_not_crawled(failing):
    """RFC 9309 2.3.1.4: a robots.txt that is unreachable (5xx) means complete disallow.
    scrapy read the error page's body as robots.txt, which allowed everything: the feed
    was asked for, of a site that was failing."""
    tries = failing["stamps"]["robots-500"]
    assert [(path, status) for path, status, _ in tries] == [("/robots.txt", 500)] * (1 + RETRIES)
    [(reason, url, detail)] = rejected(failing, "robots-500")
    assert (reason, url) == ("robots_txt", failing["bases"]["robots-500"] + "/feed/")
    assert "robots.txt answered HTTP 500 (RFC 9309)" in detail, detail
    assert failing["health"]["robots-500"]["errors"] == {"robots_txt": 1}


@pytest.mark.parametrize("mode", ["reset", "garbage"])
def test_reset_connections_and_answers_that_are_not_http_are_failed_fetches(failing, mode):
    """A connection reset (RST) as soon as the request came, or 4 KiB of random bytes instead
    of a status line: each request retried once, then the feed recorded as a fetch error."""
    hits = failing["servers"][mode].hits
    assert sorted(h.path for h in hits) == ["/feed/"] * (1 + RETRIES)
    nothing_fetched(failing, mode, "DownloadFailedError: [<twisted.python.failure.Failure ")
    detail = rejected(failing, mode)[0][2]
    if mode == "reset":
        assert "ConnectionLost: Connection to the other side was lost in a non-clean" in detail
    else:  # the start of the garbage, as Python writes bytes (and at most 2,000 characters)
        assert "ParseError: ('non-integer status code', b\"\\x00\\xff" in detail


def test_a_feed_of_binary_garbage_is_recorded_as_broken(failing):
    """HTTP 200 with 4 KiB of random bytes: the feed was fetched, lists nothing, and is recorded
    as broken with feedparser's reason, in its health's errors and as its problem."""
    assert rejected(failing, "binary-feed") == [
        ("broken_feed", failing["bases"]["binary-feed"] + "/feed/",
         "malformed feed (<unknown>:2:1: not well-formed (invalid token)); nothing listed"),
    ]  # fmt: skip
    health = failing["health"]["binary-feed"]
    assert (health["fetched"], health["new"], health["errors"]) == (1, 0, {"broken_feed": 1})
    assert failing["listed"]["binary-feed"]["errors"] == {"broken_feed": 1}  # an object (JSON)
    problem = "a feed could not be read: nothing listed"
    assert health["problem"] == failing["listed"]["binary-feed"]["problem"] == problem
    assert f"source needs attention: binary-feed: {problem}" in failing["run"].stdout


def test_pages_answering_500_are_retried_then_recorded_as_failed_fetches(failing):
    """The feed is fine, its two pages answer 500: each page asked 1 + RETRIES times, each
    recorded as a fetch error, and most fetches failed (2 of 3)."""
    base = failing["bases"]["pages-500"]
    asked = sorted(path for path, _, _ in failing["stamps"]["pages-500"])
    assert asked == ["/a/0"] * (1 + RETRIES) + ["/a/1"] * (1 + RETRIES) + ["/feed/", "/robots.txt"]
    assert rejected(failing, "pages-500") == [
        ("fetch_error", f"{base}/a/{i}", "HttpError: Ignoring non-200 response") for i in (0, 1)
    ]
    health = failing["health"]["pages-500"]
    assert (health["fetched"], health["new"], health["errors"]) == (1, 0, {"fetch_error": 2})
    assert health["problem"] == failing["listed"]["pages-500"]["problem"] == "most fetches failed"


def test_failing_servers_stop_no_other_source_and_fail_no_crawl(failing):
    """The crawl exits 0 (crawl() checks it: a failing source is not a failed crawl), the normal
    source gets every page, and the retries' backoff keeps the crawl short."""
    assert failing["stored"] == {"normal": 5}
    normal = failing["health"]["normal"]
    assert (normal["new"], normal["errors"], normal["problem"]) == (5, {}, None)
    assert failing["run"].stdout.startswith("crawl ok: ")
    assert failing["run"].seconds < 20, failing["run"].seconds
    assert failing["run"].connects == []
