"""Source health counts pages that are not news (challenge, block, consent, paywall, error and
login pages) apart from extraction failures, and names the kind when most of a crawl's pages
turned into them."""

# The extract stage rejects such a page with reason 'not_news' and a detail that starts with
# its kind ("challenge: rule cloudflare, ..."; pipeline/notnews.py). A site that starts
# answering every request with a bot check still returns pages, so its fetches succeed and
# its bodies extract: without this, the source would look healthy, or its problem would read
# as a markup change ("body extraction failed").
#
# Columns are those of migration 6, with `extraction_failures` no longer counting not-news
# pages, and two at the end: `not_news` (this run's stored pages rejected as not news) and
# `not_news_kind` (their most frequent kind). The latest extract rejection of a page version
# decides (a page re-extracted after a rules change may have been rejected before).
#
# A site that answers its challenge with HTTP 403 or 503 never gets a page stored: the spider
# records each such request as a failure (`errors`: fetch_error ...) without counting it in
# `fetched`, which counts responses that reached the page parser. "Most fetches failed"
# therefore weighs the failures against both (migration 6 compared them with `fetched` alone,
# so three articles refused next to one feed that answered went unreported).
FAILED_REQUESTS = " + ".join(
    f"coalesce(TRY_CAST(json_extract_string(errors, '$.{reason}') AS INTEGER), 0)"
    for reason in ("fetch_error", "too_large", "redirect_loop", "private_address", "robots_txt")
)
V_SOURCE_HEALTH = f"""CREATE OR REPLACE VIEW v_source_health AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY source ORDER BY recorded_at DESC) AS age,
           fetched + {FAILED_REQUESTS} AS attempts
    FROM source_health
),
latest AS (
    SELECT doc_id, version, arg_max(reason, rejection_id) AS reason,
           arg_max(detail, rejection_id) AS detail
    FROM rejections WHERE stage = 'extract'
    GROUP BY 1, 2
),
extraction AS (
    SELECT v.run_id, v.source, count(*) AS stored,
           count(*) FILTER (WHERE f.reason IS NOT NULL AND f.reason <> 'not_news')
               AS extraction_failures,
           count(*) FILTER (WHERE f.reason = 'not_news') AS not_news,
           mode(split_part(f.detail, ':', 1)) FILTER (WHERE f.reason = 'not_news')
               AS not_news_kind
    FROM document_versions v
    LEFT JOIN latest f ON f.doc_id = v.doc_id AND f.version = v.version
    GROUP BY 1, 2
)
SELECT l.source, l.run_id, l.recorded_at, l.fetched, l.new, l.changed, l.unchanged,
       l.not_modified, l.skipped, l.rejected, l.errors, l.empty_bodies,
       l.median_body_chars, p.median_body_chars AS previous_median_body_chars,
       coalesce(e.stored, 0) AS stored,
       coalesce(e.extraction_failures, 0) AS extraction_failures,
       CASE
           WHEN e.not_news >= 3 AND 2 * e.not_news >= e.stored
               THEN 'pages are ' || CASE e.not_news_kind
                        WHEN 'challenge' THEN 'challenge or block pages'
                        WHEN 'block' THEN 'challenge or block pages'
                        WHEN 'consent' THEN 'consent or cookie walls'
                        WHEN 'paywall' THEN 'paywall stubs'
                        WHEN 'error' THEN 'error pages'
                        WHEN 'login' THEN 'login walls'
                        ELSE 'not news'
                    END || ' (' || e.not_news || ' of ' || e.stored || ')'
           WHEN e.extraction_failures >= 3 AND 2 * e.extraction_failures >= e.stored
               THEN 'body extraction failed on most new pages'
           WHEN l.attempts >= 3 AND 2 * l.rejected >= l.attempts
               THEN 'most fetches failed'
           WHEN l.fetched = 0 AND l.rejected > 0 THEN 'nothing could be fetched'
           WHEN p.median_body_chars > 0
                AND 2 * l.median_body_chars < p.median_body_chars
               THEN 'pages shrank to under half their previous median length'
       END AS problem,
       coalesce(e.not_news, 0) AS not_news,
       e.not_news_kind
FROM ranked l
LEFT JOIN ranked p ON p.source = l.source AND p.age = 2
LEFT JOIN extraction e ON e.run_id = l.run_id AND e.source = l.source
WHERE l.age = 1"""

MIGRATION = (
    12,
    "v_source_health: pages that are not news counted apart, and named as the problem",
    [V_SOURCE_HEALTH],
)
