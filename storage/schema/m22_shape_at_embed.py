"""Pages that the extract stage rejected by their shape alone are extracted again.

The shape of a stub (pipeline/stubshape.py: a short text about the site itself that addresses
the reader) is shared by short news posts that address their reader ("if you cannot log in,
try later, the ministry says"), and the extract stage rejected such posts. Since this version
the embed stage rejects a text by its shape only when its lead vector agrees. The document
versions the extract stage rejected by the shape ("<kind>: rule shape, ..." in the rejection's
detail) lose that stage state, so the next `process` extracts them again and the later stages
judge them; the rejections stay in the log."""

MIGRATION = (
    22,
    "pages rejected by their shape alone at extraction are extracted again (the embed stage judges them)",
    [
        """DELETE FROM stage_state s
        WHERE s.stage = 'extract' AND s.status = 'rejected'
          AND EXISTS (
              SELECT 1 FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = 'extract'
                AND r.reason = 'not_news' AND r.detail LIKE '%: rule shape, %'
          )""",
    ],
)
