"""Stage errors: documents that made a stage raise, with attempt counts."""

MIGRATION = (
    9,
    "stage errors: documents that made a stage raise, with attempt counts",
    [
        # A document whose content made a stage raise (a parser bug, not a missing model
        # or a full disk) is retried on later runs; each failure adds an attempt. Once
        # `attempts` reaches the limit ([pipeline] max_attempts) the document is rejected
        # for the stage (stage_state 'rejected', a `stage_error` rejection); a success
        # removes its row.
        """CREATE TABLE stage_errors (
                doc_id          VARCHAR NOT NULL,
                version         INTEGER NOT NULL,
                stage           VARCHAR NOT NULL,
                stage_version   VARCHAR NOT NULL,
                attempts        INTEGER NOT NULL,
                error           VARCHAR,
                url             VARCHAR,
                first_failed_at TIMESTAMPTZ NOT NULL,
                last_failed_at  TIMESTAMPTZ NOT NULL,
                last_run_id     VARCHAR,
                PRIMARY KEY (doc_id, version, stage, stage_version)
            )""",
    ],
)
