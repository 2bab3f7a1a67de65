"""Writing pages: document identity, versioning of changed bodies, and rejections."""

from __future__ import annotations

import hashlib
import zlib
from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.crawlstate import provenance_rows, record_state, touch_documents
from storage.dates import PLAUSIBLE_SQL, WRITTEN_SQL, impossible_offset
from storage.db import transaction
from storage.records import EntryState, NotModified, PageRecord, Rejection, StoreCounts
from storage.urls import canonical_url, doc_id_for

PAGE_META_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("author", "VARCHAR"),
    ("categories", "VARCHAR[]"),
    ("meta", "JSON"),
    ("warc_file", "VARCHAR"),
    ("warc_offset", "BIGINT"),
    ("warc_length", "BIGINT"),
]


def seen_at_sql(extractions: str = "x") -> str:
    """SQL for a document's date: the listing's or import's date, else the page's own, else
    the first fetch. Expects `v` (document_versions) and `d` (documents) in the query."""
    return (
        "coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), "
        f"{extractions}.published_at, d.first_seen_at)"
    )


def raw_hash(page: PageRecord) -> str:
    """Hash of the stored body; whitespace at the ends does not make a new version."""
    body = (page.html if page.html is not None else page.text or "").strip()
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(page: PageRecord) -> str:
    """What decides whether a page changed: for HTML, the hash of what it says
    (storage/fingerprint.py: the text, without scripts, forms, navigation, sidebars and
    comment threads), prefixed ``c1:``; for text (imports), the hash of the text. A page
    whose sidebar listed a new post, or whose comments grew, is the same version."""
    if page.html is not None:
        from storage.fingerprint import content_digest

        digest = content_digest(page.html)
        if digest is not None:
            return digest
    return raw_hash(page)


def unchanged(stored: str, page: PageRecord, digest: str) -> bool:
    """Whether a page matches its stored current version. A version stored before content
    hashes (a bare SHA-256 of the HTML) matches the page's raw body, so an upgrade does not
    make every page a new version once."""
    if stored == digest:
        return True
    return ":" not in stored and page.html is not None and stored == raw_hash(page)


def _version_hashes(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, set[str]]:
    """doc_id -> the content hashes of every version stored for it."""
    known: dict[str, set[str]] = {}
    if ids:
        for doc_id, digest in con.execute(
            "SELECT doc_id, content_hash FROM document_versions "
            "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
        ).fetchall():  # fmt: skip
            known.setdefault(doc_id, set()).add(digest)
    return known


def store_pages(
    con: duckdb.DuckDBPyConnection,
    pages: list[PageRecord],
    rejections: list[Rejection] = (),
    *,
    run_id: str | None = None,
    not_modified: list[NotModified] = (),
    entries: list[EntryState] = (),
) -> StoreCounts:
    """Store a batch of pages and rejections in one transaction, with the crawl state they
    update (validators, 304s, entry-point watermarks) and their provenance.

    A URL seen before with the same body only refreshes ``last_seen_at``; a changed body
    becomes the next version of the same document, and the old version is kept.
    """
    counts = StoreCounts()
    keyed = []
    rejections = list(rejections)
    _set_aside_dates(con, pages)
    for page in pages:
        try:
            keyed.append((doc_id_for(page.url), canonical_url(page.url), page))
        except ValueError as err:
            rejections.append(
                Rejection("store", "bad_url", str(err), url=page.url, source=page.source)
            )
    with transaction(con):
        current: dict[str, tuple[int, str]] = {}
        ids = sorted({doc_id for doc_id, _, _ in keyed})
        if ids:
            rows = con.execute(
                "SELECT d.doc_id, d.current_version, v.content_hash FROM documents d "
                "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version "
                "WHERE d.doc_id IN (SELECT unnest(?::VARCHAR[]))",
                [ids],
            ).fetchall()
            current = {doc_id: (version, digest) for doc_id, version, digest in rows}
        # an imported text is a snapshot an archive kept: one stored before, as any version of
        # its URL, is not new again (a file naming a URL twice, imported twice, added two
        # versions each time, swapping the current text). A crawl's page is the site as it
        # is now, so a crawled text that went back to an older one is a change.
        known = _version_hashes(con, sorted({d for d, _, p in keyed
                                              if p.origin == "import" and d in current}))  # fmt: skip
        crawled: list[tuple[PageRecord, str]] = []
        stored: list[tuple[str, int, PageRecord]] = []
        digests: dict[tuple[str, int], str] = {}
        created: dict[str, tuple] = {}  # doc_id -> documents row
        moved: dict[str, tuple[int, datetime]] = {}  # doc_id -> (current version, seen at)
        for doc_id, canon, page in keyed:
            digest = content_hash(page)
            if page.origin == "crawl":
                crawled.append((page, digest))
            seen = current.get(doc_id)
            if seen and (unchanged(seen[1], page, digest) or page.origin == "import"
                         and any(unchanged(h, page, digest) for h in known.get(doc_id, ()))):  # fmt: skip
                version = moved.get(doc_id, (seen[0], page.fetched_at))[0]
                moved[doc_id] = (version, _later(moved.get(doc_id), page.fetched_at))
                counts.unchanged += 1
                counts.tally(page.source, "unchanged")
                continue
            version = seen[0] + 1 if seen else 1
            if page.origin == "import":  # seen again later in the batch: as if in another
                known.setdefault(doc_id, set()).add(digest)
            stored.append((doc_id, version, page))
            digests[doc_id, version] = digest
            if seen:
                moved[doc_id] = (version, _later(moved.get(doc_id), page.fetched_at))
                counts.changed += 1
                counts.tally(page.source, "changed")
            else:
                created[doc_id] = (doc_id, canon, page.source, page.fetched_at, page.fetched_at,
                                   version)  # fmt: skip
                counts.new += 1
                counts.tally(page.source, "new")
            current[doc_id] = (version, digest)
        for doc_id, (version, seen_at) in moved.items():
            if doc_id in created:  # new in this batch, and changed (or seen) later in it
                created[doc_id] = (*created[doc_id][:4], seen_at, version)
        # one statement per table for the whole batch
        insert_rows(con, "documents", DOCUMENT_COLUMNS, list(created.values()), replace=False)
        insert_rows(
            con,
            "document_versions",
            VERSION_COLUMNS,
            [
                _version_row(doc_id, version, page, digests[doc_id, version], run_id)
                for doc_id, version, page in stored
            ],  # fmt: skip
            replace=False,
        )
        moved = {d: m for d, m in moved.items() if d not in created}
        if moved:
            con.execute(
                "UPDATE documents SET current_version = greatest(current_version, s.v), "
                "last_seen_at = greatest(last_seen_at, s.t) "
                "FROM (SELECT unnest(?::VARCHAR[]) AS id, unnest(?::INTEGER[]) AS v, "
                "unnest(?::TIMESTAMPTZ[]) AS t) s WHERE documents.doc_id = s.id",
                [list(moved), [m[0] for m in moved.values()], [m[1] for m in moved.values()]],
            )
        insert_rows(con, "page_meta", PAGE_META_COLUMNS, provenance_rows(stored))
        record_state(con, crawled, list(not_modified), list(entries))
        touch_documents(con, list(not_modified))
        record_rejections(con, rejections, run_id=run_id)
    counts.rejected = len(rejections)
    counts.not_modified = len(not_modified)
    counts.unchanged += len(not_modified)  # a 304 is an unchanged page that cost no body
    for n in not_modified:
        counts.tally(n.source, "not_modified")
        counts.tally(n.source, "unchanged")
    for rejection in rejections:
        counts.by_reason[rejection.reason] = counts.by_reason.get(rejection.reason, 0) + 1
        counts.tally(rejection.source, "rejected")
    return counts


def _set_aside_dates(con: duckdb.DuckDBPyConnection, pages: list[PageRecord]) -> None:
    """Move, in place, a date hint that is no plausible publication date (``PLAUSIBLE_SQL``:
    before 1900, or later than two days after the fetch; an offset no place has; a word that
    DuckDB reads as a date, ``WRITTEN_SQL``) into the
    page's meta, as ``published_at_ignored``: kept, never the document's date. Read by
    DuckDB's own cast, as every view reads the hint; year 20000 would not even come back to
    Python as a date."""
    hinted = [p for p in pages if p.hint_published_at]
    if not hinted:
        return
    test = PLAUSIBLE_SQL.format(when="TRY_CAST(h AS TIMESTAMPTZ)", fetched="t")
    written = WRITTEN_SQL.format(when="h")
    rows = con.execute(
        f"SELECT i, {test} IS NOT FALSE AND ({written} OR TRY_CAST(h AS TIMESTAMPTZ) IS NULL) "
        "FROM (SELECT unnest(?::INTEGER[]) AS i, "
        "unnest(?::VARCHAR[]) AS h, unnest(?::TIMESTAMPTZ[]) AS t) ORDER BY i",
        [list(range(len(hinted))), [p.hint_published_at for p in hinted],
         [p.fetched_at for p in hinted]],
    ).fetchall()  # fmt: skip
    for i, plausible in rows:
        if not plausible or impossible_offset(hinted[i].hint_published_at):
            page = hinted[i]
            page.meta = {**(page.meta or {}), "published_at_ignored": page.hint_published_at}
            page.hint_published_at = None


def _later(previous: tuple | None, at: datetime) -> datetime:
    return max(previous[1], at) if previous else at


DOCUMENT_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("canonical_url", "VARCHAR"),
    ("source", "VARCHAR"),
    ("first_seen_at", "TIMESTAMPTZ"),
    ("last_seen_at", "TIMESTAMPTZ"),
    ("current_version", "INTEGER"),
]
VERSION_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("url", "VARCHAR"),
    ("source", "VARCHAR"),
    ("origin", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("fetched_at", "TIMESTAMPTZ"),
    ("http_status", "INTEGER"),
    ("content_type", "VARCHAR"),
    ("encoding", "VARCHAR"),
    ("content_hash", "VARCHAR"),
    ("html", "VARCHAR"),
    ("text", "VARCHAR"),
    ("hint_title", "VARCHAR"),
    ("hint_published_at", "VARCHAR"),
    ("hint_lang", "VARCHAR"),
    ("html_zlib", "BLOB"),
]


def compress_html(html: str | None) -> bytes | None:
    """The stored form of a page's HTML (layout: storage/schema/m07_raw_html.py)."""
    if html is None:
        return None
    return zlib.compress(html.encode("utf-8", "surrogatepass"), 6)


def decompress_html(stored: bytes | None) -> str | None:
    if stored is None:
        return None
    return zlib.decompress(stored).decode("utf-8", "surrogatepass")


def _version_row(doc_id, version, page: PageRecord, digest, run_id) -> tuple:
    return (doc_id, version, page.url, page.source, page.origin, run_id, page.fetched_at,
            page.http_status, page.content_type, page.encoding, digest, None, page.text,
            page.hint_title, page.hint_published_at, page.hint_lang,
            compress_html(page.html))  # fmt: skip


def record_rejections(
    con: duckdb.DuckDBPyConnection, rejections: list[Rejection], *, run_id: str | None = None
) -> None:
    """Append rejections; call inside the transaction of the batch they belong to."""
    if not rejections:
        return
    now = datetime.now(UTC)
    con.executemany(
        "INSERT INTO rejections (rejected_at, run_id, stage, reason, detail, url, source, doc_id, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [now, run_id, r.stage, r.reason, r.detail[:2000], r.url, r.source, r.doc_id, r.version]
            for r in rejections
        ],
    )
