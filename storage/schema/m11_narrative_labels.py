"""Narrative labels in the target language, with the original-language label beside them."""

# The first sentence of the first non-blank line of `body`, whitespace collapsed, at most
# LINE_CHARS characters (cut at a word, ending in '…'): the label of an untitled document.
# A sentence ends at . ! ? or … followed by a space, after at least 20 characters ("U.S. ").
# Only the line's first 400 characters are read: a whole article is one line in some texts.
LINE_CHARS = 120
_LINE = f"""
    regexp_replace(regexp_extract(body, '\\S[^\\n]{{0,400}}'), '\\s+', ' ', 'g') AS para,
    coalesce(nullif(regexp_extract(para, '^(.{{20,}}?[.!?…])(\\s|$)', 1), ''), para) AS sentence,
    CASE WHEN length(sentence) <= {LINE_CHARS} THEN sentence
         ELSE regexp_replace(left(sentence, {LINE_CHARS - 1}), '\\s+\\S*$', '') || '…'
    END AS line"""

V_NARRATIVES = f"""CREATE OR REPLACE VIEW v_narratives AS
WITH docs AS (
    SELECT m.narrative_id, d.doc_id, d.source, d.lang, d.copy_kind, d.translation_status,
           d.title, d.title_translated, m.assigned_at, tr.translated_at,
           coalesce(d.published_at, d.first_seen_at) AS seen_at,
           coalesce(d.lang = coalesce(d.translation_lang, 'en'), false) AS in_target,
           coalesce(d.text <> '', false) AS has_text,
           coalesce(d.text_translated <> '', false) AS has_text_translated
    FROM narrative_members m
    JOIN v_documents d ON d.doc_id = m.doc_id
    LEFT JOIN translations tr ON tr.doc_id = d.doc_id AND tr.version = d.version
),
members AS (
    -- in_target: the document is in the target language ([translate] target, 'en' before
    -- the translate stage ran). target_terms: its doc_terms are, because it is or because
    -- the cluster stage took them from its translation (translated before it was clustered;
    -- a translation that came later leaves the terms in the original language).
    SELECT narrative_id, doc_id, source, lang, copy_kind, seen_at, in_target,
           in_target OR coalesce(translation_status = 'translated'
                                 AND translated_at <= assigned_at, false) AS target_terms,
           CASE WHEN translation_status = 'translated'
                    THEN nullif(trim(title_translated), '')
                WHEN in_target THEN nullif(trim(title), '') END AS target_title,
           CASE WHEN translation_status = 'translated' THEN has_text_translated
                ELSE in_target AND has_text END AS target_text,
           nullif(trim(title), '') AS original_title
    FROM docs
),
stats AS (
    SELECT narrative_id,
           count(*) AS documents,
           count(*) FILTER (copy_kind IS NULL OR copy_kind = 'origin') AS independent_documents,
           count(DISTINCT source) AS sites,
           count(DISTINCT source) FILTER (copy_kind IS NULL OR copy_kind = 'origin')
               AS independent_sites,
           count(DISTINCT lang) AS languages,
           list(DISTINCT lang ORDER BY lang) AS langs,
           min(seen_at) AS first_seen,
           max(seen_at) AS last_seen,
           bool_or(target_terms) AS any_target_terms,
           bool_or(NOT in_target) AS any_foreign
    FROM members GROUP BY narrative_id
),
pools AS (
    -- 'label': the members whose terms are in the target language, all members when none
    -- are; 'original': the members whose terms are their own words in another language
    SELECT m.narrative_id, m.doc_id, 'label' AS pool
    FROM members m JOIN stats s USING (narrative_id)
    WHERE m.target_terms OR NOT s.any_target_terms
    UNION ALL
    SELECT narrative_id, doc_id, 'original' FROM members
    WHERE NOT (in_target OR target_terms)
),
t AS (
    SELECT p.pool, p.narrative_id, dt.term, sum(dt.n) AS n
    FROM doc_terms dt JOIN pools p ON p.doc_id = dt.doc_id
    GROUP BY 1, 2, 3
),
words AS (SELECT pool, narrative_id, sum(n) AS total FROM t GROUP BY 1, 2),
per_pool AS (SELECT pool, avg(total) AS average FROM words GROUP BY 1),
freq AS (SELECT pool, term, sum(n) AS f FROM t GROUP BY 1, 2),
scored AS (
    SELECT t.pool, t.narrative_id, t.term,
           (t.n / w.total) * ln(1 + a.average / freq.f) AS score
    FROM t JOIN words w USING (pool, narrative_id) JOIN freq USING (pool, term)
    JOIN per_pool a USING (pool)
),
keywords AS (
    SELECT pool, narrative_id, list(term ORDER BY score DESC, term)[1:8] AS keywords
    FROM scored GROUP BY 1, 2
),
near AS (
    SELECT m.narrative_id, m.doc_id,
           coalesce(max(list_cosine_similarity(coalesce(e.lead_vector, e.vector),
                                               n.vector_sum)), -2) AS cosine,
           coalesce(any_value(m.similarity), -2) AS joined_at_similarity
    FROM narrative_members m
    JOIN narratives n ON n.narrative_id = m.narrative_id
    JOIN documents d ON d.doc_id = m.doc_id
    LEFT JOIN embeddings e ON e.doc_id = m.doc_id AND e.version = d.current_version
         AND e.model_id = n.model_id
    GROUP BY 1, 2
),
rep AS (
    -- nearest the centroid (without vectors: most similar when it joined), among the members
    -- with the best label: a target-language title, target-language text, an original
    -- title, original text; the original label from the members in another language
    SELECT m.narrative_id,
           arg_max(m.doc_id, (CASE WHEN m.target_title IS NOT NULL THEN 3
                                   WHEN m.target_text THEN 2
                                   WHEN m.original_title IS NOT NULL THEN 1 ELSE 0 END,
                              x.cosine, x.joined_at_similarity, m.doc_id)) AS doc_id,
           arg_max(m.doc_id, (m.original_title IS NOT NULL, x.cosine,
                              x.joined_at_similarity, m.doc_id))
               FILTER (WHERE NOT m.in_target) AS original_doc_id
    FROM members m
    JOIN near x USING (narrative_id, doc_id)
    GROUP BY 1
),
bodies AS (
    SELECT r.narrative_id, 'label' AS kind, m.target_title, m.target_text, m.original_title,
           CASE WHEN m.target_text AND tr.status = 'translated' THEN tr.text
                ELSE e.text END AS body
    FROM rep r
    JOIN members m ON m.doc_id = r.doc_id
    JOIN documents d ON d.doc_id = r.doc_id
    LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
    LEFT JOIN translations tr ON tr.doc_id = d.doc_id AND tr.version = d.current_version
    UNION ALL
    SELECT r.narrative_id, 'original', NULL, false, m.original_title, e.text
    FROM rep r
    JOIN members m ON m.doc_id = r.original_doc_id
    JOIN documents d ON d.doc_id = r.original_doc_id
    LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
),
labels AS (
    SELECT narrative_id,
           max(title) FILTER (WHERE kind = 'label') AS title,
           max(title) FILTER (WHERE kind = 'original') AS title_original
    FROM (
        SELECT narrative_id, kind,
               coalesce(target_title, CASE WHEN target_text THEN line END, original_title,
                        nullif(line, '')) AS title
        FROM (SELECT *, {_LINE} FROM bodies)
    )
    GROUP BY 1
)
SELECT n.narrative_id, kl.keywords, r.doc_id AS representative_doc_id,
       l.title AS representative_title, s.documents, s.independent_documents,
       s.sites, s.independent_sites, s.languages, s.langs, s.first_seen, s.last_seen,
       round(s.documents / (date_diff('day', s.first_seen, s.last_seen) + 1), 2)
           AS documents_per_day,
       n.created_at, n.updated_at, n.model_id,
       -- a narrative wholly in the target language: its label is the original one
       CASE WHEN s.any_foreign THEN ko.keywords ELSE kl.keywords END AS keywords_original,
       CASE WHEN s.any_foreign THEN l.title_original ELSE l.title END
           AS representative_title_original
FROM narratives n
JOIN stats s ON s.narrative_id = n.narrative_id
LEFT JOIN keywords kl ON kl.narrative_id = n.narrative_id AND kl.pool = 'label'
LEFT JOIN keywords ko ON ko.narrative_id = n.narrative_id AND ko.pool = 'original'
LEFT JOIN rep r ON r.narrative_id = n.narrative_id
LEFT JOIN labels l ON l.narrative_id = n.narrative_id"""

MIGRATION = (
    11,
    "narrative labels in the target language; original-language keywords and title beside",
    [
        # Keywords and the representative's title come from the target language (English)
        # when any member is in it or was translated into it, so a label no longer mixes
        # Russian and English words; keywords_original and representative_title_original
        # keep the label in the members' own language(s). An untitled representative is
        # labelled by the first sentence of its text.
        V_NARRATIVES,
    ],
)
