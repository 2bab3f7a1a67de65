"""A date hint that is no publication date is kept in the page's meta instead.

A listing, a feed or an import can give a page a date such as "0001-01-01" or "20000-01-01".
Used as the document's date, year 1 made the dedup stage's 30-day window overflow, which
stopped the stage for the whole batch on three runs before the document was set aside, and
year 20000 is a date DuckDB reads that Python cannot. Since this version the store takes a
hint as the publication date only from 1900 to two days after the fetch
(``storage.dates.PLAUSIBLE_SQL``); outside that, it moves it into ``page_meta.meta`` as
``published_at_ignored``. This migration does the same to the versions stored before, and
makes the versions a stage set aside (``stage_error``) or counted failures for pending for it
again: their date was the likely cause, and the next `process` retries them.
"""

from storage.dates import PLAUSIBLE_SQL

_WRONG = "NOT coalesce({}, TRUE)".format(
    PLAUSIBLE_SQL.format(
        when="TRY_CAST(v.hint_published_at AS TIMESTAMPTZ)", fetched="v.fetched_at"
    )
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
    ],
)
