"""Crawl state (conditional GETs, lastmod, watermarks), page provenance, source health."""

MIGRATION = (
    6,
    "crawl state (conditional GETs, lastmod, watermarks), page provenance, source health",
    [
        # One row per URL the crawler has fetched: what a conditional GET needs, the body
        # hash last stored, and when. Entry points (feeds, sitemaps, API listings) keep
        # their watermark in `lastmod`.
        """CREATE TABLE crawl_state (
                url             VARCHAR PRIMARY KEY,
                source          VARCHAR,
                kind            VARCHAR NOT NULL,
                etag            VARCHAR,
                last_modified   VARCHAR,
                content_hash    VARCHAR,
                lastmod         VARCHAR,
                last_status     INTEGER,
                first_fetched_at TIMESTAMPTZ NOT NULL,
                last_fetched_at TIMESTAMPTZ NOT NULL,
                fetches         INTEGER NOT NULL
            )""",
        # Per stored version: what the source's API or channel said about the page, and
        # where its original bytes are in the WARC archive.
        """CREATE TABLE page_meta (
                doc_id      VARCHAR NOT NULL,
                version     INTEGER NOT NULL,
                author      VARCHAR,
                categories  VARCHAR[],
                meta        JSON,
                warc_file   VARCHAR,
                warc_offset BIGINT,
                warc_length BIGINT,
                PRIMARY KEY (doc_id, version)
            )""",
        """CREATE TABLE source_health (
                run_id            VARCHAR NOT NULL,
                source            VARCHAR NOT NULL,
                recorded_at       TIMESTAMPTZ NOT NULL,
                fetched           INTEGER NOT NULL,
                new               INTEGER NOT NULL,
                changed           INTEGER NOT NULL,
                unchanged         INTEGER NOT NULL,
                not_modified      INTEGER NOT NULL,
                skipped           INTEGER NOT NULL,
                rejected          INTEGER NOT NULL,
                errors            JSON NOT NULL,
                empty_bodies      INTEGER NOT NULL,
                median_body_chars INTEGER,
                PRIMARY KEY (run_id, source)
            )""",
        # Each source's latest crawl, with what extraction later made of the pages it
        # stored, and the problem an analyst should look at (NULL when healthy).
        """CREATE VIEW v_source_health AS
            WITH ranked AS (
                SELECT *, row_number() OVER (PARTITION BY source ORDER BY recorded_at DESC)
                              AS age
                FROM source_health
            ),
            failed AS (
                SELECT DISTINCT doc_id, version FROM rejections WHERE stage = 'extract'
            ),
            extraction AS (
                SELECT v.run_id, v.source, count(*) AS stored,
                       count(f.doc_id) AS extraction_failures
                FROM document_versions v
                LEFT JOIN failed f ON f.doc_id = v.doc_id AND f.version = v.version
                GROUP BY 1, 2
            )
            SELECT l.source, l.run_id, l.recorded_at, l.fetched, l.new, l.changed, l.unchanged,
                   l.not_modified, l.skipped, l.rejected, l.errors, l.empty_bodies,
                   l.median_body_chars, p.median_body_chars AS previous_median_body_chars,
                   coalesce(e.stored, 0) AS stored,
                   coalesce(e.extraction_failures, 0) AS extraction_failures,
                   CASE
                       WHEN e.extraction_failures >= 3 AND 2 * e.extraction_failures >= e.stored
                           THEN 'body extraction failed on most new pages'
                       WHEN l.fetched >= 3 AND 2 * l.rejected >= l.fetched
                           THEN 'most fetches failed'
                       WHEN l.fetched = 0 AND l.rejected > 0 THEN 'nothing could be fetched'
                       WHEN p.median_body_chars > 0
                            AND 2 * l.median_body_chars < p.median_body_chars
                           THEN 'pages shrank to under half their previous median length'
                   END AS problem
            FROM ranked l
            LEFT JOIN ranked p ON p.source = l.source AND p.age = 2
            LEFT JOIN extraction e ON e.run_id = l.run_id AND e.source = l.source
            WHERE l.age = 1""",
    ],
)
