"""A narrative's keywords hold one form of a word, not two of its endings.

Keywords are the top 8 terms by class-based TF-IDF, and each surface form of a word was a term
of its own: a Polish narrative showed both "zasiłek" and "zasiłku", a German one
"völkermord" and "völkermordes", a Turkish one "kadınlar" and "kadınların", an English one
"schools" and "school". On the SemEval-2022 store 42 of its 269 narratives of two documents
or more had such a pair among their keywords (or their original-language keywords), which took
a slot from another word.

Among a narrative's 24 best terms, a term now counts as a form of a better-scored one when
both have at least 5 letters and they agree up to the longer one's last two letters, and at
least in their first 5 ("zasiłek"/"zasiłku", "migrant"/"migrants", "russia"/"russian",
"المرور"/"المرورية"; not "visited"/"visitors", not "war"/"was"). Its score is added to that
term's, and the best-scored form is shown. No stemmer is used: none covers Polish and
Ukrainian, and stored terms stay the words of the text. The rule is blind to language: of the
45 pairs it joined on that store, one joins two words ("prince"/"princess"); "police" and
"policy" would be joined too. Only the view changes."""

from storage.schema.m36_label_sentence_end import V_NARRATIVES as _BEFORE

# terms among a narrative's best that are looked at for forms of one word
CANDIDATES = 24

_OLD = """keywords AS (
    SELECT pool, narrative_id, list(term ORDER BY score DESC, term)[1:8] AS keywords
    FROM scored GROUP BY 1, 2
),"""
_NEW = f"""ranked AS (
    SELECT pool, narrative_id, term, score,
           row_number() OVER (PARTITION BY pool, narrative_id ORDER BY score DESC, term) AS r
    FROM scored QUALIFY r <= {CANDIDATES}
),
forms AS (
    -- a term's head: the best-ranked term it is a form of (itself when there is none): both
    -- of 5 letters or more, alike up to the longer one's last two letters, and at least in 5
    SELECT a.pool, a.narrative_id, a.term, a.score, arg_min(b.term, b.r) AS head
    FROM ranked a JOIN ranked b
      ON b.pool = a.pool AND b.narrative_id = a.narrative_id AND b.r <= a.r
     AND (b.term = a.term
          OR (length(a.term) >= 5 AND length(b.term) >= 5
              AND left(a.term, greatest(5, greatest(length(a.term), length(b.term)) - 2))
                = left(b.term, greatest(5, greatest(length(a.term), length(b.term)) - 2))))
    GROUP BY 1, 2, 3, 4
),
keywords AS (
    SELECT pool, narrative_id, list(head ORDER BY score DESC, head)[1:8] AS keywords
    FROM (SELECT pool, narrative_id, head, sum(score) AS score FROM forms GROUP BY 1, 2, 3)
    GROUP BY 1, 2
),"""

assert _BEFORE.count(_OLD) == 1
V_NARRATIVES = _BEFORE.replace(_OLD, _NEW)

MIGRATION = (
    39,
    "narrative keywords: one form of a word, not two of its endings (zasiłek, zasiłku)",
    [V_NARRATIVES],
)
