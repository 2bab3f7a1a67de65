"""What a stage still has to do, and its inputs: the pending (doc_id, version) keys of a stage,
read a page at a time, where their inputs are stored, and the inputs themselves, read by row
id. Writing a batch's results is storage/stages.py."""

from __future__ import annotations

import duckdb

from storage.documents import decompress_html, seen_at_sql
from storage.longtext import by_row_id
from storage.records import DocInput

#: Pending keys a stage reads at once (PendingKeys): one scan of the stage's keys per page.
PAGE = 8192


def _pending_where(
    stage: str, stage_version: str, requires: tuple[str, ...], run_id: str | None = None
) -> tuple[str, list]:
    """Current document versions the stage has not handled at this version, whose required
    stages are done; a document that made the stage raise in run ``run_id`` waits for the
    next run. A WHERE clause over `documents d`."""
    sql = [
        "WHERE NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = d.doc_id",
        "  AND s.version = d.current_version AND s.stage = ? AND s.stage_version = ?)",
        "AND NOT EXISTS (SELECT 1 FROM stage_errors x WHERE x.doc_id = d.doc_id",
        "  AND x.version = d.current_version AND x.stage = ? AND x.stage_version = ?",
        "  AND x.last_run_id = ?)",
    ]
    params: list = [stage, stage_version, stage, stage_version, run_id]
    for required in requires:
        sql.append(
            "AND EXISTS (SELECT 1 FROM stage_state r WHERE r.doc_id = d.doc_id "
            "AND r.version = d.current_version AND r.stage = ? AND r.status = 'done')"
        )
        params.append(required)
    return "\n".join(sql), params


#: Where a document version's inputs are: its date (`seen_at_sql`), then its row ids in
#: document_versions, extractions, languages and translations (None where it has no row).
_LOCATED = f"{seen_at_sql('e')}, v.rowid, e.rowid, l.rowid, t.rowid"


def _located_joins(version: str) -> str:
    return "\n".join(
        f"LEFT JOIN {table} {alias} ON {alias}.doc_id = d.doc_id AND {alias}.version = {version}"
        for table, alias in (("document_versions", "v"), ("extractions", "e"),
                             ("languages", "l"), ("translations", "t"))
    )  # fmt: skip


def _pending_rows(con, stage, stage_version, requires=(), limit=None, run_id=None, *,
                  located: bool = False) -> list[tuple]:  # fmt: skip
    """`pending`'s rows: (doc_id, version), and with ``located`` the `_LOCATED` columns."""
    where, params = _pending_where(stage, stage_version, requires, run_id)
    columns = "d.doc_id, d.current_version" + (f", {_LOCATED}" if located else "")
    joins = _located_joins("d.current_version") if located else ""
    sql = f"SELECT {columns} FROM documents d {joins} {where} ORDER BY d.first_seen_at, d.doc_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return con.execute(sql, params).fetchall()


def pending(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    limit: int | None = None,
    run_id: str | None = None,
) -> list[tuple[str, int]]:
    """(doc_id, version) keys the stage still has to process, in a stable order."""
    rows = _pending_rows(con, stage, stage_version, requires, limit, run_id)
    return [(row[0], row[1]) for row in rows]


class PendingKeys:
    """One stage run's pending keys, read a page at a time: one scan of the stage's keys
    serves the batches of ``page`` documents instead of one batch.

    ``take`` gives the next keys in `pending`'s order; ``served`` moves past them once their
    batch is read. Every document of a batch leaves the backlog when the batch is written
    (done, rejected, or a failure recorded for this run), and the writer lock keeps other
    writers out, so what a page holds after the served keys is what `pending` would return
    then. A page is read again when it runs short, after those writes.

    The page also says where each document's inputs are (``located``, for `load_inputs`):
    found in the same scan, so that a batch's read need not look its keys up again. The
    stage's own writes do not move the rows of its inputs; a row that moved anyway is read
    by key (storage/longtext.py)."""

    def __init__(self, stage: str, stage_version: str, requires: tuple[str, ...] = (),
                 run_id: str | None = None) -> None:  # fmt: skip
        self.query = (stage, stage_version, requires)
        self.run_id, self.page = run_id, PAGE
        self.keys: list[tuple[str, int]] = []
        self.located: dict[tuple[str, int], tuple] = {}
        self.at = 0
        self.last = False  # the page held the whole backlog

    def take(self, con: duckdb.DuckDBPyConnection, size: int) -> list[tuple[str, int]]:
        if len(self.keys) - self.at < size and not self.last:
            limit = max(self.page, size)
            rows = _pending_rows(con, *self.query, limit, self.run_id, located=True)
            self.keys = [(r[0], r[1]) for r in rows]
            self.located = {(r[0], r[1]): r[2:] for r in rows}
            self.at, self.last = 0, len(self.keys) < limit
        return self.keys[self.at : self.at + size]

    def served(self, n: int) -> None:
        self.at += n


def backlog(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    run_id: str | None = None,
) -> int:
    """How many document versions the stage would process now."""
    where, params = _pending_where(stage, stage_version, requires, run_id)
    return int(con.execute(f"SELECT count(*) FROM documents d {where}", params).fetchone()[0])


def locate(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple]:
    """Where the given (doc_id, version) keys' inputs are (see `_LOCATED`), found by key: a
    scan of the key columns of five tables. `PendingKeys` finds them with the keys instead."""
    rows = con.execute(
        f"""
        SELECT k.doc_id, k.version, {_LOCATED}
        FROM (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
        JOIN documents d ON d.doc_id = k.doc_id
        {_located_joins("k.version")}
        """,
        [[k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


#: What load_inputs reads of document_versions, extractions and translations, by row id
_VERSION = ("x.url", "x.source", "x.hint_title", "x.hint_published_at", "x.hint_lang")
_PAGE = ("x.text", "x.html", "x.html_zlib")
_EXTRACTED = ("x.title", "x.text")
_TRANSLATED = ("x.status", "x.title", "x.text")
_NONE = (None, None, None)


def load_inputs(
    con: duckdb.DuckDBPyConnection,
    keys: list[tuple[str, int]],
    *,
    with_html: bool = True,
    located: dict[tuple[str, int], tuple] | None = None,
    with_translation: bool = True,
) -> list[DocInput]:
    """The stage inputs for the given (doc_id, version) keys, in the same order; unknown keys
    are left out. Stages that read only extracted text pass ``with_html=False``: raw pages
    are then not loaded into Python, and the imported text (``raw_text``) only where
    extraction left no text. Stages that do not read the translation pass
    ``with_translation=False``: its status, title and text are then None.

    Every column is read by row id (storage/longtext.py), so that reading a batch does not
    grow with the store: a scan that matches keys reads whole columns, and decompresses the
    long ones. The row ids come from ``located`` (`PendingKeys.located`), else from `locate`,
    which matches the keys alone."""
    if not keys:
        return []
    located = located or {}
    missing = [k for k in keys if k not in located]
    by_key = locate(con, missing) if missing else {}
    found = {}
    for k in keys:
        loc = located[k] if k in located else by_key.get(k)
        if loc is not None and loc[1] is not None:  # a version row to read
            found[k] = loc
    if not found:
        return []

    def read(table: str, selected: tuple[str, ...], column: int, only=None) -> dict:
        rows = [(loc[column], *k) for k, loc in found.items() if only is None or only(k)]
        return by_row_id(con, table, selected, rows)

    versions = read("document_versions", _VERSION + (_PAGE if with_html else ()), 1)
    extracted = read("extractions", _EXTRACTED, 2)
    languages = read("languages", ("x.lang",), 3)
    translated = read("translations", _TRANSLATED, 4) if with_translation else {}
    if not with_html:
        # the imported text is what later stages fall back on where extraction left none
        pages = read("document_versions", _PAGE[:1], 1, lambda k: not extracted.get(k, _NONE)[1])
    docs = {}
    for key, (seen_at, *_) in found.items():
        if key not in versions:  # the version is gone since it was located
            continue
        url, source, hint_title, hint_published_at, hint_lang, *page = versions[key]
        if with_html:
            raw_text, html, html_zlib = page
        else:
            raw_text, html, html_zlib = pages.get(key, (None,))[0], None, None
        title, text = extracted.get(key, (None, None))
        status, translated_title, translated_text = translated.get(key, _NONE)
        docs[key] = DocInput(
            *key, url, source,
            # HTML is stored compressed since schema 7; older versions keep it in `html`
            html=html or decompress_html(html_zlib),
            raw_text=raw_text, text=text, title=title,
            hint_title=hint_title, hint_published_at=hint_published_at, hint_lang=hint_lang,
            lang=languages.get(key, (None,))[0],
            translation_status=status,
            translated_title=translated_title,
            translated_text=translated_text,
            seen_at=seen_at,
        )  # fmt: skip
    return [docs[k] for k in keys if k in docs]
