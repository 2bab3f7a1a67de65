"""Politeness and safety: private addresses after redirects, decoding, size limits, gzip
bombs, redirect loops, retries (robots.txt: test_robots.py)."""

import gzip
from datetime import UTC, datetime

from crawlers.demo import render
from crawlers.safety import retry_after_seconds
from storage.documents import decompress_html
from tests.conftest import LocalSite, run_cli
from tests.crawlers.test_spiders import FAST, PARA, article, crawl, rows, sources_file

PUBLIC_IP = "93.184.215.14"  # a globally routable address literal: no DNS needed


def test_a_public_source_redirecting_to_loopback_is_refused(tmp_path, monkeypatch):
    """The source does not allow private addresses. Its public URL is reached through an HTTP
    proxy (a local server standing in for the internet), which answers with a redirect to
    127.0.0.1: the redirect target is checked again, and refused."""
    secret = {"/secret": ("text/html", article("Внутренняя страница"), {})}
    internal = LocalSite(secret)
    proxy = LocalSite({
        f"http://{PUBLIC_IP}/feed/": ("application/rss+xml", render.rss(
            title="p", link=f"http://{PUBLIC_IP}/", items=[{"title": "t",
            "url": f"http://{PUBLIC_IP}/story", "date": "2026-10-01T10:00:00+00:00",
            "summary": "s"}]).encode(), {}),
        f"http://{PUBLIC_IP}/story": ("text/html", b"", {"Status": "302",
                                      "Location": f"{internal.base}/secret"}),
        f"http://{PUBLIC_IP}/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {}),
    })  # fmt: skip
    internal_log = internal.server.RequestHandlerClass.log = []
    try:
        monkeypatch.setenv("http_proxy", proxy.base)
        monkeypatch.setenv("no_proxy", "")
        sources = sources_file(tmp_path, home=f"http://{PUBLIC_IP}/",
                               feeds=[f"http://{PUBLIC_IP}/feed/"], allow_private=False)  # fmt: skip
        out = crawl(tmp_path, sources)
    finally:
        internal.close()
        proxy.close()
    assert "0 new" in out and "private_address 1" in out
    assert internal_log == []  # the loopback server never saw a request
    [(reason, url)] = rows(tmp_path, "SELECT reason, url FROM rejections")
    assert reason == "private_address" and url == f"{internal.base}/secret"


def test_listings_cannot_point_the_crawler_at_local_files(tmp_path, local_site):
    """A sitemap index on the site names a child sitemap at file://<the site's host>/...: a
    sitemap on the crawl machine's own disk, listing a page that only it names. The crawler
    reads no local file (that page is never requested), and a file:// entry point in the
    sources file is refused with its reason."""
    site = local_site({})
    log = site.server.RequestHandlerClass.log = []
    b = site.base
    site.routes["/a/0"] = ("text/html; charset=utf-8", article("Статья 0"), {})
    site.routes["/a/secret"] = ("text/html; charset=utf-8", article("Секретная"), {})
    local = tmp_path / "local-sitemap.xml"
    local.write_text(render.sitemap([(f"{b}/a/secret", "2026-10-01")]), encoding="utf-8")
    index = render.sitemap_index([f"file://127.0.0.1{local}", f"{b}/pages.xml"])
    site.routes["/sitemap.xml"] = ("application/xml", index.encode(), {})
    urlset = render.sitemap([(f"{b}/a/0", "2026-10-01")])
    site.routes["/pages.xml"] = ("application/xml", urlset.encode(), {})
    sources = sources_file(tmp_path, home=b + "/", sitemaps=[b + "/sitemap.xml", local.as_uri()])
    out = crawl(tmp_path, sources)
    assert "1 new" in out
    assert "/a/secret" not in [path for path, _ in log]
    assert rows(tmp_path, "SELECT reason, url FROM rejections") == [
        ("unsupported_scheme", local.as_uri())
    ]


class EndlessSitemaps(dict):
    """/sm/N.xml: a sitemap index naming /sm/N+1.xml, without end; /wide.xml: an index of 300
    sitemaps, /w/N.xml, each listing nothing."""

    base = ""

    def get(self, path, default=None):
        if path.startswith("/sm/"):
            n = int(path.removeprefix("/sm/").removesuffix(".xml"))
            index = render.sitemap_index([f"{self.base}/sm/{n + 1}.xml"])
            return "application/xml", index.encode(), {}
        if path.startswith("/w/"):
            return "application/xml", render.sitemap([]).encode(), {}
        return super().get(path, default)


def test_sitemap_indexes_are_read_to_a_depth_and_a_count(tmp_path, local_site):
    """An index that names a new index on every read, and one that names 300 sitemaps: the
    first is read 3 deep, the second to 200 sitemaps, and each cut is recorded once."""
    routes = EndlessSitemaps()
    site = local_site(routes)
    log = site.server.RequestHandlerClass.log = []
    b = routes.base = site.base
    wide = [f"{b}/w/{i}.xml" for i in range(300)]
    routes["/wide.xml"] = ("application/xml", render.sitemap_index(wide).encode(), {})
    (tmp_path / "sources.toml").write_text("".join(
        f'[[source]]\nname = "{name}"\nhome = "{b}/"\nsitemaps = ["{b}{path}"]\n'
        "allow_private = true\n" for name, path in (("deep", "/sm/0.xml"), ("wide", "/wide.xml"))
    ), encoding="utf-8")  # fmt: skip
    crawl(tmp_path, str(tmp_path / "sources.toml"))
    paths = [path for path, _ in log]
    assert sorted(p for p in paths if p.startswith("/sm/")) == [f"/sm/{n}.xml" for n in range(4)]
    assert sum(p.startswith("/w/") for p in paths) == 200
    assert sorted(rows(tmp_path, "SELECT source, reason, url FROM rejections")) == [
        ("deep", "too_many_sitemaps", f"{b}/sm/4.xml"),
        ("wide", "too_many_sitemaps", f"{b}/w/200.xml"),
    ]


def test_a_sources_private_allowance_covers_its_own_hosts_only(tmp_path, local_site):
    """Two sources allow private addresses, each for its own host: "intra" at localhost and
    "local" at 127.0.0.1. A page of "local" redirects to intra's server under intra's name:
    refused, as for a source that allows none (another source's allowance is not its own)."""
    intra = local_site({"/secret": ("text/html", article("Внутренняя"), {})})
    intra_log = intra.server.RequestHandlerClass.log = []
    inside = f"http://localhost:{intra.server.server_address[1]}"
    intra.routes["/feed/"] = ("application/rss+xml", render.rss(title="i", link=inside + "/",
                              items=[]).encode(), {})  # fmt: skip
    site = local_site({"/go": ("text/html", b"", {"Status": "302", "Location": inside + "/secret"}),
                       "/n/0": ("text/html", article("Обычная"), {})})  # fmt: skip
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/go", "/n/0")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    entries = [("intra", inside), ("local", site.base)]
    (tmp_path / "sources.toml").write_text("".join(
        f'[[source]]\nname = "{name}"\nhome = "{home}/"\nfeeds = ["{home}/feed/"]\n'
        "allow_private = true\n" for name, home in entries), encoding="utf-8")  # fmt: skip
    out = crawl(tmp_path, str(tmp_path / "sources.toml"))
    assert "1 new" in out
    assert [path for path, _ in intra_log] == ["/robots.txt", "/feed/"]
    [(source, reason, url)] = rows(tmp_path, "SELECT source, reason, url FROM rejections")
    assert (source, reason, url) == ("local", "private_address", inside + "/secret")


def test_a_robots_txt_redirect_does_not_reach_another_sources_private_host(tmp_path, local_site):
    """The robots.txt of "intra" (localhost) redirects to a file on "local"'s host
    (127.0.0.1), each source allowing private addresses for its own host. Before, the request
    of no source went by every source's allowance: the file was fetched and its Disallow kept
    intra's article out as robots_txt."""
    site = local_site({"/secret-robots.txt": ("text/plain", b"User-agent: *\nDisallow: /i/\n", {}),
                       "/n/0": ("text/html", article("Обычная"), {})})  # fmt: skip
    log = site.server.RequestHandlerClass.log = []
    intra = local_site({"/i/0": ("text/html", article("Внутренняя"), {})})
    inside = f"http://localhost:{intra.server.server_address[1]}"
    intra.routes["/robots.txt"] = ("text/plain", b"",
                                   {"Status": "302", "Location": site.base + "/secret-robots.txt"})  # fmt: skip
    for server, home, path in ((intra, inside, "/i/0"), (site, site.base, "/n/0")):
        items = [{"title": "t", "url": home + path, "date": "2026-10-01T10:00:00+00:00",
                  "summary": "s"}]  # fmt: skip
        server.routes["/feed/"] = ("application/rss+xml",
                                   render.rss(title="t", link=home + "/", items=items).encode(), {})  # fmt: skip
    (tmp_path / "sources.toml").write_text("".join(
        f'[[source]]\nname = "{name}"\nhome = "{home}/"\nfeeds = ["{home}/feed/"]\n'
        "allow_private = true\n" for name, home in (("intra", inside), ("local", site.base))
    ), encoding="utf-8")  # fmt: skip
    (tmp_path / "narrascope.toml").write_text(FAST)
    proc = run_cli("--config", str(tmp_path / "narrascope.toml"), "crawl", "--sources",
                   str(tmp_path / "sources.toml"), db=tmp_path / "n.duckdb")  # fmt: skip
    assert "2 new" in proc.stdout, proc.stdout
    assert "/secret-robots.txt" not in [path for path, _ in log]
    assert rows(tmp_path, "SELECT count(*) FROM rejections") == [(0,)]  # no robots_txt
    # and the crawl says that intra's rules went unread, and why (before: not a word)
    assert (
        f"localhost:{intra.server.server_address[1]}: robots.txt was not read (refused non-public "
        f"address for 127.0.0.1 ({site.base}/secret-robots.txt)); its pages are crawled as if "
        "it had none"
    ) in proc.stderr, proc.stderr


def test_a_robots_txt_redirect_within_its_own_sources_allowance_is_followed(tmp_path, local_site):
    """One source allowing private addresses for two names of its server: its robots.txt at
    localhost redirects to the file at 127.0.0.1, which it allows too. The file is read and
    its Disallow kept (judged by the host alone, the redirect was refused and the site's
    rules went unread, as if it had none)."""
    site = local_site({"/real-robots.txt": ("text/plain", b"User-agent: *\nDisallow: /i/\n", {})})
    log = site.server.RequestHandlerClass.log = []
    home = f"http://localhost:{site.server.server_address[1]}"
    site.routes["/robots.txt"] = ("text/plain", b"",
                                  {"Status": "302", "Location": site.base + "/real-robots.txt"})  # fmt: skip
    site.routes["/i/0"] = ("text/html", article("Внутренняя"), {})
    items = [
        {"title": "t", "url": home + "/i/0", "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
    ]
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=home + "/", items=items).encode(), {})  # fmt: skip
    (tmp_path / "sources.toml").write_text(
        f'[[source]]\nname = "intra"\nhome = "{home}/"\nfeeds = ["{home}/feed/"]\n'
        'allowed_domains = ["localhost", "127.0.0.1"]\nallow_private = true\n', encoding="utf-8")  # fmt: skip
    crawl(tmp_path, str(tmp_path / "sources.toml"))
    assert "/real-robots.txt" in [path for path, _ in log]
    assert rows(tmp_path, "SELECT source, reason, url FROM rejections") == [
        ("intra", "robots_txt", home + "/i/0")
    ]


def test_a_trailing_dot_is_no_part_of_a_host_name():
    """`sources add http://intranet.corp.:8080/ --allow-private` allows the name it was given
    with its dot, which the requests name without it (they were refused)."""
    from crawlers.sources import host_matches

    assert host_matches("intranet.corp", ["intranet.corp."])
    assert host_matches("www.intranet.corp.", ["intranet.corp"])
    assert not host_matches("intranet.corp.evil", ["intranet.corp."])


def crawl_a_redirect_to(tmp_path, name: str, more_sources: str = "") -> tuple[str, list, list]:
    """Crawl, in the guarded subprocess, a 127.0.0.1 source whose feed lists /n/0 and /go,
    which redirects to /inside at ``name`` on the same server; ``name`` fails its first lookup
    and answers 127.0.0.1 after. The redirect's URL, the server's log and the rejections."""
    from tests.support.hostile import run_guarded_cli

    site = LocalSite({"/n/0": ("text/html", article("Обычная"), {}),
                      "/inside": ("text/html", article("Внутренняя"), {})})  # fmt: skip
    log = site.server.RequestHandlerClass.log = []
    target = f"http://{name}:{site.server.server_address[1]}/inside"
    site.routes["/go"] = ("text/html", b"", {"Status": "302", "Location": target})
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/go", "/n/0")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[source]]\nname = "local"\nhome = "{site.base}/"\nfeeds = '
                       f'["{site.base}/feed/"]\nallow_private = true\n' + more_sources.format(
                       port=site.server.server_address[1], base=site.base), encoding="utf-8")  # fmt: skip
    (tmp_path / "narrascope.toml").write_text(FAST + "retries = 0\n")
    try:
        run = run_guarded_cli("--db", str(tmp_path / "n.duckdb"), "--config",
                              str(tmp_path / "narrascope.toml"), "crawl", "--sources",
                              str(sources), stub_hosts={name: [None, "127.0.0.1"]},
                              workdir=tmp_path)  # fmt: skip
    finally:
        site.close()
    assert run.returncode == 0, run.stderr
    assert "1 new" in run.stdout
    return target, log, rows(tmp_path, "SELECT source, reason, url FROM rejections")


def test_a_name_that_fails_to_resolve_and_then_answers_a_private_address_is_refused(tmp_path):
    """A redirect to a name whose name server fails the first lookup (the middleware's) and
    answers a loopback address to the next: the lookup the connection makes is checked too,
    so the page behind it is never requested, and the refusal is recorded as such."""
    target, log, rejections = crawl_a_redirect_to(tmp_path, "rebind.test")
    assert "/inside" not in [path for path, _ in log]
    assert rejections == [("local", "private_address", target)]


def test_another_sources_private_host_that_fails_its_first_lookup_is_refused(tmp_path):
    """Source "intra" allows private addresses for intra.test, so the connection's lookup
    lets intra.test answer one. A page of source "local" redirects there, and the name fails
    the middleware's lookup: for such a host that lookup is the only check, so it refuses."""
    intra = ('[[source]]\nname = "intra"\nhome = "http://intra.test:{port}/"\nfeeds = '
             '["{base}/nothing"]\nallowed_domains = ["intra.test"]\nallow_private = true\n')  # fmt: skip
    target, log, rejections = crawl_a_redirect_to(tmp_path, "intra.test", intra)
    assert "/inside" not in [path for path, _ in log]
    assert ("local", "private_address", target) in rejections


def test_a_proposed_sources_entry_is_valid_toml_and_lists_web_addresses_only():
    """`sources add` writes what a site's robots.txt and pages name: a character beyond the
    BMP (which JSON escapes as a surrogate pair, refused by TOML), DEL (which TOML forbids
    unescaped), a file:// sitemap (not the site)."""
    import tomllib

    from crawlers.probe import proposal

    found = {"feeds": ["https://x.example/лента-😀/"], "wordpress": False, "languages": ["ru"],
             "sitemaps": ["file:///etc/passwd", "https://x.example/s\x7f.xml"]}  # fmt: skip
    [entry] = tomllib.loads(proposal("https://x.example/", found, name="x 😀"))["source"]
    assert entry["name"] == "x 😀" and entry["feeds"] == found["feeds"]
    assert entry["sitemaps"] == ["https://x.example/s\x7f.xml"]


def test_decoding_limits_bombs_and_loops(tmp_path, local_site):
    koi8 = render.mirror_page(title="Новости", paragraphs=[PARA * 2] * 3, date="2026-10-01",
                              lang="ru")  # fmt: skip
    undeclared = koi8.replace('<meta charset="windows-1251">', "").replace(
        'charset=windows-1251', "")  # fmt: skip
    bomb = gzip.compress(b"<html><body>" + b"a" * 3_000_000 + b"</body></html>")
    routes = {
        "/koi8": ("text/html; charset=koi8-r", koi8.encode("koi8-r"), {}),
        # no charset anywhere: detection decides (charset-normalizer)
        "/undeclared": ("text/html", undeclared.encode("cp1251"), {}),
        "/bomb": ("text/html", bomb, {"Content-Encoding": "gzip"}),
        "/big": ("text/html", b"<html><body>" + b"x" * 1_200_000 + b"</body></html>", {}),
        "/loop1": ("text/html", b"", {"Status": "302", "Location": "/loop2"}),
        "/loop2": ("text/html", b"", {"Status": "302", "Location": "/loop1"}),
        "/photo.jpg": ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\0" * 2000, {}),
    }
    site = local_site(routes)
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in routes]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    out = crawl(tmp_path, sources, "max_bytes = 1000000\nretries = 0\n")
    assert "2 new" in out
    reasons = dict(rows(tmp_path, "SELECT url, reason FROM rejections"))
    assert reasons == {
        site.base + "/bomb": "too_large",
        site.base + "/big": "too_large",
        site.base + "/loop1": "redirect_loop",
        site.base + "/loop2": "redirect_loop",
        site.base + "/photo.jpg": "not_html",
    }
    html = {u: decompress_html(z) for u, z in rows(tmp_path, "SELECT url, html_zlib FROM "
                                                     "document_versions")}  # fmt: skip
    assert "Официальные лица" in html[site.base + "/koi8"]
    assert "Официальные лица" in html[site.base + "/undeclared"]


def test_retries_back_off_and_honour_retry_after(tmp_path, local_site):
    site = local_site({"/flaky": ("text/html", article("Со второго раза"), {"Fail": "503:1"})})
    stamps = site.server.RequestHandlerClass.stamps = []
    items = [{"title": "f", "url": site.base + "/flaky", "date": "2026-10-01T10:00:00+00:00",
              "summary": "s"}]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    assert "1 new" in crawl(tmp_path, sources)
    tries = [(status, at) for path, status, at in stamps if path == "/flaky"]
    assert [s for s, _ in tries] == [503, 200]
    assert tries[1][1] - tries[0][1] >= 1.0  # waited as Retry-After asked


def test_one_dead_url_does_not_slow_the_rest_of_its_host(tmp_path, local_site):
    """Backoff raises the delay of the host's download slot; the answers that follow bring it
    back down, so the pages of another source on that host are not fetched at the dead
    feed's pace for the rest of the run (12 pages 2 s apart before)."""
    pages = {f"/ok/{i}": ("text/html", article(f"Статья {i}"), {}) for i in range(12)}
    items = [{"title": p, "url": "", "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in pages]  # fmt: skip
    site = local_site({**pages, "/dead/": ("text/html", b"", {"Status": "500"})})
    for item in items:
        item["url"] = site.base + item["title"]
    site.routes["/feed/"] = ("application/rss+xml",  # slow: the dead feed fails meanwhile
                             render.rss(title="t", link=site.base, items=items).encode(),
                             {"Delay": "3"})  # fmt: skip
    stamps = site.server.RequestHandlerClass.stamps = []
    path = tmp_path / "sources.toml"
    path.write_text(f"""
[[source]]
name = "dead"
home = "{site.base}/"
feeds = ["{site.base}/dead/"]
allow_private = true
[[source]]
name = "alive"
home = "{site.base}/"
feeds = ["{site.base}/feed/"]
allow_private = true
""")
    assert "12 new" in crawl(tmp_path, str(path), "retries = 2\nconcurrent_per_domain = 1\n")
    dead = [at for p, _, at in stamps if p == "/dead/"]
    ok = sorted(at for p, _, at in stamps if p.startswith("/ok/"))
    assert len(dead) == 3 and len(ok) == 12
    assert ok[-1] - ok[0] < 8, [round(b - a, 1) for a, b in zip(ok, ok[1:], strict=False)]


def test_retry_after_is_read_as_seconds_or_as_a_date():
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert retry_after_seconds(b"5", now) == 5.0
    assert retry_after_seconds(b"Thu, 26 Nov 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_seconds(b"Thu, 26 Nov 2026 09:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds(b"soon", now) == retry_after_seconds(None, now) == 0.0
    assert retry_after_seconds(b"-3", now) == 0.0


def test_scrapy_fetches_http_and_https_only():
    """Behind the middleware's scheme check, scrapy itself has no handler for file://, ftp://,
    s3:// or data: URLs (its file handler reads a local file whole, with no size limit)."""
    from crawlers.runner import scrapy_settings

    handlers = scrapy_settings("n.duckdb", "run", {})["DOWNLOAD_HANDLERS"]
    assert {scheme: handlers.get(scheme, "on") for scheme in ("file", "ftp", "s3", "data")} == {
        "file": None, "ftp": None, "s3": None, "data": None}  # fmt: skip


def test_allowed_domains_match_as_scrapy_names_hosts(tmp_path, local_site):
    """A domain written in capitals, with a trailing dot or in Unicode is the host scrapy asks
    for (lower case, IDNA): the source's pages are its own, and its private allowance holds.
    Before, ``allowed_domains = ["LocalHost."]`` refused every listed page as off-site."""
    from crawlers.sources import Source, private_hosts

    site = local_site({"/n/0": ("text/html", article("Обычная"), {})})
    home = f"http://localhost:{site.server.server_address[1]}"
    items = [{"title": "n", "url": home + "/n/0", "date": "2026-10-01T10:00:00+00:00",
              "summary": "s"}]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=home + "/", items=items).encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=home + "/", feeds=[home + "/feed/"],
                           allowed_domains=["LocalHost."])  # fmt: skip
    assert "1 new" in crawl(tmp_path, sources)
    assert rows(tmp_path, "SELECT url FROM document_versions") == [(home + "/n/0",)]
    source = Source("ru", "https://пример.рф/", allowed_domains=["ПРИМЕР.рф"], allow_private=True)
    assert source.allowed_domains == ["xn--e1afmkfd.xn--p1ai"]
    assert source.allows("https://www.Пример.РФ/a") and source.allows(
        "https://xn--e1afmkfd.xn--p1ai/"
    )
    assert not source.allows("https://example.org/")
    assert private_hosts([source]) == {"xn--e1afmkfd.xn--p1ai"}


def test_a_listed_date_past_the_calendars_end_loses_no_page(tmp_path, local_site):
    """A sitemap gives one of its pages the lastmod 9999-12-31: a time "a day and a half
    later" is past what Python's datetime holds. That page and the ones listed after it are
    fetched like the others; before, the sitemap's read stopped there with an OverflowError,
    and the crawl said "ok, 1 new" with no rejection for the two pages it never asked for."""
    site = local_site({f"/a/{i}": ("text/html; charset=utf-8", article(f"Статья {i}"), {})
                       for i in range(3)})  # fmt: skip
    b = site.base
    urlset = render.sitemap([(f"{b}/a/0", "2026-10-01"), (f"{b}/a/1", "9999-12-31"),
                             (f"{b}/a/2", "2026-10-01")])  # fmt: skip
    site.routes["/s.xml"] = ("application/xml", urlset.encode(), {})
    out = crawl(tmp_path, sources_file(tmp_path, home=b + "/", sitemaps=[b + "/s.xml"]))
    assert "3 new" in out
    assert sorted(u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")) == [
        f"{b}/a/{i}" for i in range(3)
    ]
