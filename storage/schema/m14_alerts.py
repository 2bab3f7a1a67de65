"""Alerts: what `narrascope alerts` (and `run` at its end) raised, and whether it was delivered."""

# One row per alert raised: a narrative that surged against its own baseline ('burst'), a new
# narrative that reached many sites or languages ('new_narrative'), a source whose share of
# machine-written documents jumped ('machine_written'). The row is the state that keeps an
# alert from being reported again: detection skips a subject that already has an alert of the
# same kind (new_narrative: ever; the others: within [alerts] repeat_days). `delivered_at` stays
# NULL until the alert reached stdout or the webhook answered 2xx; undelivered alerts are sent
# again by the next call, `attempts` and `last_error` say how the webhook failed.
ALERTS = """CREATE TABLE alerts (
    alert_id     VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,
    subject      VARCHAR NOT NULL,
    raised_at    TIMESTAMPTZ NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    window_end   TIMESTAMPTZ NOT NULL,
    message      VARCHAR NOT NULL,
    details      JSON NOT NULL,
    run_id       VARCHAR,
    delivered_at TIMESTAMPTZ,
    delivered_to VARCHAR,
    attempts     INTEGER NOT NULL,
    last_error   VARCHAR
)"""

MIGRATION = (
    14,
    "alerts: narrative bursts, new narratives, machine-written share jumps, and their delivery",
    [ALERTS],
)
