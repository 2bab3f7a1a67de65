"""Evidence and operations: the WARC archive (and importing WARCs), source health, resuming an
interrupted crawl, probing a site for `sources add`."""

import io
import json
import os
import signal
import subprocess
import sys
import time

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawlers.demo import render
from storage import connect
from storage.documents import decompress_html
from tests.conftest import ROOT, run_cli
from tests.crawlers.test_spiders import FAST, article, crawl, rows, sources_file


def feed_site(local_site, pages: dict):
    site = local_site(dict(pages))
    items = [{"title": p, "url": site.base + p, "date": "2026-10-01T10:00:00+00:00",
              "summary": "s"} for p in pages]  # fmt: skip
    site.routes["/feed/"] = ("application/rss+xml",
                             render.rss(title="t", link=site.base, items=items).encode(), {})  # fmt: skip
    return site


def test_every_response_is_archived_and_pages_point_at_their_record(tmp_path, local_site):
    bodies = {f"/a/{i}": article(f"Статья {i}") for i in range(3)}
    site = feed_site(
        local_site, {p: ("text/html; charset=utf-8", b, {}) for p, b in bodies.items()}
    )
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    assert "3 new" in crawl(tmp_path, sources)
    pointers = rows(tmp_path, "SELECT v.url, m.warc_file, m.warc_offset, m.warc_length FROM "
                    "page_meta m JOIN document_versions v USING (doc_id, version)")  # fmt: skip
    assert len(pointers) == 3
    for url, file, offset, length in pointers:
        assert file.startswith(str(tmp_path / "warc")) and file.endswith(".warc.gz")
        with open(file, "rb") as f:
            f.seek(offset)
            record = next(iter(ArchiveIterator(io.BytesIO(f.read(length)))))
            assert record.rec_headers.get_header("WARC-Target-URI") == url
            assert record.content_stream().read() == bodies[url.removeprefix(site.base)]
    # the archive also holds what was not stored as a page: robots.txt, the feed
    with open(pointers[0][1], "rb") as f:
        uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f)]
    assert site.base + "/feed/" in uris
    # the archive re-imports into a fresh database with the same pages
    fresh = tmp_path / "fresh.duckdb"
    out = run_cli("import", pointers[0][1], db=fresh).stdout
    assert "3 new" in out
    run_cli("process", "--no-progress", "--stage", "extract", db=fresh)
    with __import__("storage").connect(fresh, read_only=True) as con:
        texts = dict(con.execute("SELECT url, text FROM v_documents").fetchall())
    assert set(texts) == {url for url, *_ in pointers}
    assert all("Официальные лица" in t for t in texts.values())


def test_an_archive_imports_the_pages_the_crawl_stored_not_its_listings(tmp_path, local_site):
    """narrascope's records name the callback that read them: a home page read for its links
    and a page followed for links that is no article are skipped on import, as the crawl
    skipped them, so rebuilding a store from its archives gives the same documents."""
    site = local_site({})
    links = '<a href="/story/1">one</a><a href="/story/2">two</a><a href="/about">about</a>'
    site.routes["/"] = ("text/html", f"<html><body>{links}</body></html>".encode(), {})
    for i in (1, 2):
        site.routes[f"/story/{i}"] = ("text/html", article(f"История {i}"), {})
    site.routes["/about"] = ("text/html", b"<html><body><p>About us.</p></body></html>", {})
    # a brief of 300 characters: an article under this crawl's own min_article_chars
    brief = f"<html><body><p>{'x' * 300}</p></body></html>".encode()
    site.routes["/story/3"] = ("text/html", brief, {})
    site.routes["/"] = ("text/html", f'<html><body>{links}<a href="/story/3">3</a></body></html>'
                        .encode(), {})  # fmt: skip
    sources = sources_file(tmp_path, home=site.base + "/", follow_links=True, max_depth=1)
    assert "3 new" in crawl(tmp_path, sources, "min_article_chars = 200\n")
    stored = {u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")}
    [archive] = (tmp_path / "warc").glob("*.warc.gz")
    fresh = tmp_path / "fresh.duckdb"
    out = run_cli("import", str(archive), db=fresh).stdout
    assert "3 new" in out
    assert "a listing the crawl read for its links or posts (parse_linked" not in out
    with connect(fresh, read_only=True) as con:
        assert {u for (u,) in con.execute("SELECT url FROM document_versions").fetchall()} == stored
    # the same again: nothing new (the listings are not taken for pages this time either)
    assert "0 new" in run_cli("import", str(archive), db=fresh).stdout


def test_import_warc_from_another_crawler(tmp_path):
    """A wget/browsertrix-style WARC: request records, chunked and gzipped responses, images."""
    path = tmp_path / "other.warc.gz"
    page = article("Чужой архив")
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warc_record(
            "https://ext.example/a", "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders("GET /a HTTP/1.1", [("Host", "ext.example")],
                                          is_http_request=True)))  # fmt: skip
        for url, ctype, body in [
            ("https://ext.example/a", "text/html; charset=utf-8", page),
            ("https://ext.example/logo.png", "image/png", b"\x89PNG\r\n" + b"\0" * 100),
        ]:
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers))  # fmt: skip
    broken = tmp_path / "broken.warc"
    broken.write_bytes(b"WARC/1.0\r\nnot really\r\n")
    proc = run_cli("import", str(path), str(broken), db=tmp_path / "n.duckdb", check=False)
    assert "1 new" in proc.stdout
    assert "not a readable WARC file" in proc.stderr
    [(url, stored)] = rows(tmp_path, "SELECT url, html_zlib FROM document_versions")
    assert url == "https://ext.example/a" and "Чужой архив" in decompress_html(stored)


def test_health_flags_a_source_whose_extraction_broke(tmp_path, local_site):
    # the site moved to client-side rendering: the HTML is an empty shell
    empty = b"<html><head><script src='/app.js'></script></head><body><div id='root'></div>"
    site = feed_site(local_site, {f"/p/{i}": ("text/html", empty + b" " * i, {}) for i in range(4)})
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(FAST + '[pipeline]\nstages = ["extract"]\n')
    db = tmp_path / "n.duckdb"
    # the cron entry point (crawl, then process) ends by naming the source
    out = run_cli("--config", str(config), "run", "--sources", sources, db=db).stdout
    assert "source needs attention: local: body extraction failed on most new pages" in out
    listed = run_cli("sources", "list", "--sources", sources, db=db).stdout
    assert "NEEDS ATTENTION: body extraction failed on most new pages" in listed
    assert "fetched 5, new 4" in listed  # the feed and four pages
    status = run_cli("status", db=db).stdout
    assert "source needs attention: local: body extraction failed" in status
    health = json.loads(run_cli("sources", "list", "--format", "json", "--sources", sources,
                                db=db).stdout)[0]["health"]  # fmt: skip
    assert health["extraction_failures"] == 4 and health["median_body_chars"] > 0
    # elsewhere, without the sources file: the sources as the database's latest crawl read them
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli("sources", "list", db=db, cwd=elsewhere)
    assert "no sources file at sources.toml" in proc.stderr
    assert proc.stdout.startswith(f"local  {site.base}/")
    assert "NEEDS ATTENTION: body extraction failed on most new pages" in proc.stdout


def test_a_killed_crawl_resumes_without_losing_or_refetching_pages(tmp_path, local_site):
    # six quick pages, six that take 30 s each: the crawl is killed while it waits for those
    pages = {f"/s/{i}": ("text/html", article(f"Страница {i}"), {"Delay": "30" if i % 2 else "0"})
             for i in range(12)}  # fmt: skip
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text(FAST + "write_batch = 1\nconcurrent_per_domain = 16\n")  # all at once
    db = tmp_path / "n.duckdb"
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config),
           "crawl", "--sources", sources]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    stored: set = set()
    while len(stored) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the crawl writes each page as it comes; readers wait their turn
        if (tmp_path / "n.duckdb").exists():
            stored = {u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")}
    assert proc.poll() is None  # still waiting for the slow six
    os.kill(proc.pid, signal.SIGKILL)  # mid-crawl, no cleanup
    proc.wait()
    for path, _ in list(pages.items()):  # the site is quick again for the next run
        site.routes[path] = (*pages[path][:2], {})
    stored = {u for (u,) in rows(tmp_path, "SELECT url FROM document_versions")}
    assert len(stored) == 6
    out = run_cli("--config", str(config), "crawl", "--sources", sources, db=db).stdout
    assert f"{12 - len(stored)} new" in out and f"({len(stored)} not modified)" in out
    assert len(rows(tmp_path, "SELECT url FROM document_versions")) == 12


def test_sources_add_probes_a_site_and_proposes_an_entry(tmp_path):
    from crawlers.demo.server import DemoSites
    from crawlers.sources import load_sources

    with DemoSites() as sites:
        home = sites.urls["demo-wp"]
        target = tmp_path / "sources.toml"
        proc = run_cli("sources", "add", home, "--name", "probed", "--allow-private", "--write",
                       str(target))  # fmt: skip
    [source] = load_sources(target)
    assert source.name == "probed" and source.wordpress and source.allow_private
    assert source.feeds == [home + "feed/"] and source.sitemaps == [home + "sitemap.xml"]
    assert source.languages == ["ru"]
    assert "wordpress = true" in proc.stdout
    # an entry that would break the file (here: its name is taken) leaves the file as it was
    before = target.read_text(encoding="utf-8")
    with DemoSites() as sites:
        again = run_cli("sources", "add", sites.urls["demo-wp"], "--name", "probed",
                        "--allow-private", "--write", str(target), check=False)  # fmt: skip
    assert again.returncode == 1 and again.stderr.startswith(f"error: {target} left as it was")
    assert ".new" not in again.stderr  # the file's name, not the draft's beside it
    assert target.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.toml"]
    # a file that no longer loads is named as it is, as the product's error (logged, `error:`);
    # before, click's "Error:" named the draft and its line, and --log-file got nothing
    broken, log = tmp_path / "broken.toml", tmp_path / "run.jsonl"
    broken.write_text("x = [\n", encoding="utf-8")
    with DemoSites() as sites:
        third = run_cli("--log-file", str(log), "--log-format", "json", "sources", "add",
                        sites.urls["demo-wp"], "--name", "y", "--allow-private", "--write",
                        str(broken), check=False)  # fmt: skip
    assert third.returncode == 1, third.stderr
    assert third.stderr.startswith(f"error: {broken} left as it was: it does not load as it is")
    assert ".new" not in third.stderr and broken.read_text(encoding="utf-8") == "x = [\n"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r.get("exit_code") for r in records if r.get("event") == "error"] == [1]


def test_sources_add_says_at_once_that_a_site_cannot_be_reached(tmp_path):
    """A refused connection is no site to propose an entry for: one error line and exit 1,
    without the backoff of a crawl's retries (which took minutes), and no traceback; what is
    not an http(s) URL is a usage error."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = tmp_path / "sources.toml"
    proc = run_cli("sources", "add", f"http://127.0.0.1:{port}/", "--allow-private", "--write",
                   str(target), check=False, timeout=60)  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: could not reach http://127.0.0.1:{port}/: ")
    assert "Traceback" not in proc.stderr and not target.exists()
    bad = run_cli("sources", "add", "not-a-url", check=False, timeout=60)
    assert bad.returncode == 2 and "is not an http(s) URL" in bad.stderr and bad.stdout == ""


WRITE_DURING = """
import sys, time
from storage import connect
db, seconds = sys.argv[1], float(sys.argv[2])
end, writes, longest = time.time() + seconds, 0, 0.0
while time.time() < end:
    started = time.perf_counter()
    with connect(db) as con:
        con.execute("INSERT INTO ext VALUES (now())")
    longest = max(longest, time.perf_counter() - started)
    writes += 1
    time.sleep(0.1)
print(writes, longest)
"""


def test_another_process_writes_while_a_busy_crawl_runs(tmp_path, local_site):
    """The spider holds a read-only connection while busy; another writer still gets turns
    (whenever the crawl's own batches take the file over, or the spider goes idle)."""
    pages = {f"/p/{i}": ("text/html", article(f"Страница {i}").replace(
        b"</body>", "".join(f'<a href="/p/{k}">{k}</a>' for k in (2 * i + 1, 2 * i + 2)
                            if k < 400).encode() + b"</body>"), {}) for i in range(400)}  # fmt: skip
    site = local_site(pages)
    site.routes["/"] = ("text/html", b'<html><body><a href="/p/0">start</a></body></html>', {})
    sources = sources_file(tmp_path, home=site.base + "/", follow_links=True, max_depth=10)
    db = tmp_path / "n.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE ext (t TIMESTAMPTZ)")
    writer = subprocess.Popen([sys.executable, "-c", WRITE_DURING, str(db), "6"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    out = crawl(tmp_path, sources, "write_batch = 20\nconcurrent_per_domain = 16\n")
    stdout, stderr = writer.communicate(timeout=120)
    assert writer.returncode == 0, stderr  # no "cannot open ...: Conflicting lock"
    writes, longest = stdout.split()
    assert "400 new" in out and int(writes) >= 5
    print(f"{writes} writes during the crawl, the longest wait {float(longest):.2f} s")
