"""Crawl throughput and memory: narrascope's crawl (state lookups, conditional headers, WARC,
DuckDB writes) against a bare scrapy spider fetching the same pages and storing nothing.

A local site serves N article pages (about 6 KB each) listed in one sitemap. Each crawl runs
in its own process; peak RSS is that process's. A third run crawls the same site again with
50,000 extra URLs already in the crawl state, to show memory does not grow with URLs seen.
Then the same pages are reached only by following links (each page links to two further
pages, the home page and two navigation pages, as a site's "related" list and menu do):
narrascope's link-following against a bare scrapy CrawlSpider.

Run: python -m bench.bench_crawl [1000 5000]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

CONCURRENCY = 16
REPEATS = 3


def serve(pages: int, linked: bool = False) -> tuple[ThreadingHTTPServer, str]:
    from crawlers.demo import render
    from crawlers.demo.server import RoutesHandler

    paragraph = ("Официальные лица снова заявили, что переговоры о перемирии зашли в тупик, "
                 "потому что западные столицы не готовы обсуждать условия другой стороны. ") * 3  # fmt: skip
    routes = {}
    handler = type("BenchHandler", (RoutesHandler,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for i in range(pages):
        related = [(f"/a/{k}.html", f"Статья номер {k}") for k in (2 * i + 1, 2 * i + 2)
                   if linked and k < pages]  # fmt: skip
        html = render.mirror_page(title=f"Статья номер {i}", paragraphs=[f"{i}. {paragraph}"] * 8,
                                  date="2026-10-01", lang="ru", related=related)  # fmt: skip
        routes[f"/a/{i}.html"] = ("text/html; charset=utf-8", html.encode(), {})
    urls = [(f"{base}/a/{i}.html", "") for i in range(pages)]
    routes["/sitemap.xml"] = ("application/xml", render.sitemap(urls).encode(), {})
    menu = b'<html><body><a href="/a/0.html">news</a><a href="/news/">all</a></body></html>'
    routes["/"] = routes["/news/"] = ("text/html", menu, {})
    routes["/contacts.html"] = ("text/html", b"<html><body><p>Contacts.</p></body></html>", {})
    routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


def child_narrascope(base: str, db: str, seed_state: int, linked: bool = False) -> dict:
    import scrapy.crawler  # noqa: F401  (imported before the clock starts, as the bare spider is)

    import crawlers.spiders.sources  # noqa: F401
    from crawlers.runner import run_crawl
    from crawlers.sources import Source
    from storage import connect

    if seed_state:
        with connect(db) as con:
            con.execute(
                "INSERT INTO crawl_state SELECT 'https://seen.example/' || i, 'old', 'page', "
                "'\"e' || i || '\"', NULL, md5(i::VARCHAR), NULL, 200, now(), now(), 1 "
                "FROM range(?) t(i)",
                [seed_state],
            )
    entry = (
        {"follow_links": True, "max_depth": 64} if linked else {"sitemaps": [base + "/sitemap.xml"]}
    )
    source = Source(name="bench", home=base + "/", allowed_domains=["127.0.0.1"],
                    allow_private=True, max_pages=10**6, **entry)  # fmt: skip
    crawl = {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": CONCURRENCY,
             "warc_dir": str(Path(db).parent / "warc")}  # fmt: skip
    started = time.perf_counter()
    summary = run_crawl(db, [source], crawl)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "stored": summary.get("new", 0), "responses": summary["responses"]}


def child_bare(base: str, linked: bool = False) -> dict:
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.linkextractors import LinkExtractor
    from scrapy.spiders import CrawlSpider, Rule

    class Bare(scrapy.spiders.SitemapSpider):
        name = "bare"
        sitemap_urls = [base + "/sitemap.xml"]

        def parse(self, response):
            return None

    class BareLinked(CrawlSpider):
        name = "bare-linked"
        start_urls = [base + "/"]
        rules = (Rule(LinkExtractor(), follow=True),)

    started = time.perf_counter()  # as for narrascope: from setting scrapy up to the end
    process = CrawlerProcess({"LOG_LEVEL": "WARNING", "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
                              "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True,
                              "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False})  # fmt: skip
    crawler = process.create_crawler(BareLinked if linked else Bare)
    process.crawl(crawler)
    process.start()
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "stored": 0,
            "responses": crawler.stats.get_value("downloader/response_count")}  # fmt: skip


def measure(kind: str, base: str, db: str = "", seed: int = 0, linked: bool = False) -> dict:
    """The median of REPEATS runs (by time), each in a fresh process (and a fresh database):
    single runs on a 2-core machine vary by 20% or more."""
    runs = []
    for i in range(REPEATS):
        fresh = str(Path(db).with_name(f"{Path(db).stem}-{i}.duckdb")) if db else ""
        runs.append(measure_once(kind, base, fresh, seed, linked))
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def measure_once(kind: str, base: str, db: str, seed: int, linked: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_crawl", "--child", kind, base, db, str(seed),
         "linked" if linked else "sitemap"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    print(f"Local site on 127.0.0.1, {CONCURRENCY} concurrent requests, no delay; each crawl "
          f"in its own process; the median of {REPEATS} runs.\n")  # fmt: skip
    print("| pages | reached by | crawler | pages/s | vs bare | peak RSS MiB | stored |")
    print("|---|---|---|---|---|---|---|")
    for listing in ("sitemap", "links"):
        linked = listing == "links"
        for pages in sizes:
            server, base = serve(pages, linked)
            with tempfile.TemporaryDirectory() as tmp:
                bare = measure("bare", base, linked=linked)
                ours = measure("narrascope", base, str(Path(tmp) / "a.duckdb"), linked=linked)
                runs = [("bare scrapy spider", bare), ("narrascope crawl", ours)]
                if pages == sizes[0] and not linked:
                    seeded = measure("narrascope", base, str(Path(tmp) / "b.duckdb"), 50_000)
                    runs.append(("narrascope crawl, 50,000 URLs already in crawl state", seeded))
            server.shutdown()
            server.server_close()
            for name, r in runs:
                rate = r["responses"] / r["seconds"]
                ratio = "" if r is bare else f"{rate / (bare['responses'] / bare['seconds']):.0%}"
                print(f"| {pages:,} | {listing} | {name} | {rate:.0f} | {ratio} | "
                      f"{r['rss_mib']:.0f} | {r['stored']:,} |")  # fmt: skip


def child(argv: list[str]) -> None:
    kind, base, db, seed, listing = argv
    linked = listing == "linked"
    result = (child_bare(base, linked) if kind == "bare"
              else child_narrascope(base, db, int(seed), linked))  # fmt: skip
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main([int(a) for a in sys.argv[1:]] or [1000, 5000])
