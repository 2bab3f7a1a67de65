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

# One row per source: those of the sources file (the latest crawl's copy of it) and those only
# imported documents name. Document counts are over current versions; the machine-written share
# is over the documents the signals stage has scored; health is the latest crawl's.
V_SOURCES = """CREATE OR REPLACE VIEW v_sources AS
WITH docs AS (
    SELECT source,
           count(*) AS documents,
           list(DISTINCT lang ORDER BY lang) FILTER (WHERE lang IS NOT NULL) AS languages_seen,
           min(coalesce(published_at, first_seen_at)) AS first_published,
           max(coalesce(published_at, first_seen_at)) AS last_published,
           max(last_seen_at) AS last_seen_at,
           count(DISTINCT narrative_id) AS narratives,
           count(*) FILTER (WHERE copy_kind IN ('exact', 'near', 'translated')) AS copies,
           count(*) FILTER (WHERE copy_kind = 'origin') AS copied_originals,
           count(*) FILTER (WHERE machine_written IS NOT NULL) AS scored,
           count(*) FILTER (WHERE machine_written) AS machine_written
    FROM v_documents
    GROUP BY source
)
SELECT coalesce(s.name, d.source) AS source,
       s.home, s.tags, s.entry_points, s.languages, s.last_listed_at,
       coalesce(d.documents, 0) AS documents,
       d.languages_seen, d.first_published, d.last_published, d.last_seen_at,
       coalesce(d.narratives, 0) AS narratives,
       coalesce(d.copies, 0) AS copies,
       coalesce(d.copied_originals, 0) AS copied_originals,
       coalesce(d.machine_written, 0) AS machine_written,
       round(d.machine_written / nullif(d.scored, 0), 4) AS machine_written_share,
       h.recorded_at AS last_crawl_at, h.run_id AS last_crawl_run_id,
       h.fetched AS last_crawl_fetched, h.problem
FROM sources s
FULL OUTER JOIN docs d ON d.source = s.name
LEFT JOIN v_source_health h ON h.source = coalesce(s.name, d.source)"""

MIGRATION = (
    15,
    "analyst views: v_runs (runs with per-stage counts as columns) and v_sources",
    [V_RUNS, V_SOURCES],
)
