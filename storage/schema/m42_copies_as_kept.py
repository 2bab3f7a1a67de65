"""v_copies: a member's title, language and address are those of the version its copy group
holds.

Schema version 38 dated such a member by that version (``minhash.version``); its title and
language still came from ``v_documents``, its current version: an article whose page later
showed a challenge page (rejected by the extract stage) stayed its group's origin, shown as
"Just a moment..." with no language."""

MIGRATION = (
    42,
    "v_copies: a member's title, language and address are those of the version its copy group "
    "holds, not of a later version a stage rejected",
    [
        """CREATE OR REPLACE VIEW v_copies AS
            SELECT r.group_id, r.doc_id, r.copy_of, r.copy_kind, r.similarity, r.via, r.delay,
                   r.group_size, l.lang, d.source, v.url,
                   coalesce(x.title, v.hint_title) AS title, r.seen_at
            FROM v_copy_relations r
            JOIN documents d ON d.doc_id = r.doc_id
            LEFT JOIN minhash h ON h.doc_id = r.doc_id
            JOIN document_versions v ON v.doc_id = d.doc_id
             AND v.version = coalesce(h.version, d.current_version)
            LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = v.version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = v.version""",
    ],
)
