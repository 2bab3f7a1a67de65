"""v_narratives: a member is read at the version the cluster stage placed.

A page whose next version a stage rejects (a stub, its site's boilerplate) or that the
cluster stage has yet to reach stays in its narrative as the page it was (the stage's state,
``cluster --rebuild``). The view read every member at its current version, so such a page
gave its narrative the stub's date, language and title: two articles of 3 and 4 January, one
of whose pages showed a challenge page dated 1 March, made a narrative "first seen" on 4
January, "last seen" on 1 March (0.04 documents a day), in the languages ``en`` and none.
Dates, languages, titles, texts, translations and vectors now come from the version placed
(``PLACED``: the cluster stage's latest 'done' state, else the current version)."""

from storage.schema.m39_keyword_inflections import V_NARRATIVES as _BEFORE

# the version that placed member ``m`` (storage/outputs/narrative_lookup.py, PLACED)
PLACED = (
    "coalesce((SELECT max(s.version) FROM stage_state s WHERE s.doc_id = m.doc_id "
    "AND s.stage = 'cluster' AND s.status = 'done'), d.current_version)"
)

_MEMBERS = "    JOIN v_documents d ON d.doc_id = m.doc_id\n"
_PLACED_MEMBERS = f"""    JOIN (
        SELECT d.doc_id, d.source, l.lang, cr.copy_kind, t.status AS translation_status,
               t.target_lang AS translation_lang, coalesce(x.title, v.hint_title) AS title,
               CASE WHEN t.status = 'not_needed' THEN coalesce(x.title, v.hint_title)
                    ELSE t.title END AS title_translated,
               coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), x.published_at)
                   AS published_at,
               d.first_seen_at, x.text,
               CASE WHEN t.status = 'not_needed' THEN x.text ELSE t.text END AS text_translated
        FROM narrative_members m
        JOIN documents d ON d.doc_id = m.doc_id
        JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = {PLACED}
        LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = v.version
        LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = v.version
        LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = v.version
        LEFT JOIN v_copy_relations cr ON cr.doc_id = d.doc_id
    ) d ON d.doc_id = m.doc_id
"""
_CURRENT = (
    "e.version = d.current_version",  # near: the member's vector; bodies: its text
    "tr.version = d.current_version",  # bodies: its translation
)
assert _BEFORE.count(_MEMBERS) == 1
assert [_BEFORE.count(c) for c in _CURRENT] == [3, 1]
V_NARRATIVES = _BEFORE.replace(_MEMBERS, _PLACED_MEMBERS)
for _c in _CURRENT:
    V_NARRATIVES = V_NARRATIVES.replace(_c, _c.replace("d.current_version", PLACED))

MIGRATION = (
    41,
    "v_narratives: a member is read at the version the cluster stage placed, not at a later "
    "version a stage rejected or has yet to reach",
    [V_NARRATIVES],
)
