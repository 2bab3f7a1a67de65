"""Every dashboard page through Starlette's test client on the demo store (plus one hostile
document): what each shows, its filters and paging, the SQL it shows (run here, it gives the
rows the page shows), redirects for merged narratives, and the notices."""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape

from tests.conftest import run_cli
from tests.dashboards.conftest import HOSTILE_TITLE, LOCAL

PAGES = ["/", "/narratives", "/sources", "/search?q=sanctions", "/search"]


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def shown_sql(page: str) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<pre class="sql">(.*?)</pre>', page, re.S)]


def sanctions_story(db: Path) -> int:
    """The demo's planted story told in Russian, English and German, with copies."""
    [(nid,)] = rows(db, "SELECT narrative_id FROM v_narratives WHERE representative_title "
                        "LIKE 'Sanctions, Not War%'")  # fmt: skip
    return nid


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_with_the_security_headers(client, path):
    r = client.get(path)
    assert r.status_code == 200, r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" not in r.text
    # it loads only the app's own assets (links to crawled pages are anchors, not loads)
    assert not re.search(r'(src="|<link[^>]*href=")(https?:)?//', r.text)


def test_the_sql_a_page_shows_gives_its_rows(client, hostile_db):
    """Copied into `narrascope sql`, each list's SQL returns what the page lists."""
    db = hostile_db[0]
    page = client.get("/narratives?min_sites=2&sort=sites").text
    [sql] = shown_sql(page)
    listed = [int(i) for i in re.findall(r'<a href="/narratives/(\d+)">#', page)]
    assert listed and [r[0] for r in rows(db, sql)] == listed
    for path in ["/", "/sources", f"/narratives/{sanctions_story(db)}"]:
        for sql in shown_sql(client.get(path).text):
            rows(db, sql)  # each runs as shown


def test_overview_shows_languages_per_day_growth_attention_and_runs(client, hostile_db):
    page = client.get("/").text
    [data] = re.findall(r'class="chart" data-chart="([^"]*)"', page)
    chart = __import__("json").loads(html.unescape(data))
    assert {s["label"] for s in chart["series"]} >= {"en", "ru", "uk", "de"}
    assert all(len(s["values"]) == len(chart["x"]) for s in chart["series"])
    total = sum(sum(s["values"]) for s in chart["series"])
    [(recent,)] = rows(hostile_db[0], "SELECT count(*) FROM v_documents WHERE coalesce("
                       "published_at, first_seen_at) > (SELECT max(coalesce(published_at, "
                       "first_seen_at)) FROM v_documents) - INTERVAL 60 DAY")  # fmt: skip
    assert total == recent
    assert "Narratives that grew most" in page and "/narratives/" in page
    assert page.count('class="status-ok"') >= 3  # crawl, process, import... of the demo


def test_narratives_filter_sort_and_page(client, hostile_db, monkeypatch):
    from dashboards import pages

    db = hostile_db[0]
    ru = client.get("/narratives?lang=ru").text
    ids = {int(i) for i in re.findall(r'href="/narratives/(\d+)">#', ru)}
    assert ids == {n for (n,) in rows(db, "SELECT narrative_id FROM v_narratives "
                                          "WHERE list_contains(langs, 'ru')")}  # fmt: skip
    # a code in capitals or with spaces is the code, as the CLI's --lang reads it
    assert (
        client.get("/narratives?lang=+RU+").text.count('href="/narratives/')
        == ru.count('href="/narratives/')
        and ids
    )
    assert client.get("/narratives?lang=ru%27--").status_code == 400
    # a language no document is in (Ukrainian is uk): refused as export refuses it, not an
    # empty list
    ua = client.get("/narratives?lang=ua")
    assert ua.status_code == 400 and "no document is in language &#39;ua&#39;" in ua.text
    wide = client.get("/narratives?min_sites=2&min_languages=2&sort=documents").text
    listed = [int(i) for i in re.findall(r'href="/narratives/(\d+)">#', wide)]
    expected = rows(db, "SELECT narrative_id FROM v_narratives WHERE independent_sites >= 2 "
                        "AND languages >= 2 ORDER BY documents DESC, narrative_id")  # fmt: skip
    assert listed == [n for (n,) in expected] and listed
    tagged = client.get("/narratives?tag=network%3Dnone-such").text
    assert "No narrative matches" in tagged
    assert client.get("/narratives?since=2020-01-01&until=2030-12-31").status_code == 200
    assert client.get("/narratives?since=yesterday").status_code == 400
    backwards = client.get("/narratives?since=2026-10-12&until=2026-10-10")  # was 200, empty
    assert backwards.status_code == 400 and "is after until" in backwards.text
    assert client.get("/narratives?min_sites=many").status_code == 400

    monkeypatch.setattr(pages, "PAGE_SIZE", 5)
    first = client.get("/narratives?sort=first_seen").text
    second = client.get("/narratives?sort=first_seen&page=2").text
    one = re.findall(r'href="/narratives/(\d+)">#', first)
    two = re.findall(r'href="/narratives/(\d+)">#', second)
    assert len(one) == 5 and two and not set(one) & set(two)
    assert 'rel="next"' in first and 'rel="prev"' in second


def test_a_narrative_page_tells_its_story(client, hostile_db):
    db = hostile_db[0]
    nid = sanctions_story(db)
    page = client.get(f"/narratives/{nid}").text
    assert "Sanctions, Not War" in page and "keywords" in page
    charts = re.findall(r'class="chart" data-chart="([^"]*)"', page)
    series = __import__("json").loads(html.unescape(charts[0]))["series"]
    langs = rows(db, f"SELECT unnest(langs) FROM v_narratives WHERE narrative_id = {nid}")
    assert {s["label"] for s in series} == {lang for (lang,) in langs} and len(langs) >= 3
    # the sites, first publisher first
    sites = rows(
        db,
        "SELECT source, min(coalesce(published_at, first_seen_at)) AS f FROM "
        f"v_documents WHERE narrative_id = {nid} GROUP BY 1 ORDER BY f, source",
    )
    section = page.split("Sites that carried it")[1].split("Copy lineage")[0]
    assert [s for s in re.findall(r"<tr><td>([^<]+)</td>", section)] == [s for s, _ in sites]
    # the lineage: the origin at the root, its copies under it with kind and delay
    tree = page.split('<div class="tree">')[1].split("</div>")[0]
    assert "kind-origin" in tree and "kind-translated" in tree and "after " in tree
    assert tree.index("kind-origin") < tree.index("kind-translated")
    members = {d for (d,) in rows(db, f"SELECT doc_id FROM v_documents WHERE narrative_id = {nid}")}
    section = page.split("Member documents")[1]
    assert set(re.findall(r'href="/documents/([0-9a-f]+)"', section)) == members


def test_a_merged_narrative_redirects_to_the_survivor(client, hostile_db, tmp_path):
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    db = tmp_path / "merged.duckdb"
    shutil.copy(hostile_db[0], db)
    nid = sanctions_story(db)
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO narrative_aliases VALUES (99999, ?, now(), 'merged')", [nid])
    with TestClient(create_app(db), base_url=LOCAL) as c:
        r = c.get("/narratives/99999", follow_redirects=False)
        assert r.status_code == 301 and r.headers["location"] == f"/narratives/{nid}"
        assert c.get("/narratives/99999").status_code == 200
        missing = c.get("/narratives/123456")
        assert missing.status_code == 404 and "No narrative 123456" in missing.text
        huge = c.get("/narratives/99999999999999999999999")  # past BIGINT: was a 500
        assert huge.status_code == 404 and "No narrative 9999" in huge.text
    # a document of no source (an import's `source` is optional) showed the site "None"
    with duckdb.connect(str(db)) as con:
        [(doc,)] = con.execute("SELECT doc_id FROM documents LIMIT 1").fetchall()
        con.execute("UPDATE documents SET source = NULL WHERE doc_id = ?", [doc])
        con.execute("UPDATE document_versions SET source = NULL WHERE doc_id = ?", [doc])
    with TestClient(create_app(db), base_url=LOCAL) as c:
        page = c.get(f"/documents/{doc}").text
        assert "<dd>None" not in page and ">None<" not in page and "<dd>(no source)" in page


def test_quiet_alerts_checks_stay_out_of_the_last_runs(hostile_db, tmp_path):
    """An hourly `alerts` cron that finds nothing filled "Last runs" with alerts rows; they
    are left out, while one that raised alerts stays listed."""
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    db = tmp_path / "alerts.duckdb"
    shutil.copy(hostile_db[0], db)
    for _ in range(2):  # two quiet checks: nothing to raise on the demo store
        run_cli("alerts", "--format", "json", db=db)
    with duckdb.connect(str(db)) as con:  # and a run that raised two (as alerts records it)
        con.execute(
            "INSERT INTO runs SELECT 'raised-two', 'alerts', now() - INTERVAL 1 HOUR, "
            "now() - INTERVAL 1 HOUR, 'ok', '{\"raised\": 2, \"delivered\": 2}'"
        )
    raised = rows(db, "SELECT run_id, summary->>'raised' FROM v_runs WHERE kind = 'alerts' "
                      "ORDER BY started_at")  # fmt: skip
    assert raised[0] == ("raised-two", "2") and [r for _, r in raised[1:]] == ["0", "0"]
    with TestClient(create_app(db), base_url=LOCAL) as c:
        page = c.get("/").text
    listed = re.findall(r"<td><code>([^<]+)</code>", page.split('id="runs"')[1])
    assert raised[0][0] in listed and not {raised[1][0], raised[2][0]} & set(listed)
    [sql] = shown_sql(page.split('id="runs"')[1])
    assert [r for (r, *_) in rows(db, sql)][: len(listed)] == listed
    # `status` lists the last runs the same way
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    ids = [r["run_id"] for r in status["last_runs"]]
    newest = rows(db, "SELECT run_id FROM runs WHERE kind <> 'alerts' OR run_id = 'raised-two' "
                      "ORDER BY started_at DESC LIMIT 5")  # fmt: skip
    assert ids == [r for (r,) in newest] and not {raised[1][0], raised[2][0]} & set(ids)


def test_a_narrative_whose_documents_were_all_withdrawn_says_why_it_is_empty(hostile_db, tmp_path):
    """Sent back to be clustered again (or rejected), its documents took the narrative with
    them for now: its page and an alias of it say so, and that it comes back, not "No"."""
    from starlette.testclient import TestClient

    from dashboards.app import create_app
    from storage import connect
    from storage.records import Rejection
    from storage.stages import write_results

    db = tmp_path / "withdrawn.duckdb"
    shutil.copy(hostile_db[0], db)
    nid = sanctions_story(db)
    members = rows(db, "SELECT doc_id, version FROM v_documents WHERE narrative_id = ?",
                   [nid])  # fmt: skip
    with connect(db) as con:
        con.execute("INSERT INTO narrative_aliases VALUES (99999, ?, now(), 'merged')", [nid])
        for doc_id, version in members:  # what `process --force` does to a page it rejects
            rejection = Rejection("embed", "not_news", "", doc_id=doc_id, version=version)
            write_results(con, "embed", "2", [rejection], dependents=["dedup", "cluster"])
    with TestClient(create_app(db), base_url=LOCAL) as c:
        for path in (f"/narratives/{nid}", "/narratives/99999"):
            r = c.get(path)
            assert r.status_code == 404
            assert f"Narrative {nid} has no documents now: its {len(members)} document" in r.text
            assert f"all {len(members)} rejected (embed: not_news)" in r.text
            assert "comes back under the same id only if one of them is kept again" in r.text


def test_a_document_side_by_side_with_copies_and_archive(client, hostile_db):
    db = hostile_db[0]
    [(ru, url)] = rows(db, "SELECT doc_id, url FROM v_documents WHERE lang = 'ru' AND "
                           "copy_kind = 'origin' ORDER BY doc_id LIMIT 1")  # fmt: skip
    page = client.get(f"/documents/{ru}").text
    assert 'class="side-by-side"' in page
    # the demo has no ru->en model: the notice says how to install one
    assert "no_model" in page and "narrascope models install ru" in page
    assert f'<a href="{html.escape(url)}"' in page  # the original URL, http: a link
    copies = page.split("<h2>Copies</h2>")[1]
    assert copies.count("<tr") >= 3 and "translated" in copies
    [(en,)] = rows(db, "SELECT doc_id FROM v_documents WHERE translation_status = 'not_needed' "
                       "ORDER BY doc_id LIMIT 1")  # fmt: skip
    assert "no translation needed" in client.get(f"/documents/{en}").text
    # the page as fetched (a WordPress post's is the API's JSON; a blog's is its HTML)
    [(blog,)] = rows(db, "SELECT doc_id FROM v_documents WHERE source = 'demo-blog' "
                         "ORDER BY doc_id LIMIT 1")  # fmt: skip
    archived = client.get(f"/documents/{blog}/archive")
    assert archived.status_code == 200
    assert "&lt;html" in archived.text.lower() and "<html" not in archived.text[200:].lower()
    assert client.get("/documents/nope").status_code == 404
    assert client.get("/documents/nope/archive").status_code == 404


def test_search_by_keywords_and_by_meaning_across_languages(client, hostile_db):
    db = hostile_db[0]
    page = client.get("/search?q=sanctions+cause+hunger&mode=semantic&limit=5").text
    top = re.findall(r'href="/documents/([0-9a-f]+)"', page)
    story = {d for (d,) in rows(db, "SELECT doc_id FROM v_documents WHERE narrative_id = "
                                    f"{sanctions_story(db)} AND lang IN ('ru', 'de')")}  # fmt: skip
    assert story & set(top[:3]), "an English query finds the Russian or German pieces"
    assert " search --semantic --limit 5 -- " in page
    # a copy follows its copy group's best hit, as on the command line, and says so
    hits = json.loads(run_cli("search", "--semantic", "--limit", "5", "--format", "json",
                              "sanctions cause hunger", db=db).stdout)  # fmt: skip
    assert top[:5] == [h["doc_id"] for h in hits]
    lead, follows = {}, {}  # rank -> the rank of its copy group's best hit
    for h in hits:
        n = lead.setdefault(h["copy_group"] or h["doc_id"], h["rank"])
        if n != h["rank"]:
            follows[h["rank"]] = str(n)
    noted = r"in the copy group of #(\d+)"
    assert follows and re.findall(noted, page) == [follows[r] for r in sorted(follows)]
    second = client.get("/search?q=sanctions+cause+hunger&mode=semantic&limit=2&page=2").text
    assert re.findall(noted, second) == [follows[r] for r in (3, 4) if r in follows]
    ru_only = client.get("/search?q=sanctions+cause+hunger&mode=semantic&lang=ru").text
    for mode in ("keyword", "semantic"):  # a language no document is in says so
        ua = client.get(f"/search?q=sanctions&mode={mode}&lang=ua").text
        assert "no documents in &#39;ua&#39;" in ua, mode
        # the form keeps the language asked for rather than showing "any" beside the message
        assert '<option value="ua" selected>ua (no documents)</option>' in ua, mode
    found = re.findall(r'href="/documents/([0-9a-f]+)"', ru_only)
    assert found and {d for (d,) in rows(db, "SELECT doc_id FROM v_documents WHERE lang = 'ru'")
                      } >= set(found)  # fmt: skip
    # the query's language, as the CLI's --query-lang: the same ranking as the command shown
    told = client.get("/search?q=sanctions+cause+hunger&mode=semantic&limit=5&query_lang=de")
    assert " search --semantic --query-lang de --limit 5 -- " in told.text
    cli = json.loads(run_cli("search", "--semantic", "--query-lang", "de", "--limit", "5",
                             "--format", "json", "sanctions cause hunger", db=db).stdout)  # fmt: skip
    assert cli and re.findall(r'href="/documents/([0-9a-f]+)"', told.text)[:5] == [
        h["doc_id"] for h in cli
    ]
    assert client.get("/search?q=x&mode=semantic&query_lang=en;rm").status_code == 400
    shouted = client.get("/search?q=sanctions+cause+hunger&mode=semantic&limit=5&query_lang=DE"
                         "&lang=RU").text  # fmt: skip
    assert " search --semantic --query-lang de --lang ru --limit 5 -- " in shouted
    assert re.findall(r'href="/documents/([0-9a-f]+)"', shouted) == re.findall(
        r'href="/documents/([0-9a-f]+)"',
        client.get(
            "/search?q=sanctions+cause+hunger&mode=semantic&limit=5&query_lang=de&lang=ru"
        ).text,  # fmt: skip
    )
    keyword = client.get("/search?q=fertiliser").text
    assert "Sanctions" in keyword and "<mark" not in keyword
    assert "Nothing found" in client.get("/search?q=zzzzqqqq").text


def test_hostile_strings_are_text_on_every_page(client, hostile_db, hostile_archived):
    db, doc = hostile_db
    [(nid,)] = rows(db, "SELECT narrative_id FROM v_documents WHERE doc_id = ?", [doc])
    for path in ["/", "/narratives", f"/narratives/{nid}", f"/documents/{doc}",
                 f"/documents/{hostile_archived}", f"/documents/{hostile_archived}/archive",
                 "/sources", "/search?q=sanctions+starve"]:  # fmt: skip
        page = client.get(path).text
        for raw in ("<script>alert", "<svg onload", "<img src=x", 'href="javascript:',
                    'src="http://evil'):  # fmt: skip
            assert raw not in page, (path, raw)
    doc_page = client.get(f"/documents/{doc}").text
    assert str(escape(HOSTILE_TITLE)) in doc_page
    assert "&lt;img src=x onerror=alert(&#39;body&#39;)&gt;" in doc_page
    # the archived response, markup and all, is text
    archived = client.get(f"/documents/{hostile_archived}/archive").text
    assert "&lt;a href=&#34;javascript:alert(&#39;link&#39;)&#34;&gt;" in archived


def test_a_token_guards_every_request(hostile_db):
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    with TestClient(create_app(hostile_db[0], token="s3cret"), base_url=LOCAL) as c:
        for path in ["/", "/narratives", "/static/app.css"]:
            assert c.get(path).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = c.get("/narratives?token=s3cret&lang=ru", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/narratives?lang=ru"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/narratives?lang=ru").status_code == 200  # the cookie carries it


def test_beyond_loopback_it_refuses_to_start_without_a_token(hostile_db):
    proc = run_cli("dashboard", "--host", "0.0.0.0", db=hostile_db[0], check=False)
    assert proc.returncode == 2 and "--token" in proc.stderr
    proc = run_cli("dashboard", db=hostile_db[0].parent / "missing.duckdb", check=False)
    assert proc.returncode != 0 and "no database" in proc.stderr


def test_a_port_another_process_serves_is_an_error_before_any_url(hostile_db):
    """The URL it would print is another server's: one error line, exit 1, no URL."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("dashboard", "--port", str(port), db=hostile_db[0], check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"error: cannot serve on 127.0.0.1:{port}: Address already in use\n"


def test_it_never_writes_and_waits_for_no_writer(client, hostile_db, tmp_path):
    """Read-only: the file is byte for byte the same after every page. While another process
    holds the file for writing, pages say so (503 with Retry-After), never a traceback."""
    db = hostile_db[0]
    before = db.read_bytes()
    for path in PAGES:
        client.get(path)
    assert db.read_bytes() == before

    from starlette.testclient import TestClient

    from dashboards.app import create_app

    busy = tmp_path / "busy.duckdb"
    shutil.copy(db, busy)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(30)", str(busy)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with TestClient(create_app(busy), base_url=LOCAL) as c:
            started = time.monotonic()
            r = c.get("/narratives")
            assert r.status_code == 503 and r.headers["retry-after"] == "2"
            assert "being updated by a run" in r.text and "Traceback" not in r.text
            assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()


def test_the_command_serves_the_app_and_prints_its_url(hostile_db):
    """`narrascope dashboard --port 0` takes a free loopback port: it prints the URL with
    that port (and the token when given), and that URL answers; without the token, 401;
    Ctrl-C stops it with exit 0."""
    import os
    import urllib.error
    import urllib.request

    from tests.conftest import ROOT

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(hostile_db[0]), "dashboard",
         "--port", "0", "--token", "t0+k/en=&#"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NARRASCOPE_CONFIG": "", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        # --port 0: the port the system gave (before, the URL printed said port 0)
        # the token percent-encoded: as typed, "+" read as a space and "&", "#" cut it (401)
        found = re.search(r"open (http://127\.0\.0\.1:(\d+)/\?token=t0%2Bk%2Fen%3D%26%23) ", line)
        assert found, line + proc.stderr.read() if proc.poll() is not None else line
        port = int(found.group(2))
        assert port != 0
        url = found.group(1)  # the printed URL, as a user opens it
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        for _ in range(100):  # the server starts listening just after it prints
            try:
                with browser.open(url, timeout=5) as r:  # 303 to / with the token's cookie
                    assert r.status == 200 and "Overview" in r.read().decode()
                break
            except urllib.error.URLError as err:
                if isinstance(err, urllib.error.HTTPError):
                    raise
                time.sleep(0.1)
        else:
            raise AssertionError("the dashboard did not answer")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/narratives", timeout=5)
        assert denied.value.code == 401
        proc.send_signal(signal.SIGINT)  # Ctrl-C: its way to stop (before: "Aborted!", exit 1)
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out.strip(), err) == (0, "dashboard stopped", "")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_kept_narratives_follow_the_store(hostile_db, tmp_path):
    """The dashboard keeps v_narratives' rows between requests; a change to the store (here a
    narrative taken out) shows on the next request."""
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    db = tmp_path / "changing.duckdb"
    shutil.copy(hostile_db[0], db)
    nid = sanctions_story(db)
    with TestClient(create_app(db), base_url=LOCAL) as c:
        assert f'href="/narratives/{nid}"' in c.get("/narratives").text
        with duckdb.connect(str(db)) as con:
            con.execute("DELETE FROM narrative_members WHERE narrative_id = ?", [nid])
            con.execute("DELETE FROM narratives WHERE narrative_id = ?", [nid])
        assert f'href="/narratives/{nid}"' not in c.get("/narratives").text
        assert c.get(f"/narratives/{nid}").status_code == 404


@pytest.mark.parametrize(
    "url, link",
    [
        ("https://example.org/a?b=<c>", "https://example.org/a?b=<c>"),
        ("HTTP://Example.org/", "HTTP://Example.org/"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("//evil.example/x", None),
        ("/relative/path", None),
        ("https:///no-host", None),
        (None, None),
    ],
)
def test_only_http_urls_become_links(url, link):
    from dashboards.app import web_url

    assert web_url(url) == link


def test_guard_answers_loopback_names_and_keeps_redirects_home(hostile_db):
    """Without a token only loopback Host headers are answered (a page that rebinds its own
    name to 127.0.0.1 gets nothing); the token's redirect stays on this app; every answer,
    errors and static files included, carries the security headers."""
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    with TestClient(create_app(hostile_db[0]), base_url="http://attacker.example") as c:
        r = c.get("/")
        assert r.status_code == 421 and "content-security-policy" in r.headers
    for base in ("http://localhost:8050", "http://[::1]:8050", LOCAL):
        with TestClient(create_app(hostile_db[0]), base_url=base) as c:
            assert c.get("/sources").status_code == 200
    with TestClient(create_app(hostile_db[0], token="s3cret"), base_url=LOCAL) as c:
        for path in ["/", "/static/app.css"]:
            assert c.get(path).status_code == 401
        r = c.get("/%2Fevil.example/x?token=s3cret", follow_redirects=False)  # path //evil...
        assert r.status_code == 303 and r.headers["location"] == "/evil.example/x"
        assert "samesite=strict" in r.headers["set-cookie"].lower()
    with TestClient(create_app(hostile_db[0]), base_url=LOCAL) as c:
        for path, status in [("/no-such-page", 404), ("/static/app.css", 200),
                             ("/narratives?tag=country", 400),
                             ("/narratives?since=20240101", 400)]:  # fmt: skip
            r = c.get(path)
            assert r.status_code == status, path
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
            assert r.headers["x-frame-options"] == "DENY"


def test_the_search_command_shown_is_quoted_for_the_shell(client):
    page = client.get("/search", params={"q": "$(touch /tmp/pwned) `id`", "lang": " RU"})
    [command] = re.findall(r'<pre class="sql">(.*?)</pre>', page.text, re.S)
    import shlex

    words = shlex.split(html.unescape(command))
    assert words[-1] == "$(touch /tmp/pwned) `id`" and words[words.index("--lang") + 1] == "ru"
    # a language is a language code (as the CLI's --lang takes it), never words for a shell
    hostile = client.get("/search", params={"q": "x", "lang": "x;rm -rf ~"})
    assert hostile.status_code == 400 and "rm -rf" not in hostile.text


def test_a_keyword_search_of_too_many_words_says_so_on_the_page(client):
    """13 words: the limit, said on the search page (before the limit, the 13th word was
    dropped unsaid; with it, the store's error came up as the 503 notice)."""
    page = client.get("/search", params={"q": " ".join(["sanctions"] * 13)})
    assert page.status_code == 200
    assert "at most 12 words; this one has 13" in page.text


def test_lineage_trees_have_no_cycles_and_lose_no_copy():
    from datetime import datetime, timedelta

    from dashboards.pages import lineage

    t0 = datetime(2026, 10, 1)

    def m(doc, kind, via=None, hours=0):
        return {"group_id": "g", "doc_id": doc, "copy_of": "o", "copy_kind": kind, "via": via,
                "seen_at": t0 + timedelta(hours=hours)}  # fmt: skip

    rows = [m("o", "origin"), m("a", "near", via="b", hours=1), m("b", "near", via="a", hours=2),
            m("c", "translated", via="elsewhere", hours=3), m("d", "near", via="b", hours=4)]  # fmt: skip
    [root] = lineage(rows)

    def walk(node, depth=0):
        yield node["doc_id"], depth
        for child in node["children"]:
            yield from walk(child, depth + 1)

    seen = dict(walk(root))
    assert seen == {"o": 0, "a": 1, "b": 2, "c": 1, "d": 3}  # b under a (earlier), d under b


def test_hostile_strings_show_escaped_where_they_appear(client, hostile_db):
    from tests.dashboards.conftest import HOSTILE_SOURCE, HOSTILE_URL

    db, doc = hostile_db
    sources = client.get("/sources").text
    assert str(escape(HOSTILE_SOURCE)) in sources
    [row] = [r for r in sources.split("<tr>") if str(escape(HOSTILE_SOURCE)) in r]
    assert "not crawled" in row and "healthy" not in row  # imported only: was "healthy"
    page = client.get(f"/documents/{doc}").text
    assert str(escape(HOSTILE_SOURCE)) in page and str(escape(HOSTILE_URL)) in page
    assert f'href="{escape(HOSTILE_URL)}"' in page  # an https URL: a link, its markup escaped
    listing = client.get("/narratives").text
    assert str(escape(HOSTILE_TITLE)) in listing


def walk(client, path: str, section: str, item: str) -> tuple[list[str], int]:
    """Follow one list's "next" links from ``path``: every ``item`` (a regex group) the
    section with id ``section`` showed on each page, and the number of pages."""
    seen, pages, url = [], 0, path
    while url:
        page = client.get(url).text
        part = page.split(f'id="{section}"')[1].split("</section>")[0]
        seen += re.findall(item, part)
        pages += 1
        nxt = re.findall(r'<a rel="next" href="([^"]+)"', part)
        url = html.unescape(nxt[0]).replace(LOCAL, "") if nxt else None
        assert pages < 100
    return seen, pages


def test_every_list_pages_through_all_its_rows(client, hostile_db, monkeypatch):
    """Lists with one row a page: walking "next" shows each row once, all of them."""
    from dashboards import pages

    db = hostile_db[0]
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    monkeypatch.setattr(pages, "LINEAGE_GROUPS", 1)
    monkeypatch.setattr(pages, "OVERVIEW_ROWS", 1)
    nid = sanctions_story(db)
    base = f"/narratives/{nid}"
    members = rows(db, f"SELECT doc_id FROM v_documents WHERE narrative_id = {nid}")
    seen, n = walk(client, base, "members", r'href="/documents/([0-9a-f]+)"')
    assert sorted(seen) == sorted(d for (d,) in members) and n == len(members) > 1
    sites = rows(db, f"SELECT DISTINCT source FROM v_documents WHERE narrative_id = {nid}")
    seen, n = walk(client, base, "sites", r"<tr><td>([^<]+)</td>")
    assert sorted(seen) == sorted(s for (s,) in sites) and n == len(sites) > 1
    groups = rows(db, "SELECT DISTINCT c.group_id, c.doc_id FROM v_copies c WHERE c.group_id IN "
                      "(SELECT copy_group_id FROM v_documents WHERE narrative_id = "
                      f"{nid})")  # fmt: skip
    seen, n = walk(client, base, "lineage", r'href="/documents/([0-9a-f]+)"')
    assert sorted(seen) == sorted(d for _, d in groups) and n == len({g for g, _ in groups})
    doc = next(d for g, d in groups if sum(1 for x, _ in groups if x == g) > 1)
    copies = rows(db, "SELECT doc_id FROM v_copies WHERE group_id = (SELECT copy_group_id "
                      f"FROM v_documents WHERE doc_id = '{doc}')")  # fmt: skip
    seen, n = walk(client, f"/documents/{doc}", "copies", r'href="/documents/([0-9a-f]+)"')
    assert sorted(seen) == sorted(d for (d,) in copies) and n == len(copies)
    runs = rows(db, "SELECT run_id FROM v_runs WHERE kind <> 'alerts'")
    seen, n = walk(client, "/", "runs", r"<td><code>([^<]+)</code>")
    assert sorted(seen) == sorted(r for (r,) in runs) and n == len(runs) > 1


def test_search_results_page_in_rank_order(client):
    whole = client.get("/search?q=the&limit=6").text
    ranks = re.findall(r'<tr><td class="n">(\d+)</td><td><a href="/documents/([0-9a-f]+)"', whole)
    assert [int(r) for r, _ in ranks] == list(range(1, 7))
    paged = []
    for page in (1, 2, 3):
        text = client.get(f"/search?q=the&limit=2&page={page}").text
        paged += re.findall(r'<tr><td class="n">(\d+)</td><td><a href="/documents/([0-9a-f]+)"',
                            text)  # fmt: skip
        assert ('rel="next"' in text) and (('rel="prev"' in text) == (page > 1))
    assert paged == ranks
    assert "--limit 6 -- the" in text  # the command gives the ranking up to this page


def test_search_pages_end_at_the_search_depth(client, monkeypatch):
    from dashboards import pages

    monkeypatch.setattr(pages, "SEARCH_DEPTH", 4)
    last = client.get("/search?q=the&limit=1&page=4").text
    assert 'rel="prev"' in last and 'rel="next"' not in last
    assert "page 4" in client.get("/search?q=the&limit=1&page=9").text  # capped
    assert client.get("/search?q=x&mode=semantic&query_lang=pt-br").status_code == 200


def test_search_pages_reach_the_search_depth_whatever_the_limit(client, monkeypatch):
    """Search results are paged up to rank 1,000 (README), but a limit that does not divide
    it stopped short: at 30 a page, rank 990 was the last one can reach. Here with a depth of
    5 and 2 a page: ranks 1-2, 3-4 and 5, and no page after that."""
    from dashboards import pages

    monkeypatch.setattr(pages, "SEARCH_DEPTH", 5)
    ranks, more = [], []
    for page in (1, 2, 3, 4):
        text = client.get(f"/search?q=the&limit=2&page={page}").text
        ranks.append([int(r) for r in re.findall(r'<tr><td class="n">(\d+)</td>', text)])
        more.append('rel="next"' in text)
    print(ranks, more)
    assert ranks == [[1, 2], [3, 4], [5], [5]] and more == [True, True, False, False]


def test_a_list_paged_by_group_never_splits_one():
    """The lineage pages copy groups, not rows (Reader.query with the query's own LIMIT)."""
    from types import SimpleNamespace

    import duckdb

    from dashboards.db import Reader

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 1), ('a', 2), ('a', 3), "
                "('b', 4), ('c', 5), ('c', 6)) v(g, x)")  # fmt: skip
    sql = """
WITH groups AS (SELECT DISTINCT g FROM t ORDER BY g limit $limit OFFSET $offset)
SELECT g, x FROM t JOIN groups USING (g) ORDER BY g, x"""
    reader = Reader(SimpleNamespace(path=None, register=lambda con, sql: None), con)
    pages = [reader.query(sql, page=p, page_size=2) for p in (1, 2)]
    assert [r for p in pages for r in p.rows] == con.execute("FROM t ORDER BY g, x").fetchall()
    assert [p.rows[-1][0] for p in pages] == ["b", "c"] and [p.more for p in pages] == [True, False]
    assert "limit 2 OFFSET 2" in pages[1].sql  # the SQL shown is the page's


def test_a_copy_whose_page_changed_since_says_so_in_the_lineage_and_copies(hostile_db, tmp_path):
    """A member of the planted story's copy groups has a newer version of its page, not yet
    compared by the dedup stage: its row in the narrative's lineage and in its document's
    copies is the version the group holds, marked "page changed since" (v_copies'
    newer_version, schema version 44); before it, nothing set it apart from the others."""
    from starlette.testclient import TestClient

    from dashboards.app import create_app
    from storage import connect
    from storage.documents import store_pages
    from storage.records import PageRecord

    db = tmp_path / "changed.duckdb"
    shutil.copy(hostile_db[0], db)
    nid = sanctions_story(db)
    [(doc, url, group, title)] = rows(
        db, "SELECT doc_id, url, group_id, title FROM v_copies WHERE copy_kind <> 'origin' AND "
            "doc_id IN (SELECT doc_id FROM v_documents WHERE narrative_id = ?) "
            "ORDER BY doc_id LIMIT 1", [nid])  # fmt: skip
    marker = "page changed since</span>"
    with TestClient(create_app(db), base_url=LOCAL) as c:
        assert marker not in c.get(f"/narratives/{nid}").text
        assert marker not in c.get(f"/documents/{doc}").text
    with connect(db) as con:
        store_pages(con, [PageRecord(url=url, source="s", origin="import", text="A new text.",
                                     fetched_at=datetime.now(UTC))])  # fmt: skip
    assert rows(db, "SELECT doc_id FROM v_copies WHERE newer_version") == [(doc,)]
    with TestClient(create_app(db), base_url=LOCAL) as c:
        tree = c.get(f"/narratives/{nid}").text.split('<div class="tree">')[1]
        copies = c.get(f"/documents/{doc}").text.split("<h2>Copies</h2>")[1]
    for shown in (tree, copies):
        assert shown.count(marker) == 1
        # on the changed member's row, by the title the group holds
        assert f'/documents/{doc}">{escape(title)}</a> <span class="tag warn"' in shown
    assert rows(db, "SELECT count(*) FROM v_copies WHERE group_id = ?", [group])[0][0] > 1
