"""A damaged WARC file: what the import stores is only ever a record as its writer wrote it.
A damaged record is skipped, and the import says where and why. Reading goes on after the
damage only where nothing but header lines is looked through: after any other damage, what
follows may be a page's own bytes, and a page may quote a WARC record."""

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


@pytest.mark.parametrize("change", [40, -30], ids=["too-long", "too-short"])
def test_a_record_whose_length_is_wrong_is_skipped_not_stored_with_bytes_not_its_own(
    tmp_path, change
):
    """A Content-Length edited by hand, or a body re-encoded: too long, the record's body took
    the start of the next record, and the page was stored with those bytes; too short, the
    page was stored cut, and warcio read on from inside its body."""
    whole = tmp_path / "whole.warc"
    offsets = write_warc(whole, PAGES, gzip=False)
    wrong = tmp_path / "wrong.warc"
    wrong.write_bytes(_with_length(whole.read_bytes(), offsets[1], change))
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(wrong), db=db)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0
    assert (
        f"{wrong}: warning: the response record at byte {offsets[1]} (https://w.example/1) is "
        "not followed by the blank lines a WARC record ends with: its Content-Length is wrong, "
        "and it was skipped; reading stops there"
    ) in proc.stderr
    assert stored_urls(db) == ["https://w.example/0"]


FAKE = (
    "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://bank.example/login\r\n"
    "WARC-Date: 2026-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n"
    "Content-Length: {n}\r\n\r\n{http}\r\n\r\n"
)


@pytest.mark.parametrize("damage", ["cut", "past-the-end", "too-short", "before-it-too-long"])
def test_a_record_a_page_quotes_is_never_read_as_one(tmp_path, damage):
    """A page that quotes a WARC record (an article on web archiving, or a hostile one), in a
    file cut inside that page, or whose Content-Length (or the one before it) is wrong: reading
    on after the damage read the quoted record as one, and stored a page for any URL it named
    (a helper's review of this stop's first resync). Reading stops at such a record."""
    http = ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body><p>"
            + "Log in here. " * 40 + "</p></body></html>")  # fmt: skip
    quoted = FAKE.format(n=len(http.encode()), http=http)
    pages = [PAGES[0], ("https://w.example/howto", f"<html><body><pre>{quoted}</pre>"
                        f"<p>{'word ' * 300}</p></body></html>")]  # fmt: skip
    whole = tmp_path / "whole.warc"
    offsets = write_warc(whole, pages, gzip=False)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.warc"
    quoted_at = data.index(b"WARC/1.0", offsets[1] + 8)
    if damage == "cut":  # cut after the quoted record, inside the page
        damaged.write_bytes(data[: data.index(b"Log in here.", offsets[1]) + 2000])
    elif damage == "past-the-end":
        damaged.write_bytes(_with_length(data, offsets[1], 10**6))
    elif damage == "too-short":  # the page's length ends before the quoted record
        damaged.write_bytes(_with_length(data, offsets[1], -(len(data) - quoted_at) // 2))
    else:  # the page before it claims bytes up to just before the quoted record
        damaged.write_bytes(_with_length(data, offsets[0], quoted_at - 20 - offsets[1]))
    db = tmp_path / "n.duckdb"
    proc = run_cli("import", str(damaged), db=db, check=False)  # 1: nothing imported
    print(proc.stdout, proc.stderr)
    assert "bank.example" not in proc.stdout + proc.stderr
    assert "https://bank.example/login" not in stored_urls(db)


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
