"""v_copy_relations: a member's `via` and `copy_kind` the same on every query.

A member with no direct link to its group's origin names the member its strongest link goes
to (`via`). When several links were equally strong (copies of one text are equally similar
to an edit of it), DuckDB's arg_max picked any of them, a different one from query to query:
two exports of an unchanged store, or its CSV and Parquet files, disagreed on `via`, and the
kind could come from another link than `via`. Ties now go to the smallest doc_id, and the
kind and similarity come from that same link."""

from storage.schema.m04_copies_narratives import MIGRATION as _M04

[_BEFORE] = [s for s in _M04[2] if s.startswith("CREATE VIEW v_copy_relations")]
_REPLACE = {
    "CREATE VIEW v_copy_relations": "CREATE OR REPLACE VIEW v_copy_relations",
    "SELECT a, b, arg_max(kind, similarity) AS kind,":
        "SELECT a, b, arg_min(kind, (-similarity, kind)) AS kind,",
    """SELECT a, arg_max(kind, similarity) AS kind, max(similarity) AS similarity,
                       arg_max(b, similarity) AS via""":
        """SELECT a, arg_min(kind, (-similarity, b)) AS kind, max(similarity) AS similarity,
                       arg_min(b, (-similarity, b)) AS via""",
}  # fmt: skip
V_COPY_RELATIONS = _BEFORE
for _old, _new in _REPLACE.items():
    assert _old in V_COPY_RELATIONS, _old
    V_COPY_RELATIONS = V_COPY_RELATIONS.replace(_old, _new)

MIGRATION = (
    29,
    "v_copy_relations: equally strong links go to the smallest doc_id, so `via` and "
    "`copy_kind` do not change from query to query",
    [V_COPY_RELATIONS],
)
