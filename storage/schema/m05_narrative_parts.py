"""Narrative parts: the vector sum of a narrative's documents per language."""

MIGRATION = (
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
)
