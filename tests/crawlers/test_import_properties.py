"""Hostile and malformed files through the JSON Lines and WARC importers (issue 14).

Files are written to disk and imported into a real DuckDB file as ``narrascope import`` does:
a line or record that cannot be imported is reported with its number and a short printable
reason, and the good ones beside it are stored. The named extremes (a 20 MB line, nesting
100,000 deep, truncated UTF-8, mixed encodings, empty files) are plain tests.
"""

from __future__ import annotations

import io
import itertools
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawlers.jsonl_import import ImportReport, import_files
from storage import connect
from tests.support.strategies import hostile_text, json_values, nested, pages, within

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_numbers = itertools.count()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """One database for the module's imports: each example's good lines have URLs of their own."""
    return tmp_path_factory.mktemp("properties") / "import.duckdb"


def good_line() -> tuple[bytes, str]:
    url = f"https://good.example/{next(_numbers)}"
    return json.dumps({"url": url, "text": "Хороший текст, который можно прочесть."}).encode(), url


def stored(db, urls: list[str]) -> set[str]:
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT url FROM document_versions WHERE url IN (SELECT unnest(?::VARCHAR[]))", [urls]
        ).fetchall()
    return {url for (url,) in rows}


def check_messages(report: ImportReport, file: str) -> None:
    """Every problem names its file, and says why in a short line of printable text (never
    the input's raw bytes: a terminal shows what an attacker wrote there)."""
    for where, _number, why in report.malformed + report.warnings:
        assert where == file
        assert why and len(why) <= 300 and why.isprintable(), why


# --- JSON Lines ---------------------------------------------------------------------------

KEYS = ("html", "text", "title", "published_at", "source", "lang")
urls = st.one_of(
    json_values,
    st.sampled_from(["", " ", "javascript:alert(1)", "http://", "https://[::1", "https://a.example:99999/",
                     "https://a.example/\u202egnp.exe", "https://xn--80ak6aa92e.com/"]),
    hostile_text.map("https://hostile.example/".__add__),
)  # fmt: skip
records = st.fixed_dictionaries(
    {"url": urls}, optional={key: json_values | hostile_text for key in KEYS}
)
hostile_lines = st.one_of(
    json_values.map(json.dumps).map(str.encode),
    st.builds(lambda r, ascii: json.dumps(r, ensure_ascii=ascii).encode(), records, st.booleans()),
    st.binary(max_size=300),
    hostile_text.map(str.encode),
    st.builds(lambda cut: good_line()[0][:cut], st.integers(1, 60)),  # a line cut short
    st.sampled_from(
        [
            b'{"url": "https://s.example/1", "text": "lone \\ud800 surrogate", "title": "\\udfff"}',
            b'{"url": "https://s.example/\\ud800", "text": "x"}',
            '{"url": "https://e.example/1", "text": "Привет"}'.encode("cp1251"),  # not UTF-8
            b'{"url": "https://e.example/2", "text": "\xd0"}',  # UTF-8 cut inside a character
            b"\xef\xbb\xbf" + good_line()[0],  # a byte order mark, not on the first line
            b'{"url": "https://n.example/", "text": "x", "n": ' + b"9" * 5000 + b"}",
            b'{"url": "https://n.example/", "text": NaN}',
        ]
    ),  # fmt: skip
    st.integers(1_000, 100_000).map(
        lambda d: b'{"url": "https://d.example/", "x": ' + nested("[", "]", d).encode() + b"}"
    ),  # fmt: skip
).map(lambda line: line.replace(b"\n", b" "))


@SETTINGS
@given(bad=st.lists(hostile_lines, min_size=1, max_size=5),
       where=st.lists(st.integers(0, 5), min_size=1, max_size=3))  # fmt: skip
@example(bad=[b'{"url": "https://p.example/", "text": "x", "published_at": "\xe2\x80\xae1202"}'],
         where=[0])  # fmt: skip
def test_jsonl_import_reports_bad_lines_by_number_and_imports_the_good_ones(
    tmp_path, db, bad, where
):
    """Good lines among hostile ones (``where``: the places they are put in)."""
    good = [good_line() for _ in where]
    lines = list(bad)
    for at, (line, _) in zip(where, good, strict=True):
        lines.insert(at, line)
    path = tmp_path / f"{next(_numbers)}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = import_files(db, [path])
    check_messages(report, str(path))
    good_numbers = {number for number, line in enumerate(lines, 1) if line in dict(good)}
    bad_numbers = [number for _, number, _ in report.malformed]
    assert len(set(bad_numbers)) == len(bad_numbers) and not set(bad_numbers) & good_numbers
    read = [lines[0].removeprefix(b"\xef\xbb\xbf"), *lines[1:]]  # a BOM opens the file
    assert report.records == sum(bool(line.strip()) for line in read)
    assert report.imported + len(report.malformed) == report.records
    assert stored(db, [url for _, url in good]) == {url for _, url in good}


def import_one(tmp_path, db, line: bytes, **limits) -> tuple[ImportReport, str]:
    """A file of ``line`` between two good lines, imported: its report, the good lines'
    presence checked."""
    (first, url1), (last, url2) = good_line(), good_line()
    path = tmp_path / f"{next(_numbers)}.jsonl"
    path.write_bytes(first + b"\n" + line + b"\n" + last + b"\n")
    report = import_files(db, [path], **limits)
    check_messages(report, str(path))
    assert stored(db, [url1, url2]) == {url1, url2}
    assert report.records == 3
    return report, str(path)


def test_a_20_mb_line_is_rejected_as_too_large_in_bounded_time(tmp_path, db):
    body = "<p>" + "слово " * 1_800_000
    line = json.dumps({"url": "https://big.example/", "html": body}, ensure_ascii=False).encode()
    assert 19_000_000 < len(line) < 21_000_000
    with within(30):
        report, _ = import_one(tmp_path, db, line)
    assert report.counts.by_reason == {"too_large": 1} and not report.malformed


def test_a_line_longer_than_any_record_is_skipped_unread(tmp_path, db):
    """With max_bytes of 100 kB, a 20 MB line is never held whole: it is measured in pieces."""
    line = b'{"url": "https://huge.example/", "text": "' + b"x" * 20_000_000 + b'"}'
    with within(30):
        report, path = import_one(tmp_path, db, line, max_bytes=100_000)
    [(_, number, why)] = report.malformed
    assert number == 2 and why.startswith(f"a line of {len(line) + 1} bytes")


@pytest.mark.parametrize(
    "line, why",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ('{"url": "https://e.example/", "text": "Привет"}'.encode("cp1251"), "not UTF-8"),
        ('{"url": "https://e.example/", "text": "Привет"}'.encode()[:-5], "not UTF-8"),
        (b'{"url": "https://e.example/", "text": "ok"', "not JSON"),
        (b'{"url": "https://e.example/", "text": ["a"]}', "'text' must be a string, not a list"),
        (b'{"url": "https://e.example/", "html": {"a": 1}}', "'html' must be a string, not an"),
        (b'{"url": "https://e.example/", "text": "x", "lang": 7}', "'lang' must be a string"),
        (b'{"url": true, "text": "x"}', "'url' must be a string, not a boolean"),
        (
            b'{"url": "https://e.example/", "text": "x", "title": "' + b"t" * 20_000 + b'"}',
            "'title' is 20000 characters long",
        ),  # fmt: skip
        (b'{"url": "https://e.example/\\ud800", "text": "x"}', "unpaired UTF-16 surrogate"),
        (b"null", "not a JSON object"),
        (b'"just a string"', "not a JSON object"),
    ],
    ids=[
        "100,000 deep",
        "windows-1251",
        "truncated UTF-8",
        "truncated JSON",
        "text list",
        "html object",
        "lang number",
        "url boolean",
        "long title",
        "surrogate url",
        "null",
        "string",
    ],  # fmt: skip
)
def test_a_malformed_line_is_named_with_its_number_and_why(tmp_path, db, line, why):
    report, path = import_one(tmp_path, db, line)
    assert [(number, why in message) for _, number, message in report.malformed] == [(2, True)]


def test_lone_surrogates_are_replaced_and_the_line_imported_with_a_warning(tmp_path, db):
    line = b'{"url": "https://s.example/x", "text": "a \\ud800 b", "title": "\\udfff"}'
    report, _ = import_one(tmp_path, db, line)
    assert not report.malformed and report.counts.new == 3
    assert [n for _, n, _ in report.warnings] == [2, 2]
    with connect(db, read_only=True) as con:
        row = con.execute(
            "SELECT text, hint_title FROM document_versions WHERE url = 'https://s.example/x'"
        ).fetchone()
    assert row == ("a \ufffd b", "\ufffd")


def test_empty_and_blank_files(tmp_path, db):
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_bytes(b"")
    blank.write_bytes(b"\xef\xbb\xbf\n  \n\r\n\t\n")
    report = import_files(db, [empty, blank])
    assert report.records == 0 and report.empty_files() == [str(empty), str(blank)]
    assert report.malformed == [(str(empty), 0, "empty file")]


# --- WARC -----------------------------------------------------------------------------------

CONTENT_TYPES = ("text/html", "text/html; charset=utf-8", "text/html; charset=windows-1251",
                 "text/html; charset=x-nonsense", "application/xhtml+xml", "image/png", "",
                 "TEXT/HTML;;charset=")  # fmt: skip
warc_records = st.fixed_dictionaries(
    {
        "url": st.one_of(hostile_text.map("https://w.example/".__add__), hostile_text),
        "type": st.sampled_from(["response", "response", "resource", "request", "metadata"]),
        "status": st.sampled_from([200, 200, 200, 404, 301, 500, 999]),
        "content_type": st.sampled_from(CONTENT_TYPES),
        "encoding": st.sampled_from([None, None, "gzip", "br"]),  # a body that is neither
        "body": st.binary(max_size=400) | pages.map(lambda p: p.encode("utf-8", "replace")),
    }
)
corruptions = st.one_of(
    st.none(),
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(
        st.just("flip"),
        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=4),
    ),  # fmt: skip
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=200)),
)


def warc_file(records: list[dict], gz: bool) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gz)
    for r in records:
        url = r["url"].replace("\r", " ").replace("\n", " ")  # corruption is drawn apart
        headers = [("Content-Type", r["content_type"])]
        if r.get("encoding"):
            headers.append(("Content-Encoding", r["encoding"]))
        http = StatusAndHeaders(f"{r['status']} X", headers, protocol="HTTP/1.1")
        kind = r["type"]
        if kind == "request":
            http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "w.example")], is_http_request=True)
        elif kind not in ("response", "request"):
            http = None
        writer.write_record(writer.create_warc_record(
            url, kind, payload=io.BytesIO(r["body"]), http_headers=http))  # fmt: skip
    return out.getvalue()


def test_a_brotli_response_from_our_own_archive_imports(tmp_path, db):
    """The crawl archives bodies as they came off the wire; warcio's brotli hook raised on
    them (AttributeError), which stopped the whole import."""
    import brotli

    from crawlers.warc import WarcArchive
    from storage.documents import decompress_html

    archive = WarcArchive(tmp_path / "warc", "run")
    page = "<html><body><p>Сжатая страница.</p></body></html>"
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "br")]
    url = f"https://br.example/{next(_numbers)}"
    path, _, _ = archive.write(url, 200, headers, brotli.compress(page.encode()))
    archive.close()
    report = import_files(db, [path])
    assert not report.malformed and not report.warnings and report.imported == 1
    with connect(db, read_only=True) as con:
        [(stored_html,)] = con.execute(
            "SELECT html_zlib FROM document_versions WHERE url = ?", [url]
        ).fetchall()
    assert decompress_html(stored_html) == page
    # the dashboard's archive page reads the same record; a brotli bomb stops at its cap
    from dashboards.archive import MAX_BYTES, read_record

    assert read_record(*archive_record(tmp_path, url, brotli.compress(page.encode()), headers),
                       db).text == page  # fmt: skip
    bomb = brotli.compress(b"a" * (4 * MAX_BYTES))
    archived = read_record(*archive_record(tmp_path, url, bomb, headers), db)
    assert archived.truncated and MAX_BYTES < archived.length <= 2 * MAX_BYTES
    # importing it unpacks no more than max_bytes and a byte: too large
    report = import_files(db, [archive_record(tmp_path, url, bomb, headers)[0]], max_bytes=1000)
    assert report.counts.new == 0 and report.counts.by_reason == {"too_large": 1}


def archive_record(tmp_path, url: str, body: bytes, headers) -> tuple[str, int, int]:
    """One response archived as the crawl archives it: (file, offset, length)."""
    from crawlers.warc import WarcArchive

    archive = WarcArchive(tmp_path / f"warc-{next(_numbers)}", "run")
    written = archive.write(url, 200, headers, body)
    archive.close()
    return written


def corrupt(data: bytes, corruption) -> bytes:
    if corruption is None:
        return data
    kind, how = corruption
    if kind == "cut":
        return data[: int(how * len(data))]
    if kind == "append":
        return data + how
    data = bytearray(data)
    for where, byte in how:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    return bytes(data)


@SETTINGS
@given(records=st.lists(warc_records, max_size=4), gz=st.booleans(), corruption=corruptions)
@example(records=[{"url": "https://w.example/br", "type": "response", "status": 200,
                   "content_type": "text/html", "encoding": "br", "body": b"not brotli"}],
         gz=True, corruption=None)  # warcio's brotli hook raised AttributeError  # fmt: skip
def test_warc_import_never_raises_and_accounts_for_every_response(
    tmp_path, db, records, gz, corruption
):
    good_url = f"https://good.example/{next(_numbers)}"
    good = {"url": good_url, "type": "response", "status": 200, "content_type": "text/html",
            "body": b"<html><body><p>Good page.</p></body></html>"}  # fmt: skip
    path = tmp_path / f"{next(_numbers)}.warc{'.gz' if gz else ''}"
    path.write_bytes(corrupt(warc_file([good, *records], gz), corruption))
    report = import_files(db, [path])
    check_messages(report, str(path))
    assert report.imported == report.by_file[str(path)] <= report.records
    if corruption is None:  # the good record comes first: it is imported whatever follows
        assert not report.malformed and stored(db, [good_url]) == {good_url}
        if all(r["url"].startswith("https://w.example/") for r in records):
            # (warcio ignores a response whose URI is not http(s), and stops reading at one
            # without a URI at all: the read stops there, with a warning)
            responses = 1 + sum(r["type"] == "response" for r in records)
            assert report.records + report.skipped == responses and not report.warnings


def test_warc_records_of_20_mb_lines_and_deep_markup(tmp_path, db):
    """A WARC response that is one 20 MB line, and one of markup nested 100,000 deep, beside a
    good page: each is stored or rejected with a reason, in bounded time, and the good page
    is stored."""
    html = {"type": "response", "status": 200, "content_type": "text/html"}
    good_url = f"https://good.example/{next(_numbers)}"
    records = [
        {**html, "url": good_url, "body": b"<html><body><p>Good page.</p></body></html>"},
        {**html, "url": f"https://w.example/line-{next(_numbers)}",
         "body": b"<html><body><p>" + b"word " * 4_000_000},
        {**html, "url": f"https://w.example/deep-{next(_numbers)}",
         "body": b"<html><body>" + b"<div>" * 100_000 + b"text"},
    ]  # fmt: skip
    path = tmp_path / f"{next(_numbers)}.warc.gz"
    path.write_bytes(warc_file(records, gz=True))
    with within(60):
        report = import_files(db, [path])
    check_messages(report, str(path))
    assert not report.malformed and stored(db, [good_url]) == {good_url}
    # the 20 MB page is over the import's max_bytes; the deep one is stored as it came, for
    # extraction to refuse (tests/pipeline/test_properties.py)
    assert report.records == report.imported == 3, report
    assert (report.counts.new, report.counts.by_reason) == (2, {"too_large": 1}), report
