"""Keywords with today's function words and tokenizer, in stores written before them.

The cluster stage keeps each document's content words (`doc_term_lists`) and the translate
stage each translation's (`translation_term_lists`); narrative keywords are read from them.
Since they were written, pipeline/labels.py has changed what a word is and which words are
function words (2026-12-06: Turkish İ, Ukrainian apostrophes, case endings after a name or
number, the document's language deciding its function words, the mended Turkish list, and
spaCy's lists for German, Russian, Ukrainian, Polish, Turkish, Arabic, Serbian and
Macedonian). Without a stage-version bump, which would re-cluster every document, a store
kept the terms it had: German narratives still had "wegen" and "mehr" among their keywords.

The step computes the terms again as the stages would now: a document's own words from the
text the cluster stage read for the version it clustered (its extracted text, else the
imported one) with its identified language, and each stored translation's words.
Narratives, members and ids are not touched. The words of a text take 0.34 ms on this
machine (the 1,495 SemEval-2022 articles, 966 characters on average), plus reading it: the
demo's store upgrades in 0.9 s (migrations 36 to 38 and the first query)."""

from storage.bulk import insert_rows
from storage.schema.m20_translation_terms import _TERMS, _chunks, translation_terms

# the clustered documents with stored terms, as (doc_id, version), in first-seen order
CLUSTERED = """SELECT k.doc_id, d.current_version
           FROM doc_term_lists k
           JOIN documents d ON d.doc_id = k.doc_id
           JOIN stage_state s ON s.doc_id = d.doc_id AND s.version = d.current_version
                AND s.stage = 'cluster' AND s.status = 'done'"""


def _terms_again(con) -> None:
    own_terms(con, con.execute(CLUSTERED + " ORDER BY d.first_seen_at, d.doc_id").fetchall())
    translation_terms(
        con,
        con.execute(
            """SELECT t.rowid, t.doc_id, t.version
               FROM translation_term_lists k
               JOIN translations t ON t.doc_id = k.doc_id AND t.version = k.version
               ORDER BY t.rowid"""
        ).fetchall(),
    )


def own_terms(con, clustered: list[tuple[str, int]]) -> None:
    """Write again the own words of the clustered documents given as (doc_id, version), from
    the text the cluster stage read, with their language (also schema 40's step)."""
    from pipeline.labels import terms  # the stages' own tokenizer: one definition of a term
    from storage.stage_inputs import load_inputs  # what the stages read (imports storage.db)

    for chunk in _chunks(clustered):
        docs = load_inputs(con, chunk, with_html=False, with_translation=False)
        insert_rows(
            con, "doc_term_lists", [("doc_id", "VARCHAR"), ("terms", _TERMS)],
            [(doc.doc_id, [{"term": t, "n": n}
                           for t, n in terms(doc.text or doc.raw_text or "", lang=doc.lang)])
             for doc in docs],
        )  # fmt: skip


MIGRATION = (
    37,
    "keywords again with today's function words and tokenizer (doc_term_lists, "
    "translation_term_lists)",
    [_terms_again],
)
