"""Crawling from several processes through a Redis frontier: two crawler processes against
one, and against the plain single-process crawl, on a local site that answers every article
after 200 ms (a distant server). Pages per second are counted at the server, from the first
article requested to the last answered (process start-up aside; the wall time with start-up
is shown too); duplicates are articles fetched more than once.

Needs redis-server (Debian: apt-get install redis-server) and narrascope[redis].

Run: python -m bench.bench_crawl_frontier [PAGES]   (default 200; REPEATS=3)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path

LATENCY = 0.2
REPEATS = int(os.environ.get("REPEATS", 3))
ROOT = Path(__file__).resolve().parents[1]
CONFIG = "[crawl]\ndownload_delay = 0\nautothrottle = false\nlog_level = 'ERROR'\n"


def serve(pages: int):
    from crawlers.demo import render
    from crawlers.demo.server import RoutesHandler

    routes, stamps = {}, []
    handler = type("SlowHandler", (RoutesHandler,), {"routes": routes, "stamps": stamps})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    base = f"http://127.0.0.1:{server.server_address[1]}"
    text = "Официальные лица снова заявили, что переговоры о перемирии зашли в тупик. " * 6
    for i in range(pages):
        html = render.mirror_page(title=f"Статья {i}", paragraphs=[f"{i}. {text}"] * 6,
                                  date="2026-10-01", lang="ru", related=[])  # fmt: skip
        routes[f"/a/{i}.html"] = ("text/html; charset=utf-8", html.encode(), {"Delay": LATENCY})
    urls = [(f"{base}/a/{i}.html", "") for i in range(pages)]
    routes["/sitemap.xml"] = ("application/xml", render.sitemap(urls).encode(), {})
    routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base, stamps


def sources_toml(base: str) -> str:
    return (f'[[source]]\nname = "slow"\nhome = "{base}/"\nsitemaps = ["{base}/sitemap.xml"]\n'
            'allowed_domains = ["127.0.0.1"]\nallow_private = true\ncrawl_delay = 0\n'
            "max_pages = 100000\n")  # fmt: skip


def start_redis() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def cli(tmp: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "NARRASCOPE_CONFIG": "", "PYTHONPATH": str(ROOT),
           "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}  # fmt: skip
    cmd = [sys.executable, "-m", "pipeline.cli", "--config", str(tmp / "c.toml"), *args,
           "--sources", str(tmp / "s.toml")]  # fmt: skip
    return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=600)
    if proc.returncode:
        raise SystemExit(f"exited {proc.returncode}: {out}\n{err}")


def measure(name: str, pages: int, crawlers: int, url: str | None) -> dict:
    server, base, stamps = serve(pages)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.toml").write_text(sources_toml(base))
        (tmp / "c.toml").write_text(CONFIG)
        db = str(tmp / "b.duckdb")
        started = time.monotonic()
        if url is None:
            finish(cli(tmp, "--db", db, "crawl"))
        else:
            ingest = cli(tmp, "--db", db, "ingest", "--frontier", url)
            procs = [cli(tmp, "crawl", "--frontier", url) for _ in range(crawlers)]
            for proc in [*procs, ingest]:
                finish(proc)
        wall = time.monotonic() - started
        import duckdb

        with duckdb.connect(db, read_only=True) as con:
            stored = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    server.shutdown()
    server.server_close()
    articles = [(path, t) for path, _status, t in stamps if path.startswith("/a/")]
    fetched = Counter(path for path, _ in articles)
    times = [t for _, t in articles]
    span = max(times) - min(times) + LATENCY  # the first answer came LATENCY after its request
    return {"run": name, "crawlers": crawlers, "pages": len(fetched), "stored": stored,
            "duplicates": sum(n - 1 for n in fetched.values()),
            "pages_s": len(fetched) / span, "wall": wall}  # fmt: skip


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    redis_proc, url = start_redis()
    runs = [("crawl (one process, no Redis)", 1, None), ("crawl --frontier, 1 crawler", 1, url),
            ("crawl --frontier, 2 crawlers", 2, url)]  # fmt: skip
    try:
        # interleaved repeats, the median run of each kind (a shared machine is noisy)
        trials = [[measure(name, pages, n, u) for name, n, u in runs] for _ in range(REPEATS)]
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    rows = []
    for kind in range(len(runs)):
        ordered = sorted((t[kind] for t in trials), key=lambda r: r["pages_s"])
        rows.append({**ordered[len(ordered) // 2],
                     "all": ", ".join(f"{r['pages_s']:.1f}" for r in ordered),
                     "duplicates": sum(r["duplicates"] for r in ordered)})  # fmt: skip
    one = rows[1]["pages_s"]
    print(f"\n{pages} article pages, {LATENCY * 1000:.0f} ms latency each, "
          f"concurrent_per_domain 4 per crawler, no download delay; {os.cpu_count()} CPUs\n")  # fmt: skip
    print(f"median of {REPEATS} interleaved runs each; duplicate fetches summed over all runs\n")
    print("| run | pages fetched | stored | duplicate fetches | pages/s | vs 1 crawler "
          "| wall s | pages/s, every run |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['run']} | {r['pages']} | {r['stored']} | {r['duplicates']} | "
              f"{r['pages_s']:.1f} | {r['pages_s'] / one:.2f}x | {r['wall']:.1f} | {r['all']} |")  # fmt: skip


if __name__ == "__main__":
    main()
