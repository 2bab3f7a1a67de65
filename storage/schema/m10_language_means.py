"""Per-language mean vectors, to take the language out of multilingual embeddings."""

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
    ],
)
