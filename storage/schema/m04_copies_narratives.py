"""Copies (MinHash signatures, LSH bands, copy links and groups) and narratives."""

MIGRATION = (
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
)
