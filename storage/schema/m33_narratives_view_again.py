"""v_narratives as schema 20 defines it, for stores that applied schema 20 before its review.

Schema 20 was changed half an hour after it reached main (0e31cc9: a member has words in the
target language from its translation only when the translation has a text). Stores written
by the code in between (0c8b497, 927f8b8, c4fc320, 2026-12-04 05:59 to 06:29 UTC) kept the
first v_narratives, which takes a member translated to an empty text as having target-language
words (it has none), so such a narrative's label can lose that member's own words; the view is
made again as schema 20 makes it now. For every other store it is the view it has. (On a store
0c8b497 wrote from the demo pages with a ru->en model, the view's SQL differed from a fresh
store's; no label did, as none of its translations was empty.)"""

from storage.schema.m20_translation_terms import V_NARRATIVES

assert V_NARRATIVES.startswith("CREATE OR REPLACE VIEW v_narratives AS")

MIGRATION = (
    33,
    "v_narratives as schema 20 defines it (stores written before schema 20's review kept an "
    "earlier view)",
    [V_NARRATIVES],
)
