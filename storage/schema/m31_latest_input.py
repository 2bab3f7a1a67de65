"""The similarity macros compare the vectors of the input a document was embedded from last.

With `[embed] input = "translation"` (README: redo the vectors with `process --stage embed
--force`) a document keeps its vectors of the original text beside the new ones of its
translation, under the same model. `similar` and search compare the configured input, but
doc_vector and doc_embedding took the original's vectors whenever there were any: on the demo
store re-embedded from translations, `similar` printed 0.0775 where `doc_similarity` gave
0.1877 for the same two documents. They now take the input that embedded the document last
(``latest_input``), as ``latest_model`` picks the model, unless ``inp`` names one; and
doc_similarity and story_similarity compare both documents by `a`'s model and input.

The step first defines ``latest_model`` as schema 10 does now: schema 10 gained it (and its
other macros) after stores had been written with its first statement alone (the code of
2026-11-29 from 17:59 to 20:32 UTC), and the macros below refer to it, which stopped their
upgrade here ("Scalar Function with name latest_model does not exist")."""

from storage.schema.m10_language_means import MIGRATION as _M10

[LATEST_MODEL] = [s for s in _M10[2] if isinstance(s, str) and "MACRO latest_model" in s]

MIGRATION = (
    31,
    "similarity macros: the input (original or translation) that embedded a document last, "
    "as `similar` and search compare the configured one, not the original first",
    [
        LATEST_MODEL,  # as schema 10 defines it (stores written before it did: see above)
        # The input (original or translation) whose vectors of `model` came last for a
        # document's current version (of two embedded at once, the original).
        """CREATE OR REPLACE MACRO latest_input(doc, model) AS (
            SELECT arg_max(e.input, (e.embedded_at, e.input = 'original')) FROM embeddings e
            JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
            WHERE e.doc_id = doc AND e.model_id = model
        )""",
        """CREATE OR REPLACE MACRO doc_vector(doc, kind, model, inp := NULL) AS (
            SELECT list_transform(list_zip(v.vec, language_mean(v.model_id, v.input, kind, v.lang)),
                                  lambda x: x[1] - coalesce(x[2], 0))
            FROM (
                SELECT e.model_id, e.input, l.lang,
                       CASE WHEN kind = 'lead' THEN coalesce(e.lead_vector, e.vector)
                            ELSE e.vector END AS vec
                FROM embeddings e
                JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
                LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
                WHERE e.doc_id = doc AND e.model_id = model
                  AND e.input = coalesce(inp, latest_input(doc, model))
            ) v
        )""",
        """CREATE OR REPLACE MACRO doc_embedding(doc, model, inp := NULL) AS (
            SELECT list_transform(
                list_zip(lc, tc),
                lambda x: 0.5 * x[1] / sqrt(list_dot_product(lc, lc))
                        + 0.5 * x[2] / sqrt(list_dot_product(tc, tc)))
            FROM (
                SELECT list_transform(list_zip(lead, language_mean(model_id, input, 'lead', lang)),
                                      lambda x: x[1] - coalesce(x[2], 0)) AS lc,
                       list_transform(list_zip(text, language_mean(model_id, input, 'text', lang)),
                                      lambda x: x[1] - coalesce(x[2], 0)) AS tc
                FROM (
                    SELECT e.model_id, e.input, l.lang, e.vector AS text,
                           coalesce(e.lead_vector, e.vector) AS lead
                    FROM embeddings e
                    JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
                    LEFT JOIN languages l ON l.doc_id = e.doc_id AND l.version = e.version
                    WHERE e.doc_id = doc AND e.model_id = model
                      AND e.input = coalesce(inp, latest_input(doc, model))
                )
            )
        )""",
        """CREATE OR REPLACE MACRO doc_similarity(a, b, model := NULL) AS (
            SELECT list_cosine_similarity(doc_embedding(a, m.id, inp := m.inp),
                                          doc_embedding(b, m.id, inp := m.inp))
            FROM (SELECT id, latest_input(a, id) AS inp
                  FROM (SELECT coalesce(model, latest_model(a)) AS id)) m
        )""",
        """CREATE OR REPLACE MACRO story_similarity(a, b, model := NULL) AS (
            SELECT list_cosine_similarity(doc_vector(a, 'lead', m.id, inp := m.inp),
                                          doc_vector(b, 'lead', m.id, inp := m.inp))
            FROM (SELECT id, latest_input(a, id) AS inp
                  FROM (SELECT coalesce(model, latest_model(a)) AS id)) m
        )""",
    ],
)
