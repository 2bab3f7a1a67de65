"""Documents, their versions, the stage outputs, rejections and runs."""

MIGRATION = (
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
)
