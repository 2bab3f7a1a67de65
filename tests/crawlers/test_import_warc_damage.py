"""A damaged WARC file loses the records that are damaged, not the ones after them: reading
goes on at the next record, and the import says where and why."""

import re
import zlib

import pytest

from storage import connect
from tests.conftest import run_cli
from tests.crawlers.test_import import stored_urls, write_warc

PAGES = [(f"https://w.example/{n}", f"<html><body><p>Page {n} {'word ' * 300}</p></body></html>")
         for n in range(3)]  # fmt: skip


def _with_length(data: bytes, at: int, change: int) -> bytes:
    """``data`` with the Content-Length of the WARC record at byte ``at`` changed by ``change``."""
    found = re.compile(rb"Content-Length: (\d+)").search(data, at)
    return data[: found.start(1)] + str(int(found[1]) + change).encode() + data[found.end(1) :]


def test_a_content_length_too_long_costs_its_record_only(tmp_path):
    """In an uncompressed WARC, a record whose Content-Length is too long read the start of
    the next record as its body (a header edited by hand, a body re-encoded). The import then
    stopped at the next bytes that were no record: the pages after it were lost."""
    whole = tmp_path / "whole.warc"
    offsets = write_warc(whole, PAGES, gzip=False)
    wrong = tmp_path / "wrong.warc"
    wrong.write_bytes(_with_length(whole.read_bytes(), offsets[1], 40))
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(wrong), db=db)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    assert (
        f"{wrong}: warning: the response record at byte {offsets[1]} (https://w.example/1) runs "
        f"into the next record, at byte {offsets[2]}: its Content-Length is wrong; it was "
        "skipped"
    ) in proc.stderr
    assert "imported 2 of 2 records: 2 new" in proc.stdout
    assert stored_urls(db) == ["https://w.example/0", "https://w.example/2"]


FAKE = (
    "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://bank.example/login\r\n"
    "WARC-Date: 2026-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n"
    "Content-Length: {n}\r\n\r\n{http}\r\n\r\n"
)


@pytest.mark.parametrize("damage", ["cut", "length"])
def test_a_record_a_page_quotes_is_never_read_as_one(tmp_path, damage):
    """A page that quotes a WARC record (an article on web archiving, or a hostile one), in a
    file cut inside that page, or whose Content-Length runs past the end of the file: reading
    on from the damaged record's start read the quoted record as one, and stored a page for
    any URL it named. Reading stops at such a record, as it did before."""
    http = ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>"
            + "Log in here. " * 40 + "</p></body></html>")  # fmt: skip
    quoted = FAKE.format(n=len(http.encode()), http=http)
    pages = [PAGES[0], ("https://w.example/howto", f"<html><body><pre>{quoted}</pre>"
                        f"<p>{'word ' * 300}</p></body></html>")]  # fmt: skip
    whole = tmp_path / "whole.warc"
    offsets = write_warc(whole, pages, gzip=False)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.warc"
    if damage == "cut":  # cut after the quoted record, inside the page
        damaged.write_bytes(data[: data.index(b"Log in here.", offsets[1]) + 2000])
    else:
        damaged.write_bytes(_with_length(data, offsets[1], 10**6))
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(damaged), db=db)
    print(proc.stdout, proc.stderr)
    assert f"truncated: the response record at byte {offsets[1]}" in proc.stderr
    assert stored_urls(db) == ["https://w.example/0"]  # not https://bank.example/login


def test_a_record_cut_short_inside_its_header_does_not_take_the_next_ones_body(tmp_path):
    """A record cut short inside its header, with the next record right after: warcio reads
    header lines up to a blank one, so the next record's header was read as the rest of this
    one's, and the next page's body was stored under this record's URL. The next page
    itself was never seen."""
    whole = tmp_path / "whole.warc"
    offsets = write_warc(whole, PAGES, gzip=False)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc"
    cut.write_bytes(data[: offsets[1] + 150] + data[offsets[2] :])
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(cut), db=db)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    assert (
        f"the record at byte {offsets[1]} (https://w.example/1) is cut short inside its header"
        in (proc.stderr)
    )
    assert stored_urls(db) == ["https://w.example/0", "https://w.example/2"]
    with connect(db, read_only=True) as con:  # each URL holds its own page
        rows = con.execute(
            "SELECT v.url, v.html_zlib FROM document_versions v ORDER BY v.url"
        ).fetchall()
    for url, packed in rows:
        assert f"Page {url[-1]} " in zlib.decompress(packed).decode()


@pytest.mark.parametrize("gzip", [True, False], ids=["warc.gz", "warc"])
def test_bytes_that_are_no_record_are_skipped_up_to_the_next_record(tmp_path, gzip):
    """Garbage between two records (a bad copy, a download resumed at the wrong byte) ended
    the import of the file there: "unreadable from byte N on", and every page after it was
    lost. A gzip file is read on at the next gzip member that holds a WARC record, an
    uncompressed one at the next "WARC/1.0" line."""
    name = "whole.warc.gz" if gzip else "whole.warc"
    whole = tmp_path / name
    offsets = write_warc(whole, PAGES, gzip=gzip)
    data = whole.read_bytes()
    junk = b"\x1f\x8b\x08 not a member, WARC/1.0 not a record either " * 20
    damaged = tmp_path / f"damaged-{name}"
    damaged.write_bytes(data[: offsets[1]] + junk + data[offsets[1] :])
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(damaged), db=db)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    after = offsets[1] + len(junk)
    assert (
        f"{damaged}: warning: unreadable from byte {offsets[1]} to byte {after} (not a WARC "
        f"record); reading went on at the next record, at byte {after}"
    ) in proc.stderr
    assert "imported 3 of 3 records: 3 new" in proc.stdout
    assert stored_urls(db) == [url for url, _html in PAGES]


@pytest.mark.parametrize("gzip", [True, False], ids=["warc.gz", "warc"])
def test_the_next_record_is_found_wherever_it_starts(tmp_path, monkeypatch, gzip):
    """The search for the next record reads the file a chunk at a time (a megabyte): a
    record starting across two chunks is found, whatever the bytes before it. With chunks of
    64 bytes, a gzip member starting in the last two bytes of one was missed."""
    from crawlers import warc_read

    monkeypatch.setattr(warc_read, "_CHUNK", 64)
    whole = tmp_path / "whole"
    write_warc(whole, PAGES[:2], gzip=gzip)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged"
    for pad in range(1, 200):
        damaged.write_bytes(b"x" * pad + data)
        with open(damaged, "rb") as handle:
            assert warc_read.next_record_start(handle, 0) == pad
        pages = [r.url for r in warc_read.read_warc(damaged) if hasattr(r, "url")]
        assert pages == [url for url, _html in PAGES[:2]], pad
