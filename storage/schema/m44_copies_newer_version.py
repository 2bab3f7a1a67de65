"""v_copies says when a member's page has a newer version than the one its copy group holds.

Schema version 42 shows each member as the version its group holds: its title, language,
address and date. A page that changed since is shown as it was, and nothing said so: while the
dedup stage has yet to compare the new text (the next run's), the row was as current as any
other, and a page whose new version a stage rejected (a challenge page, the site's header)
stays its group's member for good. ``newer_version`` is true for such a member: the row is
the article as the group holds it, and the page now shows something else. Which of the two
it is, ``v_documents`` and ``rejections`` say (the page's current version)."""

MIGRATION = (
    44,
    "v_copies: newer_version, a member whose page has a newer version than the one its copy "
    "group holds (not yet compared, or rejected by a stage)",
    [
        """CREATE OR REPLACE VIEW v_copies AS
            SELECT r.group_id, r.doc_id, r.copy_of, r.copy_kind, r.similarity, r.via, r.delay,
                   r.group_size, l.lang, d.source, v.url,
                   coalesce(x.title, v.hint_title) AS title, r.seen_at,
                   v.version < d.current_version AS newer_version
            FROM v_copy_relations r
            JOIN documents d ON d.doc_id = r.doc_id
            LEFT JOIN minhash h ON h.doc_id = r.doc_id
            JOIN document_versions v ON v.doc_id = d.doc_id
             AND v.version = coalesce(h.version, d.current_version)
            LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = v.version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = v.version""",
    ],
)
