"""The SQL behind each page, over the analysts' views (docs/schema.md). Parameters are
DuckDB's `$name`; the page shows each query with its values written in (dashboards/db.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from storage.runs import NOT_QUIET

SEEN = "coalesce(published_at, first_seen_at)"

# -- overview ------------------------------------------------------------------------------

DOCS_PER_DAY = f"""
SELECT date_trunc('day', seen) AS day, lang, count(*) AS documents
FROM (SELECT {SEEN} AS seen, coalesce(lang, 'und') AS lang, max({SEEN}) OVER () AS latest
      FROM v_documents)
WHERE seen > latest - to_days($days)
GROUP BY ALL
ORDER BY day, lang"""

# docs/queries.md, question 1: members of the last 7 days (up to the latest document) and before
GROWTH = f"""
WITH latest AS (SELECT max({SEEN}) AS t FROM v_documents),
growth AS (
    SELECT d.narrative_id,
           count(*) FILTER ({SEEN} > l.t - INTERVAL 7 DAY) AS this_week,
           count(*) FILTER ({SEEN} <= l.t - INTERVAL 7 DAY) AS before
    FROM v_documents d, latest l
    WHERE d.narrative_id IS NOT NULL
    GROUP BY 1
)
SELECT n.narrative_id, n.representative_title, g.this_week, g.before, n.independent_sites,
       n.langs
FROM growth g JOIN v_narratives n USING (narrative_id)
WHERE g.this_week > 0
ORDER BY g.this_week DESC, g.this_week::DOUBLE / (g.before + 1) DESC, n.narrative_id"""

ATTENTION = """
SELECT source, problem, last_crawl_at, last_crawl_fetched, documents
FROM v_sources
WHERE problem IS NOT NULL
ORDER BY last_crawl_at DESC NULLS LAST, source"""

# quiet alerts checks left out (storage.runs.NOT_QUIET)
LAST_RUNS = f"""
SELECT run_id, kind, status, started_at, seconds, error, new, changed, rejected,
       copies_found, narratives_new
FROM v_runs
WHERE {NOT_QUIET}
ORDER BY started_at DESC, run_id DESC"""

# -- narratives ----------------------------------------------------------------------------

SORTS = {
    "documents": "documents",
    "sites": "independent_sites",
    "languages": "languages",
    "last_seen": "last_seen",
    "first_seen": "first_seen",
    "rate": "documents_per_day",
}


@dataclass
class NarrativeFilters:
    since: str | None = None
    until: str | None = None
    lang: str | None = None
    tag: str | None = None  # key=value
    min_sites: int | None = None
    min_languages: int | None = None
    sort: str = "last_seen"

    #: each filter: its condition over v_narratives (the tag's is built in sql())
    CONDITIONS: ClassVar[dict[str, str]] = {
        "since": "last_seen >= $since::TIMESTAMPTZ",
        "until": "first_seen < $until::TIMESTAMPTZ + INTERVAL 1 DAY",
        "lang": "list_contains(langs, $lang)",
        "min_sites": "independent_sites >= $min_sites",
        "min_languages": "languages >= $min_languages",
    }

    def sql(self) -> tuple[str, dict]:
        params = {k: getattr(self, k) for k in self.CONDITIONS if getattr(self, k)}
        where = [self.CONDITIONS[k] for k in params]
        if self.tag:
            key, value = self.tag.split("=", 1)  # checked by the page (key=value)
            where.append(
                "narrative_id IN (SELECT m.narrative_id FROM narrative_members m "
                "JOIN documents d USING (doc_id) JOIN sources s ON s.name = d.source "
                "WHERE s.tags[$tag_key] = $tag_value)"
            )
            params.update(tag_key=key.strip(), tag_value=value.strip())
        order = SORTS.get(self.sort, "last_seen")
        sql = f"""
SELECT narrative_id, representative_title, keywords, documents, independent_sites, languages,
       langs, first_seen, last_seen, documents_per_day
FROM v_narratives
{"WHERE " + " AND ".join(where) if where else ""}
ORDER BY {order} DESC NULLS LAST, narrative_id"""
        return sql.replace("\n\n", "\n"), params


RESOLVE = "SELECT narrative_id FROM v_narrative_ids WHERE id = $id"

NARRATIVE = """
SELECT n.*, d.title AS representative_title_doc, d.source AS representative_source
FROM v_narratives n
LEFT JOIN v_documents d ON d.doc_id = n.representative_doc_id
WHERE n.narrative_id = $id"""

TIMELINE = f"""
SELECT date_trunc('day', {SEEN}) AS day, coalesce(lang, 'und') AS lang, count(*) AS documents
FROM v_documents
WHERE narrative_id = $id
GROUP BY ALL
ORDER BY day, lang"""

SITES = f"""
SELECT source, min({SEEN}) AS first_published, count(*) AS documents,
       list(DISTINCT coalesce(lang, 'und') ORDER BY coalesce(lang, 'und')) AS langs,
       count(*) FILTER (copy_kind IS NOT NULL AND copy_kind <> 'origin') AS copies
FROM v_documents
WHERE narrative_id = $id
GROUP BY source
ORDER BY first_published, source"""

# a page of copy groups (paged by the dashboard, group by group: a tree is never split)
LINEAGE = """
WITH groups AS (
    SELECT group_id, min(seen_at) AS group_first_seen
    FROM v_copies
    WHERE group_id IN (SELECT group_id FROM copy_members
                       WHERE doc_id IN (SELECT doc_id FROM narrative_members
                                        WHERE narrative_id = $id))
    GROUP BY group_id
    ORDER BY group_first_seen, group_id
    LIMIT $limit OFFSET $offset
)
SELECT c.group_id, c.doc_id, c.copy_of, c.copy_kind, c.similarity, c.via, c.delay, c.source,
       c.lang, c.title, c.seen_at, c.newer_version
FROM v_copies c JOIN groups g USING (group_id)
ORDER BY g.group_first_seen, c.group_id, c.seen_at, c.doc_id"""

MEMBERS = f"""
SELECT doc_id, title, title_translated, source, lang, {SEEN} AS seen_at, copy_kind,
       machine_written, left(regexp_replace(coalesce(text_translated, text), '\\s+', ' ', 'g'),
                             240) AS snippet
FROM v_documents
WHERE narrative_id = $id
ORDER BY seen_at, doc_id"""

# -- documents -----------------------------------------------------------------------------

DOCUMENT = "SELECT * FROM v_documents WHERE doc_id = $id"

COPIES = """
SELECT doc_id, copy_of, copy_kind, similarity, via, delay, source, lang, url, title, seen_at,
       newer_version
FROM v_copies
WHERE group_id = (SELECT copy_group_id FROM v_documents WHERE doc_id = $id)
ORDER BY seen_at, doc_id"""

ARCHIVE = """
SELECT p.warc_file, p.warc_offset, p.warc_length, v.url, v.fetched_at
FROM documents d
JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
JOIN page_meta p ON p.doc_id = d.doc_id AND p.version = d.current_version
WHERE d.doc_id = $id"""

WAITING_MODELS = """
SELECT t.source_lang, t.target_lang
FROM documents d JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
WHERE d.doc_id = $id AND t.status = 'no_model' AND t.source_lang IS NOT NULL"""

# -- sources -------------------------------------------------------------------------------

SOURCES = """
SELECT source, home, tags, entry_points, languages_seen, documents, narratives, copies,
       copied_originals, machine_written_share, last_crawl_at, last_crawl_fetched, problem
FROM v_sources
ORDER BY problem IS NULL, source"""
