"""v_runs.narratives_new is 0, not NULL, for a process run whose cluster stage formed none.

The column read the cluster stage's `narrative_new` counter, which a summary holds only when
the stage counted one: a run that clustered documents into existing narratives alone, or had
nothing to cluster, read NULL ("not reported by this kind of run"), while `copies_found` read
0 for a run that found no copy. It is now 0 wherever the run's summary has the cluster stage."""

from storage.schema.m15_analyst_views import V_RUNS as _BEFORE

_ANCHOR = """TRY_CAST(json_extract_string(summary, '$.cluster.narrative_new') AS BIGINT) AS narratives_new"""
assert _ANCHOR in _BEFORE
V_RUNS = _BEFORE.replace(
    _ANCHOR,
    "CASE WHEN json_exists(summary, '$.cluster') THEN coalesce(TRY_CAST("
    "json_extract_string(summary, '$.cluster.narrative_new') AS BIGINT), 0) END AS narratives_new",
)

MIGRATION = (
    34,
    "v_runs: narratives_new is 0 for a process run whose cluster stage formed no narrative",
    [V_RUNS],
)
