"""Ordered, append-only schema migrations. Never edit a released step: add a new one."""

from __future__ import annotations

# Each step is (version, description, statements). Statements run in one transaction
# together with the schema_version row that records them.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "documents, versions, stage outputs, rejections, runs",
        [
            """CREATE TABLE runs (
                run_id      VARCHAR PRIMARY KEY,
                kind        VARCHAR NOT NULL,
                started_at  TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                status      VARCHAR NOT NULL,
                summary     JSON
            )""",
            """CREATE TABLE documents (
                doc_id          VARCHAR PRIMARY KEY,
                canonical_url   VARCHAR NOT NULL,
                source          VARCHAR,
                first_seen_at   TIMESTAMPTZ NOT NULL,
                last_seen_at    TIMESTAMPTZ NOT NULL,
                current_version INTEGER NOT NULL
            )""",
            """CREATE TABLE document_versions (
                doc_id            VARCHAR NOT NULL,
                version           INTEGER NOT NULL,
                url               VARCHAR NOT NULL,
                source            VARCHAR,
                origin            VARCHAR NOT NULL,
                run_id            VARCHAR,
                fetched_at        TIMESTAMPTZ NOT NULL,
                http_status       INTEGER,
                content_type      VARCHAR,
                encoding          VARCHAR,
                content_hash      VARCHAR NOT NULL,
                html              VARCHAR,
                text              VARCHAR,
                hint_title        VARCHAR,
                hint_published_at VARCHAR,
                hint_lang         VARCHAR,
                PRIMARY KEY (doc_id, version)
            )""",
            """CREATE TABLE extractions (
                doc_id        VARCHAR NOT NULL,
                version       INTEGER NOT NULL,
                stage_version VARCHAR NOT NULL,
                title         VARCHAR,
                author        VARCHAR,
                published_at  TIMESTAMPTZ,
                sitename      VARCHAR,
                text          VARCHAR NOT NULL,
                PRIMARY KEY (doc_id, version)
            )""",
            """CREATE TABLE languages (
                doc_id        VARCHAR NOT NULL,
                version       INTEGER NOT NULL,
                stage_version VARCHAR NOT NULL,
                lang          VARCHAR NOT NULL,
                confidence    DOUBLE NOT NULL,
                method        VARCHAR NOT NULL,
                PRIMARY KEY (doc_id, version)
            )""",
            """CREATE TABLE stage_state (
                doc_id        VARCHAR NOT NULL,
                version       INTEGER NOT NULL,
                stage         VARCHAR NOT NULL,
                stage_version VARCHAR NOT NULL,
                status        VARCHAR NOT NULL,
                run_id        VARCHAR,
                processed_at  TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (doc_id, version, stage)
            )""",
            "CREATE SEQUENCE rejection_seq",
            """CREATE TABLE rejections (
                rejection_id BIGINT PRIMARY KEY DEFAULT nextval('rejection_seq'),
                rejected_at  TIMESTAMPTZ NOT NULL,
                run_id       VARCHAR,
                stage        VARCHAR NOT NULL,
                reason       VARCHAR NOT NULL,
                detail       VARCHAR,
                url          VARCHAR,
                source       VARCHAR,
                doc_id       VARCHAR,
                version      INTEGER
            )""",
            """CREATE VIEW v_documents AS
            SELECT
                d.doc_id,
                v.url,
                d.canonical_url,
                d.source,
                coalesce(e.title, v.hint_title)                         AS title,
                e.author,
                coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), e.published_at) AS published_at,
                d.first_seen_at,
                d.last_seen_at,
                v.fetched_at,
                d.current_version                                       AS version,
                e.sitename,
                l.lang,
                l.confidence                                            AS lang_confidence,
                l.method                                                AS lang_method,
                e.text,
                v.origin,
                v.run_id
            FROM documents d
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version""",
        ],
    ),
    (
        2,
        "v_rejections: rejections with the document title where there is one",
        [
            """CREATE VIEW v_rejections AS
            SELECT r.rejected_at, r.stage, r.reason, r.detail, r.url, r.source, r.doc_id,
                   r.version, r.run_id
            FROM rejections r""",
        ],
    ),
    (
        3,
        "translations, translation cache, embeddings; v_documents gains translated text",
        [
            """CREATE TABLE translations (
                doc_id        VARCHAR NOT NULL,
                version       INTEGER NOT NULL,
                stage_version VARCHAR NOT NULL,
                source_lang   VARCHAR,
                target_lang   VARCHAR NOT NULL,
                status        VARCHAR NOT NULL,
                model_id      VARCHAR,
                title         VARCHAR,
                text          VARCHAR,
                sentences     INTEGER NOT NULL,
                cache_hits    INTEGER NOT NULL,
                text_hash     VARCHAR,
                reused_from   VARCHAR,
                translated_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (doc_id, version)
            )""",
            "CREATE INDEX translations_text_hash ON translations (text_hash)",
            """CREATE TABLE translation_cache (
                source_lang   VARCHAR NOT NULL,
                target_lang   VARCHAR NOT NULL,
                model_id      VARCHAR NOT NULL,
                sentence_hash VARCHAR NOT NULL,
                translation   VARCHAR NOT NULL,
                created_at    TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (source_lang, target_lang, model_id, sentence_hash)
            )""",
            """CREATE TABLE embeddings (
                doc_id        VARCHAR NOT NULL,
                version       INTEGER NOT NULL,
                stage_version VARCHAR NOT NULL,
                model_id      VARCHAR NOT NULL,
                runtime       VARCHAR NOT NULL,
                dim           INTEGER NOT NULL,
                input         VARCHAR NOT NULL,
                chunks        INTEGER NOT NULL,
                truncated     BOOLEAN NOT NULL,
                text_hash     VARCHAR NOT NULL,
                reused_from   VARCHAR,
                embedded_at   TIMESTAMPTZ NOT NULL,
                vector        FLOAT[] NOT NULL,
                PRIMARY KEY (doc_id, version, model_id, input)
            )""",
            "CREATE INDEX embeddings_text_hash ON embeddings (text_hash)",
            "DROP VIEW v_documents",
            """CREATE VIEW v_documents AS
            SELECT
                d.doc_id,
                v.url,
                d.canonical_url,
                d.source,
                coalesce(e.title, v.hint_title)                         AS title,
                e.author,
                coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), e.published_at) AS published_at,
                d.first_seen_at,
                d.last_seen_at,
                v.fetched_at,
                d.current_version                                       AS version,
                e.sitename,
                l.lang,
                l.confidence                                            AS lang_confidence,
                l.method                                                AS lang_method,
                e.text,
                v.origin,
                v.run_id,
                t.status                                                AS translation_status,
                t.target_lang                                           AS translation_lang,
                CASE WHEN t.status = 'not_needed' THEN coalesce(e.title, v.hint_title)
                     ELSE t.title END                                   AS title_translated,
                CASE WHEN t.status = 'not_needed' THEN e.text ELSE t.text END AS text_translated,
                t.model_id                                              AS translation_model
            FROM documents d
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
            LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version""",
        ],
    ),
    (
        4,
        "copies (MinHash signatures, LSH bands, copy links and groups), narratives",
        [
            "ALTER TABLE embeddings ADD COLUMN lead_vector FLOAT[]",
            """CREATE TABLE minhash (
                doc_id        VARCHAR PRIMARY KEY,
                version       INTEGER NOT NULL,
                stage_version VARCHAR NOT NULL,
                text_hash     VARCHAR NOT NULL,
                num_perm      SMALLINT NOT NULL,
                seed          INTEGER NOT NULL,
                signature     BLOB NOT NULL
            )""",
            "CREATE INDEX minhash_text_hash ON minhash (text_hash)",
            """CREATE TABLE lsh_bands (
                band   SMALLINT NOT NULL,
                bucket UBIGINT NOT NULL,
                doc_id VARCHAR NOT NULL
            )""",
            """CREATE TABLE copy_links (
                doc_id       VARCHAR NOT NULL,
                other_doc_id VARCHAR NOT NULL,
                kind         VARCHAR NOT NULL,
                similarity   DOUBLE NOT NULL,
                found_at     TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (doc_id, other_doc_id)
            )""",
            """CREATE TABLE copy_members (
                doc_id    VARCHAR PRIMARY KEY,
                group_id  VARCHAR NOT NULL,
                joined_at TIMESTAMPTZ NOT NULL
            )""",
            "CREATE SEQUENCE narrative_seq START 1",
            """CREATE TABLE narratives (
                narrative_id BIGINT PRIMARY KEY,
                created_at   TIMESTAMPTZ NOT NULL,
                updated_at   TIMESTAMPTZ NOT NULL,
                model_id     VARCHAR NOT NULL,
                size         INTEGER NOT NULL,
                last_seen    TIMESTAMPTZ,
                vector_sum   FLOAT[] NOT NULL
            )""",
            """CREATE TABLE narrative_members (
                doc_id       VARCHAR PRIMARY KEY,
                narrative_id BIGINT NOT NULL,
                similarity   DOUBLE,
                via          VARCHAR NOT NULL,
                assigned_at  TIMESTAMPTZ NOT NULL
            )""",
            """CREATE TABLE narrative_aliases (
                alias_id     BIGINT PRIMARY KEY,
                narrative_id BIGINT NOT NULL,
                merged_at    TIMESTAMPTZ NOT NULL,
                reason       VARCHAR NOT NULL
            )""",
            """CREATE TABLE doc_terms (
                doc_id VARCHAR NOT NULL,
                term   VARCHAR NOT NULL,
                n      INTEGER NOT NULL,
                PRIMARY KEY (doc_id, term)
            )""",
            """CREATE VIEW v_copy_relations AS
            WITH m AS (
                SELECT c.group_id, c.doc_id, h.text_hash,
                       coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), e.published_at,
                                d.first_seen_at) AS seen_at
                FROM copy_members c
                JOIN documents d ON d.doc_id = c.doc_id
                JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
                LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
                LEFT JOIN minhash h ON h.doc_id = c.doc_id
            ),
            o AS (
                SELECT group_id, arg_min(doc_id, (seen_at, doc_id)) AS origin_doc_id,
                       min(seen_at) AS origin_seen_at, count(*) AS group_size
                FROM m GROUP BY group_id
            ),
            links AS (
                SELECT a, b, arg_max(kind, similarity) AS kind, max(similarity) AS similarity
                FROM (
                    SELECT doc_id AS a, other_doc_id AS b, kind, similarity FROM copy_links
                    UNION ALL
                    SELECT other_doc_id, doc_id, kind, similarity FROM copy_links
                ) GROUP BY a, b
            ),
            best AS (
                SELECT a, arg_max(kind, similarity) AS kind, max(similarity) AS similarity,
                       arg_max(b, similarity) AS via
                FROM links GROUP BY a
            )
            SELECT m.group_id, m.doc_id, o.origin_doc_id AS copy_of, o.group_size,
                   CASE WHEN m.doc_id = o.origin_doc_id THEN 'origin'
                        WHEN m.text_hash = oh.text_hash THEN 'exact'
                        ELSE coalesce(direct.kind, best.kind) END AS copy_kind,
                   CASE WHEN m.doc_id = o.origin_doc_id THEN NULL
                        WHEN m.text_hash = oh.text_hash THEN 1.0
                        ELSE coalesce(direct.similarity, best.similarity) END AS similarity,
                   CASE WHEN m.doc_id = o.origin_doc_id OR direct.kind IS NOT NULL
                             OR m.text_hash = oh.text_hash THEN NULL
                        ELSE best.via END AS via,
                   m.seen_at - o.origin_seen_at AS delay,
                   m.seen_at
            FROM m
            JOIN o ON o.group_id = m.group_id
            LEFT JOIN minhash oh ON oh.doc_id = o.origin_doc_id
            LEFT JOIN links direct ON direct.a = m.doc_id AND direct.b = o.origin_doc_id
            LEFT JOIN best ON best.a = m.doc_id""",
            """CREATE VIEW v_narrative_ids AS
            SELECT narrative_id AS id, narrative_id FROM narratives
            UNION ALL
            SELECT alias_id, narrative_id FROM narrative_aliases""",
            "DROP VIEW v_documents",
            """CREATE VIEW v_documents AS
            SELECT
                d.doc_id,
                v.url,
                d.canonical_url,
                d.source,
                coalesce(e.title, v.hint_title)                         AS title,
                e.author,
                coalesce(TRY_CAST(v.hint_published_at AS TIMESTAMPTZ), e.published_at) AS published_at,
                d.first_seen_at,
                d.last_seen_at,
                v.fetched_at,
                d.current_version                                       AS version,
                e.sitename,
                l.lang,
                l.confidence                                            AS lang_confidence,
                l.method                                                AS lang_method,
                e.text,
                v.origin,
                v.run_id,
                t.status                                                AS translation_status,
                t.target_lang                                           AS translation_lang,
                CASE WHEN t.status = 'not_needed' THEN coalesce(e.title, v.hint_title)
                     ELSE t.title END                                   AS title_translated,
                CASE WHEN t.status = 'not_needed' THEN e.text ELSE t.text END AS text_translated,
                t.model_id                                              AS translation_model,
                cr.group_id                                             AS copy_group_id,
                CASE WHEN cr.copy_kind <> 'origin' THEN cr.copy_of END AS copy_of,
                cr.copy_kind,
                nm.narrative_id
            FROM documents d
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
            LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
            LEFT JOIN v_copy_relations cr ON cr.doc_id = d.doc_id
            LEFT JOIN narrative_members nm ON nm.doc_id = d.doc_id""",
            """CREATE VIEW v_narratives AS
            WITH members AS (
                SELECT m.narrative_id, d.doc_id, d.source, d.lang, d.copy_kind,
                       coalesce(d.title_translated, d.title) AS title,
                       coalesce(d.published_at, d.first_seen_at) AS seen_at
                FROM narrative_members m JOIN v_documents d ON d.doc_id = m.doc_id
            ),
            stats AS (
                SELECT narrative_id,
                       count(*) AS documents,
                       count(*) FILTER (copy_kind IS NULL OR copy_kind = 'origin')
                           AS independent_documents,
                       count(DISTINCT source) AS sites,
                       count(DISTINCT source) FILTER (copy_kind IS NULL OR copy_kind = 'origin')
                           AS independent_sites,
                       count(DISTINCT lang) AS languages,
                       list(DISTINCT lang ORDER BY lang) AS langs,
                       min(seen_at) AS first_seen,
                       max(seen_at) AS last_seen
                FROM members GROUP BY narrative_id
            ),
            t AS (
                SELECT m.narrative_id, dt.term, sum(dt.n) AS n
                FROM doc_terms dt JOIN narrative_members m ON m.doc_id = dt.doc_id
                GROUP BY 1, 2
            ),
            words AS (SELECT narrative_id, sum(n) AS total FROM t GROUP BY 1),
            freq AS (SELECT term, sum(n) AS f FROM t GROUP BY 1),
            scored AS (
                SELECT t.narrative_id, t.term,
                       (t.n / w.total) * ln(1 + (SELECT avg(total) FROM words) / freq.f) AS score
                FROM t JOIN words w USING (narrative_id) JOIN freq USING (term)
            ),
            keywords AS (
                SELECT narrative_id, list(term ORDER BY score DESC, term)[1:8] AS keywords
                FROM scored GROUP BY 1
            ),
            rep AS (
                SELECT m.narrative_id,
                       arg_max(m.doc_id, list_cosine_similarity(coalesce(e.lead_vector, e.vector),
                                                                n.vector_sum)) AS doc_id
                FROM narrative_members m
                JOIN narratives n ON n.narrative_id = m.narrative_id
                JOIN documents d ON d.doc_id = m.doc_id
                JOIN embeddings e ON e.doc_id = m.doc_id AND e.version = d.current_version
                     AND e.model_id = n.model_id
                GROUP BY 1
            )
            SELECT n.narrative_id, k.keywords, r.doc_id AS representative_doc_id,
                   rd.title AS representative_title, s.documents, s.independent_documents,
                   s.sites, s.independent_sites, s.languages, s.langs, s.first_seen, s.last_seen,
                   round(s.documents / (date_diff('day', s.first_seen, s.last_seen) + 1), 2)
                       AS documents_per_day,
                   n.created_at, n.updated_at, n.model_id
            FROM narratives n
            JOIN stats s ON s.narrative_id = n.narrative_id
            LEFT JOIN keywords k ON k.narrative_id = n.narrative_id
            LEFT JOIN rep r ON r.narrative_id = n.narrative_id
            LEFT JOIN members rd ON rd.doc_id = r.doc_id""",
            """CREATE VIEW v_copies AS
            SELECT r.group_id, r.doc_id, r.copy_of, r.copy_kind, r.similarity, r.via, r.delay,
                   r.group_size, d.lang, d.source, d.url, d.title, r.seen_at
            FROM v_copy_relations r JOIN v_documents d ON d.doc_id = r.doc_id""",
        ],
    ),
    (
        5,
        "narrative parts: the vector sum of a narrative's documents per language",
        [
            # Narratives stored before this table have no parts; the clusterer treats each as
            # one part under the language '*' (its whole vector sum) until it gains documents.
            """CREATE TABLE narrative_parts (
                narrative_id BIGINT NOT NULL,
                lang         VARCHAR NOT NULL,
                size         INTEGER NOT NULL,
                vector_sum   FLOAT[] NOT NULL,
                PRIMARY KEY (narrative_id, lang)
            )""",
        ],
    ),
    (
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
    ),
    (
        7,
        "raw HTML stored compressed",
        [
            # From this version on a page's HTML is stored here, not in `html`: zlib (RFC 1950,
            # level 6) of its UTF-8 bytes (lone surrogates kept, Python's "surrogatepass").
            # About a fifth of the bytes, and DuckDB holds far less memory while a long crawl
            # appends pages. Versions stored earlier keep `html`; the WARC archive keeps the
            # original bytes as fetched.
            "ALTER TABLE document_versions ADD COLUMN html_zlib BLOB",
        ],
    ),
    (
        8,
        "sources and their tags, for analysts' joins",
        [
            # The sources file as the latest crawl read it, so SQL can group documents by a
            # source's tags (country, outlet type, known network). A source dropped from the
            # file keeps its row; `last_listed_at` says when a crawl last named it.
            """CREATE TABLE sources (
                name            VARCHAR PRIMARY KEY,
                home            VARCHAR NOT NULL,
                entry_points    VARCHAR[] NOT NULL,
                languages       VARCHAR[] NOT NULL,
                tags            MAP(VARCHAR, VARCHAR) NOT NULL,
                allowed_domains VARCHAR[] NOT NULL,
                max_pages       INTEGER,
                first_listed_at TIMESTAMPTZ NOT NULL,
                last_listed_at  TIMESTAMPTZ NOT NULL
            )""",
        ],
    ),
    (
        9,
        "stage errors: documents that made a stage raise, with attempt counts",
        [
            # A document whose content made a stage raise (a parser bug, not a missing model
            # or a full disk) is retried on later runs; each failure adds an attempt. Once
            # `attempts` reaches the limit ([pipeline] max_attempts) the document is rejected
            # for the stage (stage_state 'rejected', a `stage_error` rejection); a success
            # removes its row.
            """CREATE TABLE stage_errors (
                doc_id          VARCHAR NOT NULL,
                version         INTEGER NOT NULL,
                stage           VARCHAR NOT NULL,
                stage_version   VARCHAR NOT NULL,
                attempts        INTEGER NOT NULL,
                error           VARCHAR,
                url             VARCHAR,
                first_failed_at TIMESTAMPTZ NOT NULL,
                last_failed_at  TIMESTAMPTZ NOT NULL,
                last_run_id     VARCHAR,
                PRIMARY KEY (doc_id, version, stage, stage_version)
            )""",
        ],
    ),
]

from storage.schema import LATER  # noqa: E402  (versions 10 and on, one module each)

MIGRATIONS += LATER
LATEST_VERSION = MIGRATIONS[-1][0]
