"""Per-language mean vectors, to take the language out of multilingual embeddings."""

from datetime import UTC, datetime

from storage.means import refresh_all


def _first_epoch(con) -> None:
    """Means of the vectors already stored (a database upgraded from version 9)."""
    refresh_all(con, datetime.now(UTC))


MIGRATION = (
    10,
    "language means: the mean document vector of each language, per model, in epochs",
    [
        # Multilingual embedding models place texts of one language closer together than a
        # text and its translation. Subtracting each language's mean vector before comparing
        # removes most of that (Libovický et al., 2020). The means are recomputed as documents
        # arrive, in epochs: a language gets a new epoch once its documents grew by a tenth,
        # so a similarity stored with a copy or a narrative can be recomputed from the epoch
        # that was current then. `vector` is 'text' (the whole-text vector) or 'lead'.
        """CREATE TABLE language_means (
            model_id   VARCHAR NOT NULL,
            input      VARCHAR NOT NULL,
            vector     VARCHAR NOT NULL,
            lang       VARCHAR NOT NULL,
            epoch      INTEGER NOT NULL,
            documents  INTEGER NOT NULL,
            mean       FLOAT[] NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (model_id, input, vector, lang, epoch)
        )""",
        _first_epoch,
        # The mean a document of `language` has subtracted: its own language's latest epoch,
        # else the all-language mean ('*').
        """CREATE OR REPLACE MACRO language_mean(model, inp, kind, language) AS (
            SELECT arg_max(mean, (lang = language)::INTEGER * 1000000 + epoch)
            FROM language_means
            WHERE model_id = model AND input = inp AND vector = kind
              AND lang IN (coalesce(language, '*'), '*')
        )""",
        # A document's centred vector of one kind ('lead' or 'text') by one model.
        """CREATE OR REPLACE MACRO doc_vector(doc, kind, model) AS (
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
                ORDER BY e.input = 'original' DESC
                LIMIT 1
            ) v
        )""",
        # A document's vector for similarity (pipeline/similarity.py, document_vectors): its
        # lead and whole-text vectors by one model, each minus its language's mean and
        # normalised, weighted 0.5 each and summed.
        """CREATE OR REPLACE MACRO doc_embedding(doc, model) AS (
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
                    ORDER BY e.input = 'original' DESC
                    LIMIT 1
                )
            )
        )""",
        # The model that embedded a document's current version last.
        """CREATE OR REPLACE MACRO latest_model(doc) AS (
            SELECT arg_max(e.model_id, e.embedded_at) FROM embeddings e
            JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version
            WHERE e.doc_id = doc
        )""",
        # The similarity search and `similar` use: the cosine of two documents' doc_embedding
        # by the model that embedded `a` last (or `model`). NULL when either document has no
        # vector of that model.
        """CREATE OR REPLACE MACRO doc_similarity(a, b, model := NULL) AS (
            SELECT list_cosine_similarity(doc_embedding(a, m.id), doc_embedding(b, m.id))
            FROM (SELECT coalesce(model, latest_model(a)) AS id) m
        )""",
        # The similarity narratives use: the cosine of the two documents' centred leads.
        """CREATE OR REPLACE MACRO story_similarity(a, b, model := NULL) AS (
            SELECT list_cosine_similarity(doc_vector(a, 'lead', m.id), doc_vector(b, 'lead', m.id))
            FROM (SELECT coalesce(model, latest_model(a)) AS id) m
        )""",
    ],
)
