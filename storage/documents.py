"""Writing pages: document identity, versioning of changed bodies, and rejections."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.crawlstate import provenance_rows, record_state, touch_documents
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


def content_hash(page: PageRecord) -> str:
    """Hash of the stored body; whitespace at the ends does not make a new version."""
    body = (page.html if page.html is not None else page.text or "").strip()
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


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
        crawled: list[tuple[PageRecord, str]] = []
        stored: list[tuple[str, int, PageRecord]] = []
        for doc_id, canon, page in keyed:
            digest = content_hash(page)
            if page.origin == "crawl":
                crawled.append((page, digest))
            seen = current.get(doc_id)
            if seen and seen[1] == digest:
                con.execute(
                    "UPDATE documents SET last_seen_at = greatest(last_seen_at, ?) WHERE doc_id = ?",
                    [page.fetched_at, doc_id],
                )
                counts.unchanged += 1
                counts.tally(page.source, "unchanged")
                continue
            version = seen[0] + 1 if seen else 1
            _insert_version(con, doc_id, version, page, digest, run_id)
            stored.append((doc_id, version, page))
            if seen:
                con.execute(
                    "UPDATE documents SET current_version = ?, last_seen_at = greatest(last_seen_at, ?) "
                    "WHERE doc_id = ?",
                    [version, page.fetched_at, doc_id],
                )
                counts.changed += 1
                counts.tally(page.source, "changed")
            else:
                con.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                    [doc_id, canon, page.source, page.fetched_at, page.fetched_at, version],
                )
                counts.new += 1
                counts.tally(page.source, "new")
            current[doc_id] = (version, digest)
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


def _insert_version(con, doc_id, version, page: PageRecord, digest, run_id) -> None:
    con.execute(
        "INSERT INTO document_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            doc_id,
            version,
            page.url,
            page.source,
            page.origin,
            run_id,
            page.fetched_at,
            page.http_status,
            page.content_type,
            page.encoding,
            digest,
            page.html,
            page.text,
            page.hint_title,
            page.hint_published_at,
            page.hint_lang,
        ],
    )


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
