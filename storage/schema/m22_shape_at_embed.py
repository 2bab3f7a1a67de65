"""Pages that the extract stage rejected by their shape alone are extracted again.

The shape of a stub (pipeline/stubshape.py: a short text about the site itself that addresses
the reader) is shared by short news posts that address their reader ("if you cannot log in,
try later, the ministry says"), and the extract stage rejected such posts. Since this version
the embed stage rejects a text by its shape only when its lead vector agrees. The document
versions the extract stage rejected by the shape ("<kind>: rule shape, ..." in the rejection's
detail) lose that stage state, so the next `process` extracts them again and the later stages
judge them; the rejections stay in the log, and source health counts a rejection only while
the stage still rejects that version."""

from storage.schema.m19_notnews_embed_health import V_SOURCE_HEALTH as _BEFORE

# Source health counts a page's rejection only while the stage still rejects that version:
# the pages made pending here (and any page a forced stage kept after rejecting it) are no
# longer counted as not news once they are kept.
_ANCHOR = "FROM rejections WHERE stage = 'extract' OR (stage = 'embed' AND reason = 'not_news')"
assert _ANCHOR in _BEFORE
V_SOURCE_HEALTH = _BEFORE.replace(
    _ANCHOR,
    "FROM rejections r WHERE (r.stage = 'extract' OR (r.stage = 'embed' AND r.reason = "
    "'not_news')) AND EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = r.doc_id "
    "AND s.version = r.version AND s.stage = r.stage AND s.status = 'rejected')",
)

MIGRATION = (
    22,
    "pages rejected by their shape alone at extraction are extracted again (the embed stage "
    "judges them); source health counts only rejections that still stand",
    [
        V_SOURCE_HEALTH,
        """DELETE FROM stage_state s
        WHERE s.stage = 'extract' AND s.status = 'rejected'
          AND EXISTS (
              SELECT 1 FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = 'extract'
                AND r.reason = 'not_news' AND r.detail LIKE '%: rule shape, %'
          )""",
    ],
)
