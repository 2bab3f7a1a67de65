"""A document's keyword terms in one row: `doc_term_lists`, read as before through the view
`doc_terms` (doc_id, term, n).

One row per term, keyed by (doc_id, term), made the cluster stage's writes grow with the
store: about 30 rows a document, and each batch replaced its documents' rows with a delete
that scanned every term and an insert through a key of millions of entries (per-statement
timings, docs/benchmarks.md, "End to end"). One row per document is what the stage writes and
replaces: 64 rows a batch through a key of one entry a document."""

MIGRATION = (
    18,
    "doc_term_lists: a document's terms in one row; doc_terms becomes a view over it",
    [
        """CREATE TABLE doc_term_lists (
            doc_id VARCHAR PRIMARY KEY,
            terms  STRUCT(term VARCHAR, n INTEGER)[] NOT NULL
        )""",
        """INSERT INTO doc_term_lists
           SELECT doc_id, list({'term': term, 'n': n} ORDER BY n DESC, term)
           FROM doc_terms GROUP BY doc_id""",
        "DROP TABLE doc_terms",
        # views that read doc_terms (v_narratives, the label views) read this one now
        """CREATE VIEW doc_terms AS
           SELECT doc_id, unnest(terms, recursive := true) FROM doc_term_lists""",
    ],
)
