"""Anchors: the names and numbers a document mentions, which `similar` weighs beside its vector.

Two reports of one story, in any two languages, name the same people, places and figures;
two stories on one topic mostly do not. A multilingual vector blurs exactly that difference.
An anchor is a capitalised word of three letters or more, lower-cased, accents removed,
Cyrillic written in Latin letters and cut to six characters (so "Pjöngjang" and "Pjongjang",
"Ukraine", "Ukrainy" and "Украина" meet), or a number of two digits or more with its
separators removed ("1,200" and "1.200" are "#1200"). Anchors are computed from the stored
extraction, in SQL alone, so `narrascope sql` gives exactly what `similar` ranks by
(pipeline/similarity.py, SIMILAR_ANCHOR_WEIGHT).
"""

# Cyrillic letters to Latin, one for one (ъ and ь dropped), so that "Путин" meets "Putin" and
# "Германия" "Germany": names written in two scripts would otherwise never be shared, and
# `similar` would favour documents in the query's own script.
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщыэюяіїєґўъь"
LATIN = "abvgdeezziiklmnoprstufhccssyeuaiiegu"
assert len(CYRILLIC) == len(LATIN) + 2

# One anchor expression over a text ``t``: numbers first, then names; distinct, sorted.
TEXT_ANCHORS = r"""CREATE OR REPLACE MACRO text_anchors(t) AS (
    list_sort(list_distinct(list_concat(
        list_transform(regexp_extract_all(coalesce(t, ''), '\d[\d.,]*\d'),
                       lambda x: '#' || coalesce(nullif(ltrim(regexp_replace(x, '\D', '', 'g'), '0'), ''), '0')),
        list_transform(regexp_extract_all(coalesce(t, ''), '\p{Lu}[\p{L}\p{M}]{2,}'),
                       lambda x: left(translate(strip_accents(lower(x)), '{CYRILLIC}', '{LATIN}'),
                                      6)))))
)""".replace("{CYRILLIC}", CYRILLIC).replace("{LATIN}", LATIN)

MIGRATION = (
    17,
    "anchors: text_anchors, doc_anchors and anchor_overlap, the names and numbers `similar` weighs",
    [
        TEXT_ANCHORS,
        # A document's anchors: those of its current version's title and extracted text.
        """CREATE OR REPLACE MACRO doc_anchors(doc) AS (
            SELECT text_anchors(coalesce(x.title, '') || chr(10) || x.text)
            FROM extractions x
            JOIN documents d ON d.doc_id = x.doc_id AND d.current_version = x.version
            WHERE x.doc_id = doc
        )""",
        # The share of two documents' anchors they have in common (Jaccard); 0 when neither
        # has any, NULL when either has no extraction.
        """CREATE OR REPLACE MACRO anchor_overlap(a, b) AS (
            SELECT CASE WHEN x IS NULL OR y IS NULL THEN NULL
                        WHEN len(list_distinct(list_concat(x, y))) = 0 THEN 0.0
                        ELSE len(list_intersect(x, y)) / len(list_distinct(list_concat(x, y)))
                   END
            FROM (SELECT doc_anchors(a) AS x, doc_anchors(b) AS y)
        )""",
    ],
)
