"""Politeness and safety: robots.txt (and its per-source override), private addresses after
redirects, decoding, size limits, gzip bombs, redirect loops."""

import gzip
from datetime import UTC, datetime

from crawlers.demo import render
from crawlers.safety import retry_after_seconds
from storage.documents import decompress_html
from tests.conftest import LocalSite
from tests.crawlers.test_spiders import PARA, article, crawl, rows, sources_file

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


def test_robots_txt_is_obeyed_unless_the_source_overrides_it(tmp_path, local_site):
    site = local_site({
        "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private/\n", {}),
        "/private/a": ("text/html", article("Закрытая"), {}),
        "/open/b": ("text/html", article("Открытая"), {}),
    })  # fmt: skip
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00", "summary": "s"}
             for p in ("/private/a", "/open/b")]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    out = crawl(tmp_path, sources)
    assert "1 new" in out and "robots_txt 1" in out
    override = tmp_path / "override"
    override.mkdir()
    sources = sources_file(override, home=site.base + "/", feeds=[site.base + "/feed/"],
                           obey_robots=False)  # fmt: skip
    assert "2 new" in crawl(override, sources)


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
