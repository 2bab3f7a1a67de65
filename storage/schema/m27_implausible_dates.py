"""A date hint that is no publication date is kept in the page's meta instead.

A listing, a feed or an import can give a page a date such as "0001-01-01" or "20000-01-01".
Used as the document's date, year 1 made the dedup stage's 30-day window overflow, which
stopped the stage for the whole batch on three runs before the document was set aside, and
year 20000 is a date DuckDB reads that Python cannot. Since this version the store takes a
hint as the publication date only from 1900 to two days after the fetch
(``storage.dates.PLAUSIBLE_SQL``); outside that, it moves it into ``page_meta.meta`` as
``published_at_ignored``. This migration does the same to the versions stored before, and
makes the versions a stage set aside (``stage_error``) or counted failures for pending for it
again (their date was the likely cause: the next `process` retries them), and dates again the
narratives that took such a version (``narratives.last_seen``). Copy links found within the
dedup stage's date window under the old date stay as they were.
"""

# storage.dates.PLAUSIBLE_SQL as of this version, written out: a migration does not change
_WRONG = (
    "NOT coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ) BETWEEN "
    "TIMESTAMPTZ '1900-01-01 00:00:00+00' AND v.fetched_at + INTERVAL 2 DAY, TRUE)"
)
_VERSIONS = f"SELECT v.doc_id, v.version FROM document_versions v WHERE {_WRONG}"

MIGRATION = (
    27,
    "date hints before 1900 or more than two days after the fetch move into the page's meta "
    "(published_at_ignored); what a stage set aside for them is retried",
    [
        f"""INSERT INTO page_meta (doc_id, version, meta)
        SELECT doc_id, version, '{{}}' FROM ({_VERSIONS}) w
        WHERE NOT EXISTS (
            SELECT 1 FROM page_meta m WHERE m.doc_id = w.doc_id AND m.version = w.version)""",
        f"""UPDATE page_meta SET meta = json_merge_patch(
            coalesce(page_meta.meta, '{{}}'), json_object('published_at_ignored', v.hint_published_at))
        FROM document_versions v
        WHERE v.doc_id = page_meta.doc_id AND v.version = page_meta.version AND {_WRONG}""",
        f"""DELETE FROM stage_state s
        WHERE s.status = 'rejected' AND (s.doc_id, s.version) IN ({_VERSIONS})
          AND (
              SELECT arg_max(r.reason, r.rejection_id) FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = s.stage
          ) = 'stage_error'""",
        f"DELETE FROM stage_errors WHERE (doc_id, version) IN ({_VERSIONS})",
        f"UPDATE document_versions v SET hint_published_at = NULL WHERE {_WRONG}",
        # a narrative that took such a document kept its date ("3000-01-01" stayed readable,
        # and a narrative last seen then stays open for every new document): its last date
        # again from its members' dates, as storage/outputs/narratives.py `_recount` reads them
        """UPDATE narratives SET last_seen = t.last_seen FROM (
            SELECT m.narrative_id, max(coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ),
                                                e.published_at, d.first_seen_at)) AS last_seen
            FROM narrative_members m
            JOIN documents d ON d.doc_id = m.doc_id
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
            WHERE m.narrative_id IN (
                SELECT n.narrative_id FROM narrative_members n
                JOIN documents nd ON nd.doc_id = n.doc_id
                JOIN page_meta pm ON pm.doc_id = n.doc_id AND pm.version = nd.current_version
                WHERE pm.meta->>'published_at_ignored' IS NOT NULL)
            GROUP BY 1
        ) t WHERE narratives.narrative_id = t.narrative_id""",
    ],
)
