"""Translations, the translation cache and embeddings; v_documents gains translated text."""

MIGRATION = (
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
)
