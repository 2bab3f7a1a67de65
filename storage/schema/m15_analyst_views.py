"""Views for analysts: every run with its counts as columns (`v_runs`), every source with its
tags, entry points, latest health, documents and machine-written share (`v_sources`)."""

# Stages whose counts get columns in v_runs, in execution order. A stage added later gets its
# columns in a later migration; until then its counts are in `summary`.
RUN_STAGES = ("extract", "langid", "signals", "translate", "embed", "dedup", "cluster")


def _count(path: str) -> str:
    return f"TRY_CAST(json_extract_string(summary, '$.{path}') AS BIGINT)"


def _seconds(path: str) -> str:
    return f"TRY_CAST(json_extract_string(summary, '$.{path}') AS DOUBLE)"


_STAGE_COLUMNS = ",\n       ".join(
    f"{_count(f'{s}.done')} AS {s}_done, {_count(f'{s}.rejected')} AS {s}_rejected, "
    f"{_seconds(f'{s}.seconds')} AS {s}_seconds"
    for s in RUN_STAGES
)

# One row per run (crawl, import, process, cluster-rebuild, ...). Columns a kind of run does not
# report are NULL: a crawl has no stage counts, a process run no fetch counts.
V_RUNS = f"""CREATE OR REPLACE VIEW v_runs AS
SELECT run_id, kind, status, started_at, finished_at,
       round(epoch(finished_at - started_at), 3) AS seconds,
       json_extract_string(summary, '$.error') AS error,
       {_count("requests")} AS requests,
       {_count("responses")} AS responses,
       {_count("records")} AS records,
       {_count("malformed")} AS malformed,
       {_count("new")} AS new,
       {_count("changed")} AS changed,
       {_count("unchanged")} AS unchanged,
       {_count("not_modified")} AS not_modified,
       {_count("rejected")} AS rejected,
       {_STAGE_COLUMNS},
       CASE WHEN json_exists(summary, '$.dedup') THEN
           coalesce({_count("dedup.exact_copies_of_earlier_documents")}, 0)
           + coalesce({_count("dedup.near_copies_of_earlier_documents")}, 0)
           + coalesce({_count("dedup.translated_copies_of_earlier_documents")}, 0)
       END AS copies_found,
       {_count("cluster.narrative_new")} AS narratives_new,
       summary
FROM runs"""

MIGRATION = (
    15,
    "analyst views: v_runs (runs with per-stage counts as columns) and v_sources",
    [V_RUNS],
)
