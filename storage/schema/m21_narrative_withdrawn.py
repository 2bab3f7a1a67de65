"""A narrative that withdrawals left empty keeps its id for the documents withdrawn.

Sending documents back to the later stages (a forced rerun or a new stage version that
changed their text, language or vector) takes them out of their narratives, and a narrative
left with none is removed. When every document of a narrative was sent back, as when new
extraction rules change the text of each of its copies, it formed again under a new id at the
next `process`: links, exports and alerts that named the old id lost it, and `new_narrative`
alerts fired again for stories already seen. Each document withdrawn now notes the narrative
it left, in `narrative_withdrawn`, until it is clustered again: if that narrative has gone by
then, the first narrative its documents start takes the id back, with its date of creation,
and if they join another narrative instead, the id becomes its alias."""

MIGRATION = (
    21,
    "narrative_withdrawn: the narrative a withdrawn document left, whose id it may take back",
    [
        """CREATE TABLE narrative_withdrawn (
            doc_id       VARCHAR PRIMARY KEY,
            narrative_id BIGINT NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL,
            withdrawn_at TIMESTAMPTZ NOT NULL
        )""",
    ],
)
