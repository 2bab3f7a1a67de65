"""Stage bookkeeping: which document versions still need a stage, their inputs, and results."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from storage.bulk import insert_rows
from storage.db import transaction
from storage.documents import decompress_html, record_rejections, seen_at_sql
from storage.records import (
    CopyResult,
    DocInput,
    Embedding,
    Extraction,
    LanguageResult,
    NarrativeAssignment,
    Rejection,
    Translation,
)

# stage_state rows: (doc_id, version, stage, stage_version, status, run_id, processed_at)
STAGE_STATE_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage", "VARCHAR"),
    ("stage_version", "VARCHAR"),
    ("status", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("processed_at", "TIMESTAMPTZ"),
]

NARRATIVE_MEMBER_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("narrative_id", "BIGINT"),
    ("similarity", "DOUBLE"),
    ("via", "VARCHAR"),
    ("assigned_at", "TIMESTAMPTZ"),
]


def _pending_where(stage: str, stage_version: str, requires: tuple[str, ...]) -> tuple[str, list]:
    """Current document versions the stage has not handled at this version, whose required
    stages are done."""
    sql = [
        "FROM documents d",
        "WHERE NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = d.doc_id",
        "  AND s.version = d.current_version AND s.stage = ? AND s.stage_version = ?)",
    ]
    params: list = [stage, stage_version]
    for required in requires:
        sql.append(
            "AND EXISTS (SELECT 1 FROM stage_state r WHERE r.doc_id = d.doc_id "
            "AND r.version = d.current_version AND r.stage = ? AND r.status = 'done')"
        )
        params.append(required)
    return "\n".join(sql), params


def pending(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    requires: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[tuple[str, int]]:
    """(doc_id, version) keys the stage still has to process, in a stable order."""
    where, params = _pending_where(stage, stage_version, requires)
    sql = f"SELECT d.doc_id, d.current_version {where} ORDER BY d.first_seen_at, d.doc_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return [(row[0], row[1]) for row in con.execute(sql, params).fetchall()]


def backlog(
    con: duckdb.DuckDBPyConnection, stage: str, stage_version: str, requires: tuple[str, ...] = ()
) -> int:
    """How many document versions the stage would process now."""
    where, params = _pending_where(stage, stage_version, requires)
    return int(con.execute(f"SELECT count(*) {where}", params).fetchone()[0])


def load_inputs(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]], *, with_html: bool = True
) -> list[DocInput]:
    """The stage inputs for the given (doc_id, version) keys, in the same order. Stages that
    read only extracted text pass ``with_html=False``: raw pages are then not loaded into Python."""
    if not keys:
        return []
    rows = con.execute(
        f"""
        SELECT v.doc_id, v.version, v.url, v.source,
               CASE WHEN ? THEN v.html END, v.text,
               e.text, e.title,
               v.hint_title, v.hint_published_at, v.hint_lang,
               l.lang, t.status, t.title, t.text,
               {seen_at_sql("e")},
               CASE WHEN ? THEN v.html_zlib END
        FROM document_versions v
        JOIN documents d ON d.doc_id = v.doc_id
        JOIN (SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k
          ON k.doc_id = v.doc_id AND k.version = v.version
        LEFT JOIN extractions e ON e.doc_id = v.doc_id AND e.version = v.version
        LEFT JOIN languages l ON l.doc_id = v.doc_id AND l.version = v.version
        LEFT JOIN translations t ON t.doc_id = v.doc_id AND t.version = v.version
        """,
        [with_html, with_html, [k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    # HTML is stored compressed since schema 7; older versions keep it in `html`
    by_key = {
        (r[0], r[1]): DocInput(*r[:4], r[4] or decompress_html(r[-1]), *r[5:-1]) for r in rows
    }
    return [by_key[k] for k in keys if k in by_key]


def _write_extractions(con, stage_version: str, results: list[Extraction], now) -> None:
    insert_rows(
        con,
        "extractions",
        [
            ("doc_id", "VARCHAR"),
            ("version", "INTEGER"),
            ("stage_version", "VARCHAR"),
            ("title", "VARCHAR"),
            ("author", "VARCHAR"),
            ("published_at", "TIMESTAMPTZ"),
            ("sitename", "VARCHAR"),
            ("text", "VARCHAR"),
        ],
        [
            (
                r.doc_id,
                r.version,
                stage_version,
                r.title,
                r.author,
                r.published_at,
                r.sitename,
                r.text,
            )
            for r in results
        ],
    )


def _write_languages(con, stage_version: str, results: list[LanguageResult], now) -> None:
    insert_rows(
        con,
        "languages",
        [
            ("doc_id", "VARCHAR"),
            ("version", "INTEGER"),
            ("stage_version", "VARCHAR"),
            ("lang", "VARCHAR"),
            ("confidence", "DOUBLE"),
            ("method", "VARCHAR"),
        ],
        [(r.doc_id, r.version, stage_version, r.lang, r.confidence, r.method) for r in results],
    )


def _write_translations(con, stage_version: str, results: list[Translation], now) -> None:
    insert_rows(
        con,
        "translations",
        [
            ("doc_id", "VARCHAR"),
            ("version", "INTEGER"),
            ("stage_version", "VARCHAR"),
            ("source_lang", "VARCHAR"),
            ("target_lang", "VARCHAR"),
            ("status", "VARCHAR"),
            ("model_id", "VARCHAR"),
            ("title", "VARCHAR"),
            ("text", "VARCHAR"),
            ("sentences", "INTEGER"),
            ("cache_hits", "INTEGER"),
            ("text_hash", "VARCHAR"),
            ("reused_from", "VARCHAR"),
            ("translated_at", "TIMESTAMPTZ"),
        ],
        [
            (
                r.doc_id,
                r.version,
                stage_version,
                r.source_lang,
                r.target_lang,
                r.status,
                r.model_id,
                r.title,
                r.text,
                r.sentences,
                r.cache_hits,
                r.text_hash,
                r.reused_from,
                now,
            )
            for r in results
        ],
    )
    cache = {
        (r.source_lang, r.target_lang, r.model_id, h): t for r in results for h, t in r.new_cache
    }
    insert_rows(
        con,
        "translation_cache",
        [
            ("source_lang", "VARCHAR"),
            ("target_lang", "VARCHAR"),
            ("model_id", "VARCHAR"),
            ("sentence_hash", "VARCHAR"),
            ("translation", "VARCHAR"),
            ("created_at", "TIMESTAMPTZ"),
        ],
        [(*key, text, now) for key, text in cache.items()],
    )


def _write_embeddings(con, stage_version: str, results: list[Embedding], now) -> None:
    insert_rows(
        con,
        "embeddings",
        [
            ("doc_id", "VARCHAR"),
            ("version", "INTEGER"),
            ("stage_version", "VARCHAR"),
            ("model_id", "VARCHAR"),
            ("runtime", "VARCHAR"),
            ("dim", "INTEGER"),
            ("input", "VARCHAR"),
            ("chunks", "INTEGER"),
            ("truncated", "BOOLEAN"),
            ("text_hash", "VARCHAR"),
            ("reused_from", "VARCHAR"),
            ("embedded_at", "TIMESTAMPTZ"),
            ("vector", "FLOAT[]"),
            ("lead_vector", "FLOAT[]"),
        ],
        [
            (
                r.doc_id,
                r.version,
                stage_version,
                r.model_id,
                r.runtime,
                len(r.vector),
                r.input,
                r.chunks,
                r.truncated,
                r.text_hash,
                r.reused_from,
                now,
                r.vector,
                r.lead_vector,
            )
            for r in results
        ],
    )


def _write_copies(con, stage_version: str, results: list[CopyResult], now) -> None:
    ids = [r.doc_id for r in results]
    con.execute("DELETE FROM lsh_bands WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    insert_rows(
        con,
        "minhash",
        [
            ("doc_id", "VARCHAR"),
            ("version", "INTEGER"),
            ("stage_version", "VARCHAR"),
            ("text_hash", "VARCHAR"),
            ("num_perm", "SMALLINT"),
            ("seed", "INTEGER"),
            ("signature", "BLOB"),
        ],
        [
            (r.doc_id, r.version, stage_version, r.text_hash, r.num_perm, r.seed, r.signature)
            for r in results
        ],
    )
    insert_rows(
        con,
        "lsh_bands",
        [("band", "SMALLINT"), ("bucket", "UBIGINT"), ("doc_id", "VARCHAR")],
        [(band, bucket, r.doc_id) for r in results for band, bucket in enumerate(r.buckets)],
        replace=False,
    )
    links = [(r.doc_id, other, kind, sim, now) for r in results for other, kind, sim in r.matches]
    insert_rows(
        con,
        "copy_links",
        [
            ("doc_id", "VARCHAR"),
            ("other_doc_id", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("similarity", "DOUBLE"),
            ("found_at", "TIMESTAMPTZ"),
        ],
        links,
    )
    for r in results:  # group membership: only documents that have copies, a minority
        if r.matches:
            _join_copy_group(con, [r.doc_id, *(m[0] for m in r.matches)], now)


def _join_copy_group(con, ids: list[str], now) -> None:
    """Put ``ids`` in one copy group: the oldest group among theirs survives (its id is the
    group's first document), the others are folded into it."""
    groups = con.execute(
        "SELECT group_id, min(joined_at) FROM copy_members "
        "WHERE doc_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 2, 1",
        [ids],
    ).fetchall()
    if groups:
        keep = groups[0][0]
        others = [g for g, _ in groups[1:]]
        if others:
            con.execute(
                "UPDATE copy_members SET group_id = ? "
                "WHERE group_id IN (SELECT unnest(?::VARCHAR[]))",
                [keep, others],
            )
    else:
        keep = f"cg-{ids[1]}"
    con.execute(
        "INSERT INTO copy_members SELECT unnest(?::VARCHAR[]), ?, ? ON CONFLICT DO NOTHING",
        [ids, keep, now],
    )


def _write_narratives(con, stage_version: str, results: list[NarrativeAssignment], now) -> None:
    """New narratives get the next ids; merges move members and leave an alias behind."""
    final = sorted({r.narrative for r in results}, key=lambda k: (isinstance(k, str), str(k)))
    new_keys = [k for k in final if isinstance(k, str)]
    ids: dict = {}
    if new_keys:
        fresh = con.execute(
            "SELECT nextval('narrative_seq') FROM range(?)", [len(new_keys)]
        ).fetchall()
        ids = {k: int(row[0]) for k, row in zip(new_keys, fresh, strict=True)}
    real = lambda k: ids.get(k, k)  # noqa: E731
    for merged, survivor, reason in results[0].merges if results else []:
        if isinstance(merged, str):  # a narrative born and merged within this batch
            continue
        apply_merge(con, merged, real(survivor), reason, now)
    states = {}
    for r in results:
        states[real(r.narrative)] = (r.model_id, *r.state)
    con.execute(
        """
        INSERT INTO narratives
        SELECT unnest(?::BIGINT[]), ?, ?, unnest(?::VARCHAR[]), unnest(?::INTEGER[]),
               unnest(?::TIMESTAMPTZ[]), unnest(?::FLOAT[][])
        ON CONFLICT (narrative_id) DO UPDATE SET updated_at = excluded.updated_at,
            size = excluded.size, last_seen = excluded.last_seen,
            vector_sum = excluded.vector_sum
        """,
        [
            list(states),
            now,
            now,
            [s[0] for s in states.values()],
            [s[1] for s in states.values()],
            [s[3] for s in states.values()],
            [s[2] for s in states.values()],
        ],
    )
    write_parts(con, {k: s[4] for k, s in states.items()})
    insert_rows(
        con,
        "narrative_members",
        NARRATIVE_MEMBER_COLUMNS,
        [(r.doc_id, real(r.narrative), r.similarity, r.via, now) for r in results],
    )
    con.execute(
        "DELETE FROM doc_terms WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [[r.doc_id for r in results]],
    )
    insert_rows(
        con,
        "doc_terms",
        [("doc_id", "VARCHAR"), ("term", "VARCHAR"), ("n", "INTEGER")],
        [(r.doc_id, term, n) for r in results for term, n in r.terms],
    )


def write_parts(con, parts: dict) -> None:
    """Replace the language parts of these narratives: narrative id -> [(lang, size, sum)]."""
    con.execute(
        "DELETE FROM narrative_parts WHERE narrative_id IN (SELECT unnest(?::BIGINT[]))",
        [list(parts)],
    )
    insert_rows(
        con,
        "narrative_parts",
        [
            ("narrative_id", "BIGINT"),
            ("lang", "VARCHAR"),
            ("size", "INTEGER"),
            ("vector_sum", "FLOAT[]"),
        ],
        [(nid, lang, size, total) for nid, rows in parts.items() for lang, size, total in rows],
        replace=False,
    )


def apply_merge(con, merged: int, survivor: int, reason: str, now) -> None:
    """Fold narrative ``merged`` into ``survivor``; ``merged`` stays resolvable as an alias."""
    con.execute(
        "UPDATE narrative_members SET narrative_id = ? WHERE narrative_id = ?", [survivor, merged]
    )
    con.execute(
        "UPDATE narrative_aliases SET narrative_id = ? WHERE narrative_id = ?", [survivor, merged]
    )
    con.execute("DELETE FROM narratives WHERE narrative_id = ?", [merged])
    con.execute("DELETE FROM narrative_parts WHERE narrative_id = ?", [merged])
    con.execute(
        "INSERT OR REPLACE INTO narrative_aliases VALUES (?, ?, ?, ?)",
        [merged, survivor, now, reason],
    )


# One writer per result type, each writing a whole batch in one statement; a new stage adds
# its table (a migration) and its writer here.
WRITERS = {
    Extraction: _write_extractions,
    LanguageResult: _write_languages,
    Translation: _write_translations,
    Embedding: _write_embeddings,
    CopyResult: _write_copies,
    NarrativeAssignment: _write_narratives,
}


def write_results(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    stage_version: str,
    results: list,
    *,
    run_id: str | None = None,
) -> dict[str, int]:
    """Write one batch of stage results and mark each document version handled, atomically."""
    now = datetime.now(UTC)
    rejections = [r for r in results if isinstance(r, Rejection)]
    by_type: dict[type, list] = {}
    for result in results:
        if not isinstance(result, Rejection):
            by_type.setdefault(type(result), []).append(result)
    states = [
        (
            r.doc_id,
            r.version,
            stage,
            stage_version,
            "rejected" if isinstance(r, Rejection) else "done",
            run_id,
            now,
        )
        for r in results
    ]
    with transaction(con):
        for result_type, batch in by_type.items():
            WRITERS[result_type](con, stage_version, batch, now)
        insert_rows(
            con,
            "stage_state",
            STAGE_STATE_COLUMNS,
            states,
        )
        record_rejections(con, rejections, run_id=run_id)
    return {"done": len(results) - len(rejections), "rejected": len(rejections)}


def reset_stage(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Forget that a stage ran, so ``process --force`` redoes it. Outputs are replaced on rerun."""
    with transaction(con):
        con.execute("DELETE FROM stage_state WHERE stage = ?", [stage])


def reopen_no_model(
    con: duckdb.DuckDBPyConnection, stage: str, langs: list[str], dependents: list[str]
) -> int:
    """Make documents that had no translation model for one of ``langs`` pending again for
    ``stage`` (and for the stages that use its output), now that a model is installed."""
    if not langs:
        return 0
    where = (
        "FROM translations t WHERE t.status = 'no_model' "
        "AND t.source_lang IN (SELECT unnest(?::VARCHAR[]))"
    )
    with transaction(con):
        reopened = con.execute(f"SELECT count(*) {where}", [langs]).fetchone()[0]
        con.execute(
            "DELETE FROM stage_state s WHERE s.stage IN (SELECT unnest(?::VARCHAR[])) "
            f"AND EXISTS (SELECT 1 {where} AND t.doc_id = s.doc_id AND t.version = s.version)",
            [[stage, *dependents], langs],
        )
    return int(reopened)
