"""A translation's content words beside the document's own: keywords follow a translation
that arrives after the narrative formed.

Until schema 19 the cluster stage kept one term list a document: the translation's words when
the document was translated before it was clustered, else its own. A Russian piece clustered
while no ru->en model was installed kept Russian keywords after `models install` translated
it, and `keywords_original` of a narrative whose foreign members were all translated first was
NULL. Now the cluster stage keeps a document's own words (`doc_term_lists`) and the translate
stage the words of each translation it writes (`translation_term_lists`), so `v_narratives`
takes the target-language keywords from whichever translations exist when it is read.

The step computes what the stages would have written (Python: the tokenizer and stop-word
lists of pipeline/labels.py): the words of every stored translation, and a document's own
words where its list held its translation's."""

from storage.bulk import insert_rows
from storage.longtext import by_row_id
from storage.schema.m11_narrative_labels import V_NARRATIVES as _BEFORE

_TERMS = "STRUCT(term VARCHAR, n INTEGER)[]"
CHUNK = 2_000  # texts held in memory at once by the step


def _edit(view: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert view.count(old) == 1, old
        view = view.replace(old, new)
    return view


V_NARRATIVES = _edit(
    _BEFORE,
    (
        "d.title, d.title_translated, m.assigned_at, tr.translated_at,",
        "d.title, d.title_translated,",
    ),
    ("    LEFT JOIN translations tr ON tr.doc_id = d.doc_id AND tr.version = d.version\n", ""),
    (
        """    -- in_target: the document is in the target language ([translate] target, 'en' before
    -- the translate stage ran). target_terms: its doc_terms are, because it is or because
    -- the cluster stage took them from its translation (translated before it was clustered;
    -- a translation that came later leaves the terms in the original language).""",
        """    -- in_target: the document is in the target language ([translate] target, 'en' before
    -- the translate stage ran). target_terms: it has words in it, its own (doc_terms) or
    -- its translation's (translation_terms, a translated text), whenever that came.""",
    ),
    (
        """in_target OR coalesce(translation_status = 'translated'
                                 AND translated_at <= assigned_at, false) AS target_terms,""",
        """in_target OR coalesce(translation_status = 'translated' AND has_text_translated,
                                 false) AS target_terms,""",
    ),
    (
        """    SELECT m.narrative_id, m.doc_id, 'label' AS pool
    FROM members m JOIN stats s USING (narrative_id)
    WHERE m.target_terms OR NOT s.any_target_terms
    UNION ALL
    SELECT narrative_id, doc_id, 'original' FROM members
    WHERE NOT (in_target OR target_terms)""",
        """    -- (translated: the pool takes the member's translation's words, not its own)
    SELECT m.narrative_id, m.doc_id, 'label' AS pool,
           m.target_terms AND NOT m.in_target AS translated
    FROM members m JOIN stats s USING (narrative_id)
    WHERE m.target_terms OR NOT s.any_target_terms
    UNION ALL
    SELECT narrative_id, doc_id, 'original', false FROM members WHERE NOT in_target""",
    ),
    (
        "    FROM doc_terms dt JOIN pools p ON p.doc_id = dt.doc_id",
        """    FROM (SELECT doc_id, false AS translated, term, n FROM doc_terms
          UNION ALL
          SELECT doc_id, true, term, n FROM translation_terms) dt
    JOIN pools p ON p.doc_id = dt.doc_id AND p.translated = dt.translated""",
    ),
)


def _backfill(con) -> None:
    """The words of every translation, and the own words of every translated document: the
    cluster stage stored its translation's when it was translated by then, which the stored
    times cannot tell for sure (a translation redone later has a later ``translated_at``),
    and recomputing own words gives them again."""
    translation_terms(
        con,
        con.execute(
            "SELECT rowid, doc_id, version FROM translations WHERE status = 'translated' "
            "ORDER BY rowid"
        ).fetchall(),
    )
    legacy = con.execute(
        """SELECT e.rowid, d.doc_id, d.current_version, v.rowid
           FROM doc_term_lists k
           JOIN documents d ON d.doc_id = k.doc_id
           JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
           JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
           LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
           WHERE t.status = 'translated'
           ORDER BY e.rowid"""
    ).fetchall()
    for chunk in _chunks(legacy):
        own = _words(con, "extractions", [r[:3] for r in chunk])
        # no extracted text: the imported text, as the stage reads it (DocInput.raw_text)
        own |= _words(con, "document_versions", [(r[3], *r[1:3]) for r in chunk
                                                 if not own.get(tuple(r[1:3]))])  # fmt: skip
        insert_rows(
            con, "doc_term_lists", [("doc_id", "VARCHAR"), ("terms", _TERMS)],
            [(doc, own.get((doc, version), [])) for _, doc, version, _ in chunk],
        )  # fmt: skip


def translation_terms(con, rows: list[tuple]) -> None:
    """Write the words of the translations given as (row id, doc_id, version), a chunk at a
    time (also schema 37's step)."""
    for chunk in _chunks(rows):
        words = _words(con, "translations", chunk)
        insert_rows(
            con, "translation_term_lists",
            [("doc_id", "VARCHAR"), ("version", "INTEGER"), ("terms", _TERMS)],
            [(doc, version, words.get((doc, version), [])) for _, doc, version in chunk],
        )  # fmt: skip


def _chunks(rows: list) -> list[list]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def _words(con, table: str, rows: list[tuple]) -> dict[tuple[str, int], list[dict]]:
    """(doc_id, version) -> the terms of ``table``'s text of that version (rows as
    (row id, doc_id, version)); an empty text has none and is left out."""
    from pipeline.labels import terms  # the stages' own tokenizer: one definition of a term

    texts = by_row_id(con, table, ("x.text",), rows)
    return {
        key: [{"term": term, "n": n} for term, n in terms(text)]
        for key, (text,) in texts.items()
        if text
    }


MIGRATION = (
    20,
    "translation_term_lists: a translation's words; keywords follow a later translation",
    [
        f"""CREATE TABLE translation_term_lists (
            doc_id  VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            terms   {_TERMS} NOT NULL,
            PRIMARY KEY (doc_id, version)
        )""",
        # the words of the current version's translation, a row per term, as doc_terms
        """CREATE VIEW translation_terms AS
           SELECT t.doc_id, unnest(t.terms, recursive := true)
           FROM translation_term_lists t
           JOIN documents d ON d.doc_id = t.doc_id AND d.current_version = t.version""",
        _backfill,
        V_NARRATIVES,
    ],
)
