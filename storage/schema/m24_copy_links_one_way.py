"""A copy relation stored both ways keeps only the link from the later document.

Before 2026-12-04 (commit eb9eef8) the dedup stage could link two documents to each other: a
translated pair whose vectors both existed before either was deduplicated was each other's
mutual nearest neighbour, and each was linked to the other as its "earlier" document; a
forced rerun did the same for exact and near copies it had yet to redo. Copy groups and
`v_copies` were never affected, but `copy_links` held the pair twice and a run's summary
counted it twice. (A page that changed and was deduplicated again kept the link a copy had
made to its old text, beside the one it made itself the other way; since a later change of
2026-12-04 the stage keeps or drops the copy's link instead: README, "dedup".) The link kept
is the one from the document the dedup stage handled later (ties: the one first seen later,
then the greater id), as the stage writes links now."""

_ORDER = """CREATE TEMP TABLE m24_order AS
    SELECT d.doc_id, d.first_seen_at,
           coalesce(max(s.processed_at), TIMESTAMPTZ '1970-01-01 00:00:00+00') AS handled_at
    FROM documents d
    LEFT JOIN stage_state s ON s.doc_id = d.doc_id AND s.stage = 'dedup'
    WHERE d.doc_id IN (SELECT doc_id FROM copy_links)
    GROUP BY d.doc_id, d.first_seen_at"""

_DELETE = """DELETE FROM copy_links l
    WHERE EXISTS (
        SELECT 1 FROM copy_links r, m24_order a, m24_order b
        WHERE r.doc_id = l.other_doc_id AND r.other_doc_id = l.doc_id
          AND a.doc_id = l.doc_id AND b.doc_id = l.other_doc_id
          AND (a.handled_at < b.handled_at
               OR (a.handled_at = b.handled_at AND a.first_seen_at < b.first_seen_at)
               OR (a.handled_at = b.handled_at AND a.first_seen_at = b.first_seen_at
                   AND a.doc_id < b.doc_id))
    )"""

MIGRATION = (
    24,
    "a copy relation stored both ways keeps only the link from the document handled later",
    [_ORDER, _DELETE, "DROP TABLE m24_order"],
)
