"""Machine-written-text signals: each rule hit, each document's score and decision, the
columns they add to v_documents and the weekly share of flagged documents per source."""

# signal_hits: one row per rule hit (pipeline/signals.py): the rule, the matched text (at
# most 200 characters), where in the document it stands ('lead', 'body', 'trailing'),
# whether it stands inside quotation marks, the language of the rule's phrasing, the rule's
# weight and what the hit adds to the score. The signals stage replaces a document
# version's rows whenever it runs on it.
SIGNAL_HITS = """CREATE TABLE signal_hits (
    doc_id        VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    stage_version VARCHAR NOT NULL,
    hit           INTEGER NOT NULL,
    rule_id       VARCHAR NOT NULL,
    family        VARCHAR NOT NULL,
    lang          VARCHAR NOT NULL,
    position      VARCHAR NOT NULL,
    quoted        BOOLEAN NOT NULL,
    char_start    INTEGER NOT NULL,
    matched       VARCHAR NOT NULL,
    weight        DOUBLE NOT NULL,
    score         DOUBLE NOT NULL,
    PRIMARY KEY (doc_id, version, hit)
)"""

# signal_scores: one row per document version the stage handled, hits or not: the sum of
# the hits' scores, the threshold in force, and the decision (score >= threshold).
SIGNAL_SCORES = """CREATE TABLE signal_scores (
    doc_id          VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    stage_version   VARCHAR NOT NULL,
    hits            INTEGER NOT NULL,
    score           DOUBLE NOT NULL,
    threshold       DOUBLE NOT NULL,
    machine_written BOOLEAN NOT NULL,
    scored_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, version)
)"""

# v_documents: every column it had (migration 4), then `signals` (the distinct rule ids that
# hit, sorted; [] for a document without hits, NULL before the stage ran), `signal_score`
# and `machine_written` (NULL before the stage ran).
V_DOCUMENTS = """CREATE OR REPLACE VIEW v_documents AS
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
    nm.narrative_id,
    CASE WHEN ss.doc_id IS NOT NULL THEN coalesce(sh.rules, []::VARCHAR[]) END AS signals,
    ss.score                                                AS signal_score,
    ss.machine_written
FROM documents d
JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version
LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
LEFT JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
LEFT JOIN v_copy_relations cr ON cr.doc_id = d.doc_id
LEFT JOIN narrative_members nm ON nm.doc_id = d.doc_id
LEFT JOIN signal_scores ss ON ss.doc_id = d.doc_id AND ss.version = d.current_version
LEFT JOIN (
    SELECT doc_id, version, list(DISTINCT rule_id ORDER BY rule_id) AS rules
    FROM signal_hits GROUP BY 1, 2
) sh ON sh.doc_id = d.doc_id AND sh.version = d.current_version"""

# v_signal_share: per source and week (the Monday of the week of the document's published
# date, else of the day it was first seen), the documents the signals stage has scored,
# those with any hit (`flagged`) and those decided machine-written, and both shares. A site
# that switched to machine-written output shows as a jump in `machine_written_share`.
# `source_id` is the source's key (sources.name, documents.source); `source` repeats it as
# the name other views use.
V_SIGNAL_SHARE = """CREATE OR REPLACE VIEW v_signal_share AS
SELECT d.source AS source_id,
       d.source,
       CAST(date_trunc('week', coalesce(d.published_at, d.first_seen_at)) AS DATE) AS week,
       count(*) AS documents,
       count(*) FILTER (WHERE len(d.signals) > 0) AS flagged,
       count(*) FILTER (WHERE d.machine_written) AS machine_written,
       round(count(*) FILTER (WHERE len(d.signals) > 0) / count(*), 4) AS flagged_share,
       round(count(*) FILTER (WHERE d.machine_written) / count(*), 4) AS machine_written_share
FROM v_documents d
WHERE d.machine_written IS NOT NULL
GROUP BY 1, 2, 3"""

MIGRATION = (
    13,
    "machine-written-text signals: rule hits, scores and decisions, v_documents columns, "
    "v_signal_share",
    [SIGNAL_HITS, SIGNAL_SCORES, V_DOCUMENTS, V_SIGNAL_SHARE],
)
