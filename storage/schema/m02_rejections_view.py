"""v_rejections: rejections with the document title where there is one."""

MIGRATION = (
    2,
    "v_rejections: rejections with the document title where there is one",
    [
        """CREATE VIEW v_rejections AS
            SELECT r.rejected_at, r.stage, r.reason, r.detail, r.url, r.source, r.doc_id,
                   r.version, r.run_id
            FROM rejections r""",
    ],
)
