"""Serbian keywords without the function words spaCy's Serbian list lacks.

spaCy's Serbian list, narrascope's only one for Serbian, is written in Cyrillic and lacks
"које", "који" and "бити": Serbian narratives kept them among their keywords, and a Serbian
text in Latin script kept all its function words ("koje", "biti", "posle"). Serbian's list now
also holds spaCy's Croatian one, and each word in both scripts (pipeline/labels.py,
``_serbian``). The step computes again, as schema 37's did for every document, the own words of
the clustered documents this can change: those identified as Serbian, and those whose stored
words hold a word of the longer list (a text's alphabet may be judged Serbian by them).
Translations are in the target language and keep theirs."""

from storage.schema.m37_terms_again import CLUSTERED, own_terms


def _serbian_terms_again(con) -> None:
    from pipeline.labels import _stop_words, words

    listed = sorted({w for entry in _stop_words("sr") for w in words(entry)})
    rows = con.execute(
        CLUSTERED
        + """ WHERE EXISTS (SELECT 1 FROM languages l WHERE l.doc_id = d.doc_id
                              AND l.version = d.current_version AND l.lang = 'sr')
                 OR EXISTS (SELECT 1 FROM doc_terms t
                            WHERE t.doc_id = d.doc_id AND list_contains($1, t.term))
             ORDER BY d.first_seen_at, d.doc_id""",
        [listed],
    ).fetchall()
    own_terms(con, rows)


MIGRATION = (
    40,
    "Serbian keywords without the function words spaCy's Serbian list lacks (које, бити; "
    "Latin script)",
    [_serbian_terms_again],
)
