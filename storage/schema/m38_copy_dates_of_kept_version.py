"""v_copy_relations: a member's date is that of the version its copy group holds.

A page whose next version a stage rejects (a stub, its site's boilerplate) stays in its copy
group as the article it was: its stored signature and links are of that earlier version. The
view dated every member by its current version, so such a page took the stub's date (or its
first sighting, where the stub had none): an article published on 1 December, whose page
showed a challenge page dated the 20th, stopped being its group's origin, and its copy of the
5th became the origin with the article shown as its exact copy 15 days later. The date now
comes from the version the dedup stage stored (``minhash.version``)."""

from storage.schema.m29_copy_via_ties import V_COPY_RELATIONS as _BEFORE

_OLD = """                JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
                LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
                LEFT JOIN minhash h ON h.doc_id = c.doc_id"""
_NEW = """                LEFT JOIN minhash h ON h.doc_id = c.doc_id
                JOIN document_versions v ON v.doc_id = d.doc_id
                 AND v.version = coalesce(h.version, d.current_version)
                LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = v.version"""
assert _OLD in _BEFORE
V_COPY_RELATIONS = _BEFORE.replace(_OLD, _NEW)

MIGRATION = (
    38,
    "v_copy_relations: a member is dated by the version its copy group holds, not by a later "
    "version a stage rejected",
    [V_COPY_RELATIONS],
)
