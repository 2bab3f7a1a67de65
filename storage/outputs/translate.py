"""The translate stage's output: translations, the sentence cache, finished translations of
identical texts to reuse, and reopening documents that waited for a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from storage.bulk import insert_rows
from storage.longtext import by_row_id
from storage.outputs.base import Output, WriteContext, delete_versions


@dataclass(slots=True)
class Translation:
    """One document version's translation. ``status`` is 'translated', 'not_needed' (already
    in the target language), 'no_model' (no installed model for ``source_lang``) or
    'undetermined' (no language to translate from). ``new_cache`` holds sentence translations
    computed for this document, as (sentence_hash, translation) pairs, for the cache;
    ``terms`` the content words of a translated text, for narrative keywords."""

    doc_id: str
    version: int
    source_lang: str | None
    target_lang: str
    status: str
    model_id: str | None = None
    title: str | None = None
    text: str | None = None
    sentences: int = 0
    cache_hits: int = 0
    text_hash: str | None = None
    reused_from: str | None = None
    new_cache: list[tuple[str, str]] = field(default_factory=list)
    terms: list[tuple[str, int]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {self.status: 1, "sentences": self.sentences, "sentences_from_cache": self.cache_hits}
        if self.reused_from:
            out["reused_from_a_copy"] = 1
        return out


@dataclass(frozen=True, slots=True)
class SentenceCacheLookup:
    """Cached translations of sentences, by sentence hash. Answer: {hash: translation}."""

    source_lang: str
    target_lang: str
    model_id: str
    hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TranslationReuseLookup:
    """Finished translations of documents with the same normalised text and language.
    Answer: {(text_hash, source_lang): ReusableTranslation}."""

    target_lang: str
    keys: tuple[tuple[str, str], ...]  # (text_hash, source_lang)


@dataclass(frozen=True, slots=True)
class ReusableTranslation:
    """The earliest finished translation of an identical text."""

    doc_id: str
    model_id: str
    title: str | None
    text: str
    sentences: int


@dataclass(frozen=True, slots=True)
class NoModelReopen:
    """Documents left at ``no_model`` in one of ``langs`` are worth another try: a model
    for them is installed now."""

    langs: tuple[str, ...]


TRANSLATION_COLUMNS = [
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
]
CACHE_COLUMNS = [
    ("source_lang", "VARCHAR"),
    ("target_lang", "VARCHAR"),
    ("model_id", "VARCHAR"),
    ("sentence_hash", "VARCHAR"),
    ("translation", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
]


TERM_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("terms", "STRUCT(term VARCHAR, n INTEGER)[]"),
]


def write(con, ctx: WriteContext, items: list[Translation], _extras: list) -> None:
    insert_rows(
        con,
        "translations",
        TRANSLATION_COLUMNS,
        [
            (
                r.doc_id,
                r.version,
                ctx.stage_version,
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
                ctx.now,
            )
            for r in items
        ],  # fmt: skip
    )
    # a translation's words (schema 20); one translated again without a model loses them
    delete_versions(con, "translation_term_lists", [(r.doc_id, r.version) for r in items])
    insert_rows(
        con,
        "translation_term_lists",
        TERM_COLUMNS,
        [(r.doc_id, r.version, [{"term": w, "n": n} for w, n in r.terms])
         for r in items if r.status == "translated"],
    )  # fmt: skip
    cache = {
        (r.source_lang, r.target_lang, r.model_id, h): t for r in items for h, t in r.new_cache
    }
    insert_rows(
        con, "translation_cache", CACHE_COLUMNS, [(*k, t, ctx.now) for k, t in cache.items()]
    )


def sentence_cache(con: duckdb.DuckDBPyConnection, q: SentenceCacheLookup) -> dict[str, str]:
    if not q.hashes:
        return {}
    return dict(
        con.execute(
            "SELECT sentence_hash, translation FROM translation_cache "
            "WHERE source_lang = ? AND target_lang = ? AND model_id = ? "
            "AND sentence_hash IN (SELECT unnest(?::VARCHAR[]))",
            [q.source_lang, q.target_lang, q.model_id, list(q.hashes)],
        ).fetchall()
    )


def translation_reuse(
    con: duckdb.DuckDBPyConnection, q: TranslationReuseLookup
) -> dict[tuple[str, str], ReusableTranslation]:
    if not q.keys:
        return {}
    rows = con.execute(
        """
        SELECT t.text_hash, t.source_lang,
               arg_min(struct_pack(doc_id := t.doc_id, version := t.version, row := t.rowid,
                                   model_id := t.model_id, title := t.title,
                                   sentences := t.sentences), t.translated_at)
        FROM translations t
        JOIN (SELECT unnest(?::VARCHAR[]) AS text_hash, unnest(?::VARCHAR[]) AS source_lang) k
          ON k.text_hash = t.text_hash AND k.source_lang = t.source_lang
        WHERE t.status = 'translated' AND t.target_lang = ?
        GROUP BY 1, 2
        """,
        [[k[0] for k in q.keys], [k[1] for k in q.keys], q.target_lang],
    ).fetchall()
    # the texts by row id: read in the join above, every translation would be decompressed;
    # the earliest translation is taken whole (its own title, NULL or not)
    first = {(r[0], r[1]): r[2] for r in rows}
    texts = by_row_id(
        con,
        "translations",
        ("x.text",),
        [(f["row"], f["doc_id"], f["version"]) for f in first.values()],
    )
    return {
        key: ReusableTranslation(
            f["doc_id"],
            f["model_id"],
            f["title"],
            texts[(f["doc_id"], f["version"])][0],
            f["sentences"],
        )
        for key, f in first.items()
    }


def reopen_no_model(con, request: NoModelReopen, stage: str, dependents: list[str]) -> int:
    """Make documents that had no model for one of the languages pending again for ``stage``,
    and for the stages downstream of it that did not finish them (they were rejected for
    want of a translation); a dependent that finished a document keeps it."""
    if not request.langs:
        return 0
    where = (
        "FROM translations t JOIN documents d "
        "ON d.doc_id = t.doc_id AND d.current_version = t.version "
        "WHERE t.status = 'no_model' AND t.source_lang IN (SELECT unnest(?::VARCHAR[]))"
    )
    langs = list(request.langs)
    reopened = con.execute(
        f"SELECT count(*) {where} AND EXISTS (SELECT 1 FROM stage_state s WHERE s.stage = ? "
        "AND s.status = 'done' AND s.doc_id = t.doc_id AND s.version = t.version)",
        [langs, stage],
    ).fetchone()[0]
    if not reopened:
        return 0
    match = f"AND EXISTS (SELECT 1 {where} AND t.doc_id = s.doc_id AND t.version = s.version)"
    # 'done' only: a document the stage gave up on (it kept raising) stays rejected
    con.execute(
        f"DELETE FROM stage_state s WHERE s.stage = ? AND s.status = 'done' {match}",
        [stage, langs],
    )
    if dependents:
        con.execute(
            "DELETE FROM stage_state s WHERE s.stage IN (SELECT unnest(?::VARCHAR[])) "
            f"AND s.status <> 'done' {match}",
            [dependents, langs],
        )
    return int(reopened)


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take out these document versions' translations and their words (see Output.withdraw)."""
    for table in ("translations", "translation_term_lists"):
        delete_versions(con, table, keys)


OUTPUT = Output(
    "translate",
    records=(Translation,),
    write=write,
    answers={SentenceCacheLookup: sentence_cache, TranslationReuseLookup: translation_reuse},
    reopen={NoModelReopen: reopen_no_model},
    withdraw=withdraw,
)
