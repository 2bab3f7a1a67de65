import json
import os
import re

import pytest

from storage import connect
from tests.conftest import run_cli


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_reports_malformed_lines_and_keeps_the_rest(tmp_path):
    db = tmp_path / "n.duckdb"
    src = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            json.dumps(
                {"url": "https://a.example/1", "text": "Первый текст о переговорах.", "lang": "ru"}
            ),
            "{not json",
            json.dumps(
                {
                    "url": "https://a.example/2",
                    "html": "<html><body><p>Second</p></body></html>",
                    "title": "Second",
                    "published_at": "2026-10-01T10:00:00Z",
                    "source": "corpus",
                }
            ),
            json.dumps({"text": "no url"}),
            json.dumps({"url": "https://a.example/3"}),
            json.dumps({"url": "mailto:x@example.com", "text": "x"}),
            json.dumps(["a", "list"]),
        ],
    )
    proc = run_cli("import", str(src), db=db)
    assert f"{src}:2: skipped: not JSON" in proc.stderr
    assert f"{src}:4: skipped: missing 'url'" in proc.stderr
    assert f"{src}:5: skipped: needs 'html' or 'text'" in proc.stderr
    assert f"{src}:6: skipped:" in proc.stderr
    assert f"{src}:7: skipped: not a JSON object" in proc.stderr
    assert "imported 2 of 7 records: 2 new" in proc.stdout
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT url, source, title FROM v_documents ORDER BY url").fetchall()
    assert rows == [
        ("https://a.example/1", None, None),
        ("https://a.example/2", "corpus", "Second"),
    ]


def test_reimport_is_idempotent_and_a_changed_body_is_a_new_version(tmp_path):
    db = tmp_path / "n.duckdb"
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [
            json.dumps({"url": "https://b.example/story/?utm_source=tg", "text": "Original text."}),
        ],
    )
    run_cli("import", str(first), db=db)
    out = run_cli("import", str(first), db=db).stdout
    assert "0 new, 0 changed, 1 unchanged" in out
    # the same page under another spelling of its URL, with a changed body
    changed = write_jsonl(
        tmp_path / "b.jsonl",
        [
            json.dumps({"url": "https://B.example/story#top", "text": "Edited text."}),
        ],
    )
    assert "0 new, 1 changed" in run_cli("import", str(changed), db=db).stdout
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        versions = con.execute(
            "SELECT version, text FROM document_versions ORDER BY version"
        ).fetchall()
    assert versions == [(1, "Original text."), (2, "Edited text.")]
    run_cli("process", "--no-progress", db=db)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT version, text FROM v_documents").fetchall() == [
            (2, "Edited text.")
        ]


def test_oversized_document_is_rejected_with_a_reason(tmp_path):
    db = tmp_path / "n.duckdb"
    config = tmp_path / "narrascope.toml"
    config.write_text("[crawl]\nmax_bytes = 1000\n")
    src = write_jsonl(
        tmp_path / "big.jsonl",
        [
            json.dumps({"url": "https://c.example/big", "html": "<p>" + "x" * 5000 + "</p>"}),
            json.dumps({"url": "https://c.example/small", "text": "small enough"}),
        ],
    )
    out = run_cli("--config", str(config), "import", str(src), db=db).stdout
    assert "1 new" in out and "1 rejected" in out
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage, reason, url FROM rejections").fetchall() == [
            ("import", "too_large", "https://c.example/big")
        ]


def good_line(n: int) -> str:
    return json.dumps({"url": f"https://ok.example/{n}", "text": f"Текст номер {n}."})


def stored_urls(db) -> list[str]:
    with connect(db, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT url FROM v_documents ORDER BY url").fetchall()]


def assert_printable(text: str) -> None:
    """No raw binary or terminal control characters reached the output."""
    assert all(c.isprintable() or c == "\n" for c in text), repr(text)


def test_a_random_bytes_warc_is_named_and_exits_1_and_the_other_files_still_import(tmp_path):
    db = tmp_path / "n.duckdb"
    noise = tmp_path / "noise.warc.gz"
    noise.write_bytes(
        bytes(range(256)) * 8 + b"\x1b[2J\x1b]0;pwned\x07" + bytes(range(255, -1, -1))
    )
    good = write_jsonl(tmp_path / "good.jsonl", [good_line(1), good_line(2)])
    proc = run_cli("import", str(noise), str(good), db=db, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{noise}: skipped: not a readable WARC file" in proc.stderr
    assert proc.stderr.strip().endswith(f"error: nothing could be imported from {noise}")
    assert "imported 2 of 2 records: 2 new" in proc.stdout
    assert not re.search(
        r"(^|[\s,(:])-\d", proc.stdout
    )  # no negative count (a run id may hold "-1")
    assert_printable(proc.stdout + proc.stderr)
    assert stored_urls(db) == ["https://ok.example/1", "https://ok.example/2"]


def test_a_file_with_nothing_importable_exits_1_naming_it(tmp_path):
    db = tmp_path / "n.duckdb"
    bad = write_jsonl(tmp_path / "bad.jsonl", ["{not json", json.dumps({"text": "no url"})])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    good = write_jsonl(tmp_path / "good.jsonl", [good_line(1)])
    proc = run_cli("import", str(bad), str(good), str(empty), db=db, check=False)
    assert proc.returncode == 1
    assert f"{empty}: skipped: empty file" in proc.stderr
    assert f"error: nothing could be imported from {bad}, {empty}" in proc.stderr
    # the summary adds up: 2 of the 3 records malformed, the empty file counted apart
    assert "imported 1 of 3 records" in proc.stdout
    assert "2 malformed, 1 problem(s) with the files themselves" in proc.stdout
    assert stored_urls(db) == ["https://ok.example/1"]  # the good file was imported all the same
    with connect(db, read_only=True) as con:  # and the run says it failed, as the exit code
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    # a file that imports is exit 0
    assert run_cli("import", str(good), db=db).returncode == 0


def test_a_missing_file_or_a_folder_is_named_and_the_other_files_still_import(tmp_path):
    """`import exports/*.jsonl typo.jsonl`: one missing file (or a folder) was a usage error
    that imported nothing, so a cron job lost the whole day's files to one name."""
    db = tmp_path / "n.duckdb"
    good = write_jsonl(tmp_path / "good.jsonl", [good_line(1)])
    folder = tmp_path / "exports"
    folder.mkdir()
    missing = tmp_path / "typo.jsonl"
    proc = run_cli("import", str(good), str(missing), str(folder), db=db, check=False)
    assert proc.returncode == 1
    assert f"{missing}: skipped: cannot read: No such file or directory" in proc.stderr
    assert f"{folder}: skipped: a folder, not a file: name the files in it" in proc.stderr
    assert f"error: nothing could be imported from {missing}, {folder}" in proc.stderr
    assert stored_urls(db) == ["https://ok.example/1"]
    # a pipe was "empty file": it is read by its first bytes, which a pipe cannot give back
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # never opened: nothing writes to it
    proc = run_cli("import", str(pipe), str(good), db=db, check=False)
    assert f"{pipe}: skipped: not a regular file (a pipe or a device)" in proc.stderr
    # with no file at all to read, it is a usage error, and no run is recorded
    proc = run_cli("import", str(missing), str(folder), db=db, check=False)
    assert proc.returncode == 2
    assert f"no such file: {missing}, {folder} (a folder)" in proc.stderr
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_v_runs_counts_the_malformed_records_the_import_printed(tmp_path):
    """An empty file is no record: v_runs.malformed ("records that could not be read") said 2
    of 2 records malformed beside 1 imported, where the command printed 1 malformed."""
    db = tmp_path / "n.duckdb"
    some = write_jsonl(tmp_path / "some.jsonl", ["{not json", good_line(1)])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    proc = run_cli("import", str(some), str(empty), db=db, check=False)
    assert "imported 1 of 2 records: 1 new" in proc.stdout
    assert "1 malformed, 1 problem(s) with the files themselves" in proc.stdout
    with connect(db, read_only=True) as con:
        row = con.execute("SELECT records, malformed, new FROM v_runs").fetchall()
    print("v_runs (records, malformed, new):", row)
    assert row == [(2, 1, 1)]  # imported + malformed = records, as printed


def write_warc(path, pages: list[tuple[str, str]], gzip: bool = True) -> list[int]:
    """A WARC of HTML responses, gzipped unless told; returns each record's offset."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    offsets = []
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        for url, html in pages:
            offsets.append(handle.tell())
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=io.BytesIO(html.encode()), http_headers=headers
                )
            )
    return offsets


def test_a_truncated_warc_imports_what_it_can_with_a_warning(tmp_path):
    db = tmp_path / "n.duckdb"
    pages = [(f"https://w.example/{n}", f"<html><body><p>Page {n} {'word ' * 300}</p></body></html>")
             for n in range(3)]  # fmt: skip
    whole = tmp_path / "whole.warc.gz"
    offsets = write_warc(whole, pages)
    cut = tmp_path / "cut.warc.gz"
    data = whole.read_bytes()
    cut.write_bytes(data[: offsets[2] + (len(data) - offsets[2]) // 2])  # the third record halved
    proc = run_cli("import", str(cut), db=db)
    assert proc.returncode == 0
    assert f"{cut}: warning: truncated: the record at byte {offsets[2]} is cut short" in proc.stderr
    assert "imported 2 of 2 records: 2 new" in proc.stdout
    assert stored_urls(db) == ["https://w.example/0", "https://w.example/1"]
    # the whole file imports the rest, without a warning
    proc = run_cli("import", str(whole), db=db)
    assert "warning" not in proc.stderr
    assert "1 new, 0 changed, 2 unchanged" in proc.stdout


def test_a_warc_response_that_is_not_http_is_counted_as_skipped(tmp_path):
    """Heritrix archives each host's DNS lookup as a response record to ``dns:HOST``: it is
    no page, and the summary's skipped responses count it, beside the page imported."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from crawlers.jsonl_import import import_files

    path = tmp_path / "heritrix.warc.gz"
    write_warc(path, [("https://w.example/a", f"<html><body><p>{'word ' * 300}</p></body></html>")])
    with open(path, "ab") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warc_record(
            "dns:w.example", "response", payload=io.BytesIO(b"20261206 w.example. 300 IN A 1.2.3.4"),
            warc_content_type="text/dns"))  # fmt: skip
    report = import_files(tmp_path / "n.duckdb", [path])
    assert (report.records, report.skipped, report.warnings) == (1, 1, [])
    assert report.summary()["skipped"] == 1
    # the command says so, and why (before, "imported 0 of 0 records" and no word of them)
    with open(path, "ab") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, ctype, status in (
            ("https://w.example/t", "text/plain", "200 OK"),
            ("https://w.example/gone", "text/html", "404 Not Found"),
        ):
            headers = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(b"<p>x</p>"), http_headers=headers))  # fmt: skip
    out = run_cli("import", str(path), db=tmp_path / "m.duckdb").stdout
    assert ("not imported: 3 WARC response(s) that are no page to import: not an HTTP response 1, "
            "not HTML (text/plain) 1, HTTP 404 1") in out, out  # fmt: skip


def test_bad_fields_are_reported_not_misnamed_or_dropped_silently(tmp_path):
    db = tmp_path / "n.duckdb"
    src = write_jsonl(
        tmp_path / "fields.jsonl",
        [
            json.dumps({"url": 12345, "text": "x"}),
            json.dumps(
                {"url": "https://f.example/date", "text": "Dated.", "published_at": "not-a-date"}
            ),
            json.dumps({"url": "https://f.example/both", "html": "<p>Page</p>", "text": "Other"}),
            json.dumps(
                {"url": "https://f.example/ok", "text": "Fine.", "published_at": "2026-10-01"}
            ),
            json.dumps({"url": "https://f.example/n", "text": 5}),
            json.dumps({"url": "https://f.example/lang", "text": "Язык.", "lang": "russian"}),
            # an empty "html" beside a text (an exporter's empty field): the text is kept
            json.dumps({"url": "https://f.example/empty-html", "html": "", "text": "Kept."}),
            # a regional tag is its language (before, English waited for an "en-us" model)
            json.dumps({"url": "https://f.example/en-us", "text": "Region.", "lang": "en-US"}),
            # spaces around a date: the date (before, "is not a date"); "" is none given
            json.dumps(
                {
                    "url": "https://f.example/spaced",
                    "text": "Spaced.",
                    "published_at": "  2026-10-02  ",
                }
            ),  # fmt: skip
            json.dumps({"url": "https://f.example/none", "text": "None.", "published_at": ""}),
            # "und" names no language: detected, without a word (before, stored as "und")
            json.dumps(
                {
                    "url": "https://f.example/und",
                    "lang": "und",
                    "text": "Это документ на русском языке о погоде и политике.",
                }
            ),  # fmt: skip
        ],
    )
    proc = run_cli("import", str(src), db=db)
    assert (  # was ignored without a word (found by a helper's pass)
        f"{src}:6: warning: 'lang' \"russian\" is not a language code (like ru, en, pt-BR): "
        "ignored, the language is detected" in proc.stderr
    )
    assert f"{src}:1: skipped: 'url' must be a string, not a number" in proc.stderr
    assert "missing 'url'" not in proc.stderr
    assert (
        f"{src}:2: warning: 'published_at' \"not-a-date\" is not a date (ISO 8601 expected): "
        "kept as given, but not used as the publication date" in proc.stderr
    )
    assert f"{src}:3: warning: 'text' ignored: 'html' is given" in proc.stderr
    assert f"{src}:4:" not in proc.stderr
    assert f"{src}:5: skipped: 'text' must be a string, not a number" in proc.stderr
    for line in (7, 8, 9, 10, 11):
        assert f"{src}:{line}:" not in proc.stderr, proc.stderr
    assert "imported 9 of 11 records: 9 new" in proc.stdout
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT d.url, v.hint_published_at, d.published_at::DATE::VARCHAR, v.html IS NOT NULL "
            "OR v.html_zlib IS NOT NULL, v.text FROM v_documents d "
            "JOIN document_versions v USING (doc_id, version) ORDER BY d.url"
        ).fetchall()
    assert rows == [
        ("https://f.example/both", None, None, True, None),  # the html is kept, the text not
        ("https://f.example/date", "not-a-date", None, False, "Dated."),  # kept as given
        ("https://f.example/empty-html", None, None, False, "Kept."),  # before: neither kept
        ("https://f.example/en-us", None, None, False, "Region."),
        ("https://f.example/lang", None, None, False, "Язык."),
        ("https://f.example/none", None, None, False, "None."),
        ("https://f.example/ok", "2026-10-01", "2026-10-01", False, "Fine."),
        ("https://f.example/spaced", "2026-10-02", "2026-10-02", False, "Spaced."),
        ("https://f.example/und", None, None, False,
         "Это документ на русском языке о погоде и политике."),
    ]  # fmt: skip
    run_cli("process", "--stage", "extract", "--stage", "langid", "--no-progress", db=db)
    with connect(db, read_only=True) as con:
        langs = dict(con.execute("SELECT url, lang FROM v_documents").fetchall())
    assert langs["https://f.example/en-us"] == "en"  # provided, as its language
    assert langs["https://f.example/und"] == "ru"  # detected


def test_import_holds_the_writer_lock_and_records_its_run(tmp_path):
    import fcntl

    from crawlers.jsonl_import import import_files
    from storage.lock import LockHeld, lock_path

    db = tmp_path / "n.duckdb"
    src = write_jsonl(tmp_path / "a.jsonl", [good_line(1), "{broken"])
    with open(lock_path(db), "a+") as other:  # another writer holds the database
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockHeld):
            import_files(db, [src])
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    assert not db.exists() or stored_urls(db) == []
    report = import_files(db, [src])
    assert (report.records, report.imported, len(report.malformed)) == (2, 1, 1)
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT kind, status, summary FROM runs").fetchall()
    assert [(k, s) for k, s, _ in runs] == [("import", "ok")]
    summary = json.loads(runs[0][2])
    assert (summary["records"], summary["imported"], summary["malformed"]) == (2, 1, 1)


def test_a_date_no_page_was_published_on_is_set_aside_and_the_run_goes_on(tmp_path):
    """Year 1 made dedup's 30-day window overflow and stopped the stage for its whole batch
    on three runs; year 20000 is a date DuckDB reads but Python cannot. A date before 1900 or
    more than two days after the fetch is kept in the page's meta, never used as its date; so is
    one with a UTC offset no place has, which DuckDB reads (+99:00: four days earlier)."""
    from crawlers.demo.server import load_articles

    articles = [a for a in load_articles() if a["lang"] == "ru" and "copy_of" not in a][:5]
    dates = ["0001-01-01", "20000-01-01", "3000-01-01T00:00:00Z", "2026-10-01",
             "2026-10-02T12:00:00+99:00"]  # fmt: skip
    src = write_jsonl(
        tmp_path / "dates.jsonl",
        [
            json.dumps(
                {
                    "url": f"https://d.example/{i}",
                    "title": a["title"],
                    "text": a["body"],
                    "published_at": when,
                },
                ensure_ascii=False,
            )  # fmt: skip
            for i, (a, when) in enumerate(zip(articles, dates, strict=True))
        ],
    )
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(src), db=db)
    for line, when in enumerate(dates[:3], 1):
        assert (
            f"{src}:{line}: warning: 'published_at' \"{when}\" is no publication date (before "
            "1900, more than two days ahead, or a word such as 'epoch'): kept in the page's meta "
            "(published_at_ignored)"
        ) in proc.stderr
    assert f"{src}:4:" not in proc.stderr
    assert (
        f"{src}:5: warning: 'published_at' \"{dates[4]}\" has a UTC offset no place has (beyond "
        "-12:00 to +14:00): kept in the page's meta (published_at_ignored)"
    ) in proc.stderr
    config = tmp_path / "narrascope.toml"
    config.write_text(
        '[pipeline]\nstages = ["extract", "langid", "dedup", "cluster"]\n'
        '[dedup]\ntranslated = false\n[cluster]\nvectors = "words"\n'
    )
    out = run_cli("--config", str(config), "process", "--no-progress", db=db).stdout
    assert "dedup v" in out and "cluster v" in out and "5 done" in out
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT d.url, d.published_at::DATE::VARCHAR, m.meta->>'published_at_ignored', "
            "d.narrative_id IS NOT NULL FROM v_documents d "
            "LEFT JOIN page_meta m ON m.doc_id = d.doc_id AND m.version = d.version ORDER BY 1"
        ).fetchall()
        assert con.execute("SELECT count(*) FROM stage_errors").fetchone()[0] == 0
    assert rows == [
        ("https://d.example/0", None, "0001-01-01", True),
        ("https://d.example/1", None, "20000-01-01", True),
        ("https://d.example/2", None, "3000-01-01T00:00:00Z", True),
        ("https://d.example/3", "2026-10-01", None, True),
        ("https://d.example/4", None, dates[4], True),
    ]


def test_every_iso_form_of_a_date_is_a_publication_date(tmp_path):
    """ISO 8601's basic form ("20261125") and its week dates ("2026-W48-3") are dates Python
    reads and DuckDB does not: they were "not a date", and the page had none."""
    db = tmp_path / "n.duckdb"
    given = ["2026-W48-3", "2026W483", "20261125", "20261125T101500Z", "2026-W60-1", "18991231",
             " Epoch "]  # fmt: skip
    lines = [json.dumps({"url": f"https://d.example/{n}", "text": "word " * 100,
                         "published_at": value}) for n, value in enumerate(given)]  # fmt: skip
    proc = run_cli("import", str(write_jsonl(tmp_path / "d.jsonl", lines)), db=db)
    assert "7 new" in proc.stdout
    assert proc.stderr.count("is not a date") == 1  # week 60 is none
    # a date too early to be one is named as it was given
    assert "d.jsonl:6: warning: 'published_at' \"18991231\" is no publication date" in proc.stderr
    assert "d.jsonl:5: warning: 'published_at' \"2026-W60-1\" is not a date" in proc.stderr
    # DuckDB reads the word "epoch" as 1970-01-01: it was every such document's date, unsaid
    assert "d.jsonl:7: warning: 'published_at' \"Epoch\" is no publication date" in proc.stderr
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT strftime(published_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') "
            "FROM v_documents ORDER BY url"
        ).fetchall()
        ignored = con.execute(
            "SELECT m.meta->>'published_at_ignored' FROM page_meta m "
            "JOIN documents d USING (doc_id) WHERE d.canonical_url LIKE '%/6'"
        ).fetchall()
    assert [r[0] for r in rows] == ["2026-11-25 00:00"] * 3 + ["2026-11-25 10:15", None, None, None]
    assert ignored == [("Epoch",)]


def test_a_url_with_a_control_character_is_skipped_as_other_non_urls_are(tmp_path):
    """A NUL or a line break inside a URL: no link gives one unencoded, and stored as given it
    travels into logs, exports and the dashboard."""
    from storage.urls import canonical_url

    src = write_jsonl(
        tmp_path / "urls.jsonl",
        [
            json.dumps({"url": u, "text": "Text."})
            for u in (
                "https://ex.test/a\u0000x",
                "https://ex.test/b\nx",
                "https://ex.test/c\u007f",
                "https://ex.test/d\u009bx",
                "https://ex.test/e\u2028x",
                "https://ex.test/f\u202ex",
                "  https://ex.test/ok  ",
            )
        ],  # fmt: skip
    )
    proc = run_cli("import", str(src), db=tmp_path / "n.duckdb")
    for line in range(1, 7):
        assert f"{src}:{line}: skipped: URL has a control character" in proc.stderr
    assert "imported 1 of 7 records: 1 new" in proc.stdout
    assert canonical_url("  https://ex.test/ok\t") == "https://ex.test/ok"  # ends are trimmed


def test_what_import_skipped_and_why_is_in_the_log_file(tmp_path):
    """A cron job that keeps no stderr still has each skipped line's reason: --log-file."""
    src = write_jsonl(
        tmp_path / "some.jsonl",
        [
            "{not json",
            json.dumps({"url": "https://l.example/1", "text": "Fine.", "published_at": "nope"}),
        ],  # fmt: skip
    )
    logs = tmp_path / "run.jsonl"
    proc = run_cli("--log-file", str(logs), "--log-format", "json", "import", str(src),
                   db=tmp_path / "n.duckdb")  # fmt: skip
    assert proc.stderr.count(f"{src}:") == 2  # said once on stderr, not twice
    records = [json.loads(line) for line in logs.read_text().splitlines()]
    [skipped] = [r for r in records if r.get("event") == "import_skipped"]
    assert (skipped["file"], skipped["line"]) == (str(src), 1)
    assert skipped["reason"].startswith("not JSON")
    [warned] = [r for r in records if r.get("event") == "import_warning"]
    assert warned["line"] == 2 and "is not a date" in warned["reason"]
    [done] = [r for r in records if r.get("event") == "import"]
    assert done["summary"]["malformed"] == 1 and done["summary"]["new"] == 1
    assert skipped["run_id"] == done["run_id"] != ""


def current(db) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT d.current_version, v.text FROM documents d JOIN document_versions v "
            "ON v.doc_id = d.doc_id AND v.version = d.current_version"
        ).fetchall()


def test_a_url_new_in_the_file_and_changed_later_in_it_is_current_at_its_last_text(tmp_path):
    """One file names a URL twice, with two texts (an archive that kept both). The second is
    the current version; a later import of a third text adds version 3. Before the fix the
    document stayed at version 1 (the older text, in v_documents and every export), and every
    later import of another text for that URL failed: "Duplicate key ... version: 2"."""
    db = tmp_path / "n.duckdb"
    url = "https://c.example/story"
    texts = ["The first text of the story.", "The story, corrected.", "A third text of it."]
    lines = [json.dumps({"url": url, "text": t}) for t in texts]
    both = write_jsonl(tmp_path / "both.jsonl", lines[:2])
    assert "1 new, 1 changed" in run_cli("import", str(both), db=db).stdout
    assert current(db) == [(2, texts[1])]
    third = write_jsonl(tmp_path / "third.jsonl", lines[2:])
    assert "1 changed" in run_cli("import", str(third), db=db).stdout
    assert current(db) == [(3, texts[2])]
    # the first file again: both texts are stored already (before, two more versions each
    # time, the current text swapped, and the later stages redid the document)
    assert "0 new, 0 changed, 2 unchanged" in run_cli("import", str(both), db=db).stdout
    assert current(db) == [(3, texts[2])]
    # a text seen again later in one file is as if seen in another import: the same versions
    # whatever the batches (before, a batch boundary between them decided)
    url2 = "https://c.example/other"
    aba = [json.dumps({"url": url2, "text": t}) for t in (texts[0], texts[1], texts[0])]
    for size, name in ((500, "one.duckdb"), (1, "each.duckdb")):
        from crawlers.jsonl_import import import_files

        report = import_files(tmp_path / name, [write_jsonl(tmp_path / "aba.jsonl", aba)],
                              batch_size=size)  # fmt: skip
        assert (report.counts.new, report.counts.changed, report.counts.unchanged) == (1, 1, 1)


def test_files_are_read_by_what_they_hold_not_only_by_their_name(tmp_path):
    """Gzipped JSON Lines are read as JSON Lines, a WARC file named otherwise (Heritrix's
    `.warc.gz.open`) as WARC, and UTF-16 text is one line naming it. Before, each gave one
    "not UTF-8" or "not JSON" line for every line in it, and nothing was imported."""
    import gzip
    import shutil

    lines = [json.dumps({"url": f"https://g.example/{i}", "text": f"Text {i}."}) for i in range(3)]
    packed = tmp_path / "feed.jsonl.gz"
    packed.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    archive = tmp_path / "crawl.warc.gz"
    write_warc(
        archive, [("https://w.example/a", f"<html><body><p>{'word ' * 300}</p></body></html>")]
    )
    open_name = tmp_path / "crawl-1.warc.gz.open"
    shutil.move(archive, open_name)
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(("\n".join(lines) + "\n").encode("utf-16"))
    plain = tmp_path / "plain.warc.open"  # uncompressed, named otherwise
    write_warc(
        tmp_path / "p.warc",
        [("https://w.example/p", f"<html><body><p>{'word ' * 300}</p></body></html>")],
    )
    shutil.move(tmp_path / "p.warc", plain)
    broken = tmp_path / "broken.gz"  # a gzip header, then no deflate stream
    broken.write_bytes(gzip.compress(b"x")[:10] + b"\xff" * 20)
    proc = run_cli("import", str(packed), str(open_name), str(wide), str(plain), str(broken),
                   db=tmp_path / "n.duckdb", check=False)  # fmt: skip
    assert proc.returncode == 1  # the UTF-16 file: nothing could be imported from it
    assert "imported 5 of 5 records: 5 new" in proc.stdout, proc.stdout + proc.stderr
    assert f"{broken}: warning: the gzip stream breaks off before its first line" in proc.stderr
    assert proc.stderr.count(f"{wide}: skipped: UTF-16 text") == 1
    assert "not UTF-8" not in proc.stderr and "not JSON" not in proc.stderr
