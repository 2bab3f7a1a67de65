"""A link that the dedup stage made to a document it had yet to handle is dropped.

Before 2026-12-04 (commit eb9eef8) the stage compared a document with every stored vector
dated near it, including those of documents later in its own batch or in a later batch, and
linked it to them as its "earlier" document. Where the later document linked back, the pair
was stored both ways, and schema 24 kept one link of it; where it linked to a third document
instead, the link stayed one way, from the earlier document to the later one, which the stage
never writes since. In a copy group it read as a direct link to the group's origin, so
`v_copies` named no `via` and the link's similarity for that member where a store built from
scratch names the member its strongest link goes to (on a demo-sized store written by the
code of 2026-12-04: 3 such links of 29, two members shown with another `via` and similarity).

Dropped: a link whose other document had no dedup state from before the link was found, and
whose dedup state came later (a later batch or run), or in the same batch after it (batches
are read in first-seen order, then by id). A link to a document handled before stays, and so
does a copy's link to the old text of a page that changed later (that page's earlier version
was handled before the link); a withdrawn document's links went with it."""

MIGRATION = (
    32,
    "copy links that point from a document to one the dedup stage handled after it (written "
    "before eb9eef8, one way) are dropped",
    [
        """DELETE FROM copy_links l
        USING documents a, documents b
        WHERE a.doc_id = l.doc_id AND b.doc_id = l.other_doc_id
          AND NOT EXISTS (
              SELECT 1 FROM stage_state s
              WHERE s.doc_id = l.other_doc_id AND s.stage = 'dedup'
                AND s.processed_at < l.found_at)
          AND EXISTS (
              SELECT 1 FROM stage_state s
              WHERE s.doc_id = l.other_doc_id AND s.stage = 'dedup'
                AND (s.processed_at > l.found_at
                     OR (s.processed_at = l.found_at
                         AND (b.first_seen_at > a.first_seen_at
                              OR (b.first_seen_at = a.first_seen_at AND b.doc_id > a.doc_id)))))""",
    ],
)
