"""Crawl throughput and memory: narrascope's crawl (state lookups, conditional headers, WARC,
DuckDB writes) against a bare scrapy spider fetching the same pages and storing nothing.

A local site serves N article pages (about 6 KB each) listed in one sitemap. Each crawl runs
in its own process; peak RSS is that process's. A third run crawls the same site again with
50,000 extra URLs already in the crawl state, to show memory does not grow with URLs seen.

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


def serve(pages: int) -> tuple[ThreadingHTTPServer, str]:
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
        html = render.mirror_page(title=f"Статья номер {i}", paragraphs=[f"{i}. {paragraph}"] * 8,
                                  date="2026-10-01", lang="ru")  # fmt: skip
        routes[f"/a/{i}.html"] = ("text/html; charset=utf-8", html.encode(), {})
    urls = [(f"{base}/a/{i}.html", "") for i in range(pages)]
    routes["/sitemap.xml"] = ("application/xml", render.sitemap(urls).encode(), {})
    routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


def child_narrascope(base: str, db: str, seed_state: int) -> dict:
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
    source = Source(name="bench", home=base + "/", sitemaps=[base + "/sitemap.xml"],
                    allowed_domains=["127.0.0.1"], allow_private=True, max_pages=10**6)  # fmt: skip
    crawl = {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": CONCURRENCY,
             "warc_dir": str(Path(db).parent / "warc")}  # fmt: skip
    started = time.perf_counter()
    summary = run_crawl(db, [source], crawl)
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "stored": summary.get("new", 0), "responses": summary["responses"]}


def child_bare(base: str) -> dict:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Bare(scrapy.spiders.SitemapSpider):
        name = "bare"
        sitemap_urls = [base + "/sitemap.xml"]

        def parse(self, response):
            return None

    process = CrawlerProcess({"LOG_LEVEL": "WARNING", "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
                              "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True,
                              "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False})  # fmt: skip
    crawler = process.create_crawler(Bare)
    process.crawl(crawler)
    started = time.perf_counter()
    process.start()
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "stored": 0,
            "responses": crawler.stats.get_value("downloader/response_count")}  # fmt: skip


def measure(kind: str, base: str, db: str = "", seed: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_crawl", "--child", kind, base, db, str(seed)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    print(f"Local site on 127.0.0.1, pages listed in one sitemap, {CONCURRENCY} concurrent "
          "requests, no delay; each crawl in its own process.\n")  # fmt: skip
    print("| pages | crawler | pages/s | vs bare | peak RSS MiB | stored |")
    print("|---|---|---|---|---|---|")
    for pages in sizes:
        server, base = serve(pages)
        with tempfile.TemporaryDirectory() as tmp:
            bare = measure("bare", base)
            ours = measure("narrascope", base, str(Path(tmp) / "a.duckdb"))
            runs = [("bare scrapy spider", bare), ("narrascope crawl", ours)]
            if pages == sizes[0]:
                seeded = measure("narrascope", base, str(Path(tmp) / "b.duckdb"), 50_000)
                runs.append(("narrascope crawl, 50,000 URLs already in crawl state", seeded))
        server.shutdown()
        server.server_close()
        for name, r in runs:
            rate = r["responses"] / r["seconds"]
            ratio = "" if r is bare else f"{rate / (bare['responses'] / bare['seconds']):.0%}"
            print(f"| {pages:,} | {name} | {rate:.0f} | {ratio} | {r['rss_mib']:.0f} | "
                  f"{r['stored']:,} |")  # fmt: skip


def child(argv: list[str]) -> None:
    kind, base, db, seed = argv
    result = child_bare(base) if kind == "bare" else child_narrascope(base, db, int(seed))
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main([int(a) for a in sys.argv[1:]] or [1000, 5000])
