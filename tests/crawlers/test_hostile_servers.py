"""Hostile servers next to a normal source, crawled within small [crawl] limits: an endless
chunked response, a slowloris (one byte a second), a server that never sends headers, a public
source redirecting to 169.254.169.254 and to a name that resolves to a 10.x address, a page
(and a sitemap) of 100,000 links. Each is cut off within the limits and recorded with its
reason, the crawl stays bounded in time and memory, and the normal source gets every page.

Two crawls (each a guarded subprocess, tests/support/hostile.py): the servers that stream or
stall, and the pages of links (whose reading competes for the crawl's one thread)."""

import json

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
STUB_HOSTS = {INTRANET: "10.20.30.40"}
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


def crawl(tmp, sources: list[str], config: str, env: dict | None = None) -> dict:
    """Crawl the sources in a guarded subprocess; the run and what the database recorded."""
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
                             str(tmp / "sources.toml"), stub_hosts=STUB_HOSTS, workdir=tmp)  # fmt: skip
    return {"run": run, "rejections": rejections, "health": health, "stored": stored,
            "listed": listed.stdout}  # fmt: skip


@pytest.fixture(scope="module")
def stalling(tmp_path_factory):
    """One crawl: endless, slowloris, silent, a public source redirecting inward, a normal one."""
    servers = {mode: HostileServer(mode) for mode in ("endless", "slowloris", "silent")}
    normal, normal_source = normal_site()
    pub = f"http://{PUBLIC}"
    proxy = LocalSite({  # stands in for the internet: answers for the public address
        f"{pub}/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {}),
        f"{pub}/feed/": feed(pub, ["/metadata", "/intranet", "/story"]),
        f"{pub}/metadata": ("text/html", b"", {"Status": "302",
                            "Location": "http://169.254.169.254/latest/meta-data/"}),
        f"{pub}/intranet": ("text/html", b"", {"Status": "302",
                            "Location": f"http://{INTRANET}/admin"}),
        f"{pub}/story": ("text/html", article("Публичная"), {}),
    })  # fmt: skip
    proxy_log = proxy.server.RequestHandlerClass.log = []
    sources = [source(mode, s.base + "/", feeds=[s.base + "/feed/"]) for mode, s in servers.items()]
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


@pytest.mark.parametrize("mode", ["slowloris", "silent"])
def test_slow_and_silent_servers_are_cut_at_the_timeout(stalling, mode):
    """One byte a second, or not even a status line: each connection, robots.txt's included,
    is dropped by the client at the timeout; the feed's is recorded as a fetch error."""
    server = stalling["servers"][mode]
    [(reason, url, detail)] = rejected(stalling, mode)
    assert (reason, url) == ("fetch_error", server.base + "/feed/")
    assert detail.startswith("DownloadTimeoutError") and f"{TIMEOUT}.0 seconds" in detail
    assert sorted(h.path for h in server.hits) == ["/feed/", "/robots.txt"]  # retries = 0
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
        ("private_address", "http://169.254.169.254/latest/meta-data/",
         "PrivateAddressRefused: refused non-public address for 169.254.169.254 "
         "(http://169.254.169.254/latest/meta-data/)"),
        ("private_address", f"http://{INTRANET}/admin",
         f"PrivateAddressRefused: refused non-public address for {INTRANET} "
         f"(http://{INTRANET}/admin)"),
    ]  # fmt: skip
    assert sorted(url for url, _ in stalling["proxy_log"]) == [
        f"http://{PUBLIC}/{path}"
        for path in ("feed/", "intranet", "metadata", "robots.txt", "story")  # fmt: skip
    ]
    assert stalling["run"].connects == []
    health = stalling["health"]["public"]
    assert health["errors"] == {"private_address": 2} and health["new"] == 1  # /story


def test_stalling_servers_cost_bounded_time_and_memory_and_stop_no_other_source(stalling):
    assert stalling["stored"] == {"normal": 5, "public": 1}
    normal = stalling["health"]["normal"]
    assert (normal["new"], normal["errors"], normal["problem"]) == (5, {}, None)
    # robots.txt, then the feed: two timeouts for a stalling server, side by side
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


def test_pages_of_links_cost_bounded_time_and_memory_and_stop_no_other_source(many_links):
    assert many_links["stored"] == {"many-links": MAX_PAGES, "big-sitemap": MAX_PAGES,
                                    "normal": 5}  # fmt: skip
    assert many_links["health"]["normal"]["errors"] == {}
    assert many_links["run"].seconds < 25, many_links["run"].seconds  # ~9 s here
    assert many_links["run"].peak_rss_mb < PEAK_RSS_MB
