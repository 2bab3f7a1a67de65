"""Shared fixtures for the dashboard tests: the session's demo store with one hostile document
imported and processed, and the app over it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

# Every string a crawled page controls, written to hurt: a script title, an <img onerror> in
# the body, a markdown image and links (javascript:, an outside host), a hostile source
# name and a URL with markup in its query. A javascript: document URL is refused at import.
#: the base URL test clients use: without a token the app answers loopback hosts only
LOCAL = "http://127.0.0.1"
HOSTILE_TITLE = "<script>alert('title')</script> Sanctions starve Africa"
HOSTILE_SOURCE = "evil<script>alert('source')</script>"
HOSTILE_URL = "https://evil.example/post/1?<script>alert('q')</script>"
HOSTILE_HTML = (
    "<html><head><title>&lt;script&gt;alert('title')&lt;/script&gt; Sanctions starve Africa"
    '</title><meta name="author" content="&quot;&gt;&lt;svg onload=alert(\'author\')&gt;">'
    "</head><body><article><h1>&lt;script&gt;alert('title')&lt;/script&gt; Sanctions starve "
    'Africa</h1><p class="byline">By "&gt;&lt;svg onload=alert(\'author\')&gt;</p><p>Western '
    "sanctions on fertiliser and grain have left African countries without bread, and the "
    "price of wheat keeps rising while ships wait in ports. &lt;img src=x "
    "onerror=alert('body')&gt; The restrictions imposed by Brussels were meant to punish "
    "Moscow, yet they punish the poorest instead.</p><p>![tracking "
    "pixel](http://evil.example/pixel.png) Read more at <a href=\"javascript:alert('link')\">"
    'this link</a> and <a href="https://outside.example/story">an outside host</a>. Farmers '
    "in Kenya and Egypt say that the grain deal collapsed because of Western policy, not "
    "because of the war.</p><p>Analysts in Nairobi expect shortages to continue through the "
    "next harvest season, as fertiliser prices stay high.</p></article></body></html>"
)
HOSTILE = [
    {"url": "javascript:alert('url')", "title": "x", "text": "refused at import"},
    {"url": HOSTILE_URL, "source": HOSTILE_SOURCE, "title": HOSTILE_TITLE, "html": HOSTILE_HTML},
]


#: the hostile page once more, as an archived response (a WARC import keeps the record, so
#: the document has an archived page to show)
HOSTILE_ARCHIVED_URL = "https://evil.example/post/2"


def write_warc(path: Path, url: str, html: str) -> None:
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")  # fmt: skip
        payload = io.BytesIO(html.encode("utf-8"))
        writer.write_record(
            writer.create_warc_record(url, "response", payload=payload, http_headers=http)
        )


@pytest.fixture(scope="session")
def hostile_db(demo_run, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the demo store with the hostile document imported and processed:
    (database, the hostile document's id). Read-only for the tests."""
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "demo.duckdb"
    shutil.copy(demo_run[0], db)
    src = folder / "hostile.jsonl"
    src.write_text("\n".join(json.dumps(d) for d in HOSTILE) + "\n")
    run_cli("import", str(src), db=db)
    write_warc(folder / "hostile.warc.gz", HOSTILE_ARCHIVED_URL, HOSTILE_HTML)
    run_cli("import", str(folder / "hostile.warc.gz"), db=db)
    run_cli("process", db=db)
    out = run_cli("sql", "--format", "json", f"SELECT doc_id FROM v_documents WHERE url = "
                  f"'{HOSTILE_URL.replace(chr(39), chr(39) * 2)}'", db=db).stdout  # fmt: skip
    [row] = json.loads(out)
    return db, row["doc_id"]


@pytest.fixture(scope="session")
def hostile_archived(hostile_db) -> str:
    """The id of the hostile page imported from its WARC record."""
    out = run_cli("sql", "--format", "json", "SELECT doc_id FROM v_documents WHERE url = "
                  f"'{HOSTILE_ARCHIVED_URL}'", db=hostile_db[0]).stdout  # fmt: skip
    [row] = json.loads(out)
    return row["doc_id"]


@pytest.fixture(scope="session")
def app(hostile_db):
    from dashboards.app import create_app

    return create_app(hostile_db[0])


@pytest.fixture
def client(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url=LOCAL) as c:
        yield c
