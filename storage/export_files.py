"""What each export file holds, and writing it: DuckDB's COPY, one chunk of rows at a time,
so an export's memory does not grow with the store (bench/bench_export.py measures it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"
#: DuckDB's memory while it writes a file; beyond it, it spills to disk (bench/bench_export.py)
MEMORY_LIMIT = "192MB"
#: ... and for narratives.<ext>, in steps: v_narratives labels every narrative from all their
#: documents' terms at once. 256 MB holds it up to 100,000 documents (bench/bench_export.py);
#: a larger store runs out of it, and the file is written again under the next limit.
NARRATIVES_MEMORY_LIMITS = ("256MB", "2GB")
#: Text per chunk: rows are written in chunks of about this many bytes of title and body.
CHUNK_BYTES = 32 << 20
CHUNK_ROWS = (200, 20_000)  # fewest, most rows a chunk

# Columns left out by --no-text: every column that holds words of a page (titles, bodies,
# translations, and a narrative's label, which is a member's title or first sentence).
TEXT_COLUMNS = {"title", "text", "title_translated", "text_translated", "label", "label_original"}

# A chunk's documents with what v_documents says of them (the test compares the two). Written
# out rather than read from the view: the chunk's keys must come first, so that the joins
# hold the chunk, not every document's text.
_DOCS = """export_keys k
        JOIN export_docs x ON x.doc_id = k.key
        JOIN documents d ON d.doc_id = k.key
        JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
        LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
        LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
        LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
        LEFT JOIN export_copy_relations cr ON cr.doc_id = d.doc_id
        LEFT JOIN narrative_members nm ON nm.doc_id = d.doc_id
        LEFT JOIN signal_scores ss ON ss.doc_id = d.doc_id AND ss.version = d.current_version
        LEFT JOIN documents od ON od.doc_id = cr.copy_of AND cr.copy_kind <> 'origin'
        LEFT JOIN document_versions ov ON ov.doc_id = od.doc_id AND ov.version = od.current_version"""
# machine-written-text signals, as v_documents has them (NULL before the signals stage ran)
_SIGNALS = """CASE WHEN ss.doc_id IS NOT NULL THEN coalesce(
                   (SELECT list(DISTINCT h.rule_id ORDER BY h.rule_id) FROM signal_hits h
                    WHERE h.doc_id = d.doc_id AND h.version = d.current_version),
                   []::VARCHAR[]) END AS signals,
               ss.score AS signal_score, ss.machine_written"""
_PUBLISHED = "coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), e.published_at)"
_COPY = """cr.group_id AS copy_group_id, cr.copy_kind,
               CASE WHEN cr.copy_kind <> 'origin' THEN cr.copy_of END AS copy_of,
               ov.url AS copy_of_url"""
_TITLES = """coalesce(e.title, v.hint_title) AS title,
               CASE WHEN t.status = 'not_needed' THEN coalesce(e.title, v.hint_title)
                    ELSE t.title END AS title_translated"""

# The copy relations of the export's documents, read from the view once an export: joined to
# each chunk, the view's whole-store computation met the chunk's texts in one plan, which ran
# out of DuckDB's 192 MB at 200,000 documents (`export documents` failed at its first chunk)
COPY_RELATIONS = """CREATE OR REPLACE TEMP TABLE export_copy_relations AS
    SELECT r.* FROM v_copy_relations r SEMI JOIN export_docs x ON x.doc_id = r.doc_id"""

# Each file: the order of its rows (keys numbered into export_keys, from export_docs) and the
# query of one chunk of them ({lo} < k.ord <= {hi}).
KEYS = {
    "documents": "SELECT doc_id AS key, row_number() OVER (ORDER BY seen_at, doc_id) AS ord "
    "FROM export_docs",
    "copies": "SELECT doc_id AS key, row_number() OVER (ORDER BY group_id, seen_at, doc_id) "
    "AS ord FROM export_docs WHERE group_id IS NOT NULL",
    "members": "SELECT doc_id AS key, row_number() OVER (ORDER BY narrative_id, seen_at, doc_id) "
    "AS ord FROM export_docs WHERE narrative_id IS NOT NULL",
    "narratives": "SELECT narrative_id AS key, row_number() OVER (ORDER BY narrative_id) AS ord "
    "FROM (SELECT DISTINCT narrative_id FROM export_docs WHERE narrative_id IS NOT NULL)",
}
_CHUNK = "WHERE k.ord > {lo} AND k.ord <= {hi} ORDER BY k.ord"
QUERIES = {
    "documents": f"""
        SELECT d.doc_id, v.url, d.canonical_url, d.source, e.sitename, l.lang,
               l.confidence AS lang_confidence, {_PUBLISHED} AS published_at,
               d.first_seen_at, d.last_seen_at, v.fetched_at, x.seen_at,
               d.current_version AS version, e.author, t.status AS translation_status,
               t.target_lang AS translation_lang, t.model_id AS translation_model,
               {_COPY}, nm.narrative_id, {_SIGNALS}, {_TITLES}, e.text,
               CASE WHEN t.status = 'not_needed' THEN e.text ELSE t.text END AS text_translated
        FROM {_DOCS}
        {_CHUNK}""",
    "copies": f"""
        SELECT r.group_id, r.doc_id, v.url, d.source, l.lang, r.seen_at, r.copy_kind,
               CASE WHEN r.copy_kind <> 'origin' THEN r.copy_of END AS copy_of,
               CASE WHEN r.copy_kind <> 'origin' THEN ov.url END AS copy_of_url,
               CASE WHEN r.copy_kind <> 'origin' THEN od.source END AS copy_of_source,
               r.similarity, r.via, epoch(r.delay) AS delay_seconds, r.group_size,
               coalesce(e.title, v.hint_title) AS title,
               v.version < d.current_version AS newer_version
        FROM export_keys k
        JOIN export_copy_relations r ON r.doc_id = k.key
        JOIN documents d ON d.doc_id = r.doc_id
        LEFT JOIN minhash h ON h.doc_id = r.doc_id
        JOIN document_versions v ON v.doc_id = d.doc_id
         AND v.version = coalesce(h.version, d.current_version)
        LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = v.version
        LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = v.version
        LEFT JOIN documents od ON od.doc_id = r.copy_of
        LEFT JOIN document_versions ov ON ov.doc_id = od.doc_id AND ov.version = od.current_version
        {_CHUNK}""",
    "members": f"""
        SELECT nm.narrative_id, d.doc_id, v.url, d.source, l.lang, {_PUBLISHED} AS published_at,
               d.first_seen_at, x.seen_at, nm.via, nm.similarity, nm.assigned_at,
               {_COPY}, {_SIGNALS}, {_TITLES}
        FROM {_DOCS}
        {_CHUNK}""",
    "narratives": f"""
        SELECT n.narrative_id, n.representative_title AS label,
               n.representative_title_original AS label_original, n.keywords,
               n.keywords_original, n.representative_doc_id, rv.url AS representative_url,
               n.documents, n.independent_documents, n.sites, n.independent_sites,
               n.languages, n.langs, n.first_seen, n.last_seen, n.created_at, n.updated_at,
               n.model_id, e.members AS exported_members
        FROM export_keys k
        JOIN v_narratives n ON n.narrative_id = k.key
        JOIN (SELECT narrative_id, count(*) AS members FROM export_docs GROUP BY 1) e
             ON e.narrative_id = k.key
        LEFT JOIN documents rd ON rd.doc_id = n.representative_doc_id
        LEFT JOIN document_versions rv ON rv.doc_id = rd.doc_id AND rv.version = rd.current_version
        {_CHUNK}""",
}
FILES = {
    "narratives": ("narratives", "members"),
    "documents": ("documents",),
    "copies": ("copies",),
}
PARQUET_ROW_GROUP = 20_000
_OPTIONS = {
    "parquet": f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {PARQUET_ROW_GROUP}",
    # RFC 4180: CRLF line ends, fields with a comma, quote or line break in double quotes,
    # quotes doubled; UTF-8 (DuckDB's only encoding for writing)
    "csv": "FORMAT csv, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\r\n'",
    "jsonl": "FORMAT json",  # one object per line
}


def quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _shaped(
    con: duckdb.DuckDBPyConnection, query: str, fmt: str, no_text: bool
) -> tuple[str, list[str]]:
    """The query with the columns each format can carry: no text columns with --no-text;
    in CSV and JSON lines, times as ISO 8601 UTC ("2026-10-01T09:30:00.000000Z"), and in CSV
    lists as JSON arrays (["en","ru"]), which every CSV reader takes as one string."""
    columns = con.execute(f"DESCRIBE ({query.format(lo=0, hi=0)})").fetchall()
    out, names = [], []
    for name, type_, *_ in columns:
        if no_text and name in TEXT_COLUMNS:
            continue
        col = f'"{name}"'
        if fmt != "parquet" and type_.startswith("TIMESTAMP"):
            col = f"strftime({col}, '{ISO_UTC}') AS {col}"
        elif fmt == "csv" and type_.endswith("[]"):
            col = f"to_json({col})::VARCHAR AS {col}"
        out.append(col)
        names.append(name)
    return f"SELECT {', '.join(out)} FROM ({query})", names


def _chunk_rows(con: duckdb.DuckDBPyConnection, name: str, no_text: bool) -> int:
    """Rows a chunk: about CHUNK_BYTES of the exported documents' text."""
    if no_text or name == "narratives":
        return CHUNK_ROWS[1]
    average = con.execute(
        "SELECT avg(coalesce(length(e.text), 0) + coalesce(length(t.text), 0)) * 2 + 1000 "
        "FROM export_docs x JOIN documents d ON d.doc_id = x.doc_id "
        "LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version "
        "LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version"
    ).fetchone()[0]
    rows = int(CHUNK_BYTES / (average or 1000))
    return max(CHUNK_ROWS[0], min(CHUNK_ROWS[1], rows))


def write_file(
    con: duckdb.DuckDBPyConnection,
    name: str,
    path: Path,
    fmt: str,
    no_text: bool,
    memory_limit: str = MEMORY_LIMIT,
) -> tuple[int, list[str]]:
    """Write one export file in chunks (parts beside it, then joined); (rows, columns).
    The narratives file is tried under each of NARRATIVES_MEMORY_LIMITS in turn."""
    limits = NARRATIVES_MEMORY_LIMITS if name == "narratives" else (memory_limit,)
    for i, limit in enumerate(limits):
        try:  # a limit below what the export's tables already hold is refused: out of memory
            con.execute(f"SET memory_limit = '{limit}'")
            return _write_parts(con, name, path, fmt, no_text)
        except duckdb.OutOfMemoryException:
            if i == len(limits) - 1:
                raise
    raise AssertionError("unreachable")


def _write_parts(
    con: duckdb.DuckDBPyConnection, name: str, path: Path, fmt: str, no_text: bool
) -> tuple[int, list[str]]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE export_keys AS {KEYS[name]}")
    total = con.execute("SELECT count(*) FROM export_keys").fetchone()[0]
    query, columns = _shaped(con, QUERIES[name], fmt, no_text)
    step = _chunk_rows(con, name, no_text)
    parts, rows = [], 0
    try:
        for i, lo in enumerate(range(0, max(total, 1), step)):
            part = path.with_name(f".{path.name}.part{i:06d}")
            options = _OPTIONS[fmt] + (f", HEADER {str(i == 0).lower()}" if fmt == "csv" else "")
            chunk = query.format(lo=lo, hi=lo + step)
            parts.append(part)
            rows += int(con.execute(f"COPY ({chunk}) TO {quote(part)} ({options})").fetchone()[0])
        if fmt == "parquet" and len(parts) > 1:
            # one reader thread keeps the parts' order and holds one row group at a time
            threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
            listed = ", ".join(quote(p) for p in parts)
            con.execute("SET threads = 1")
            try:
                con.execute(f"COPY (SELECT * FROM read_parquet([{listed}])) TO {quote(path)} "
                            f"({_OPTIONS[fmt]})")  # fmt: skip
            finally:
                con.execute(f"SET threads = {int(threads)}")
        else:
            with path.open("wb") as out:
                for part in parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return rows, columns
