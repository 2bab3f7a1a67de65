"""Alert queries and state: the counts alerts are computed from, and the alerts table."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb

from storage.db import StorageError, transaction

# When a document appeared: its publication date where it has one, never later than when we
# first saw it (a hostile or misread date in the future cannot push it into a later window),
# else when we first saw it. The same timeline as v_narratives' first_seen/last_seen, clamped.
_SEEN = "least(coalesce(d.published_at, d.first_seen_at), d.first_seen_at)"
_MEMBERS = f"""
    SELECT m.narrative_id, d.doc_id, d.source, nullif(d.lang, 'und') AS lang, {_SEEN} AS seen_at
    FROM narrative_members m JOIN v_documents d ON d.doc_id = m.doc_id"""


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def window_counts(
    con: duckdb.DuckDBPyConnection, now: datetime, window: timedelta, windows: int
) -> dict[int, dict]:
    """narrative_id -> {"counts": [documents in window 0, 1, ... ``windows``], "sites": sites
    in window 0, "first_window": the window of its first document (may be > ``windows``)}.

    Window 0 is (now - window, now]; window k is the one ``k`` windows before it."""
    rows = _query(
        con,
        f"""WITH m AS ({_MEMBERS}),
        b AS (
            SELECT narrative_id, source, (epoch_ms(?::TIMESTAMPTZ) - epoch_ms(seen_at)) // ?
                AS k
            FROM m WHERE seen_at <= ?::TIMESTAMPTZ
        )
        SELECT narrative_id, max(k) AS first_window,
               list(k) FILTER (WHERE k <= ?) AS ks,
               count(DISTINCT source) FILTER (WHERE k = 0) AS sites
        FROM b GROUP BY 1
        HAVING count(*) FILTER (WHERE k = 0) > 0""",
        [now, _ms(window), now, windows],
    ).fetchall()
    out = {}
    for narrative_id, first_window, ks, sites in rows:
        counts = [0] * (windows + 1)
        for k in ks:
            counts[k] += 1
        out[narrative_id] = {"counts": counts, "sites": sites, "first_window": first_window}
    return out


def new_narratives(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    since: datetime,
    new_since: datetime,
    min_sites: int,
    min_languages: int,
) -> list[dict]:
    """Narratives first seen after ``new_since`` that reached ``min_sites`` sites or
    ``min_languages`` languages in (since, now]: the document that brought the last site or
    language needed was seen in that window."""
    cursor = _query(
        con,
        f"""WITH m AS ({_MEMBERS} WHERE {_SEEN} <= ?::TIMESTAMPTZ),
        per_site AS (  -- a document without a source (imported without one) is no site
            SELECT narrative_id, source, min(seen_at) AS first_at FROM m
            WHERE source IS NOT NULL GROUP BY 1, 2
        ),
        per_lang AS (
            SELECT narrative_id, lang, min(seen_at) AS first_at FROM m WHERE lang IS NOT NULL
            GROUP BY 1, 2
        ),
        s AS (
            SELECT narrative_id, count(*) AS sites, list_extract(list_sort(list(first_at)), ?) AS sites_reached_at
            FROM per_site GROUP BY 1
        ),
        l AS (
            SELECT narrative_id, count(*) AS languages, list(lang ORDER BY lang) AS langs,
                   list_extract(list_sort(list(first_at)), ?) AS languages_reached_at
            FROM per_lang GROUP BY 1
        ),
        n AS (
            SELECT narrative_id, min(seen_at) AS first_seen, count(*) AS documents
            FROM m GROUP BY 1
        )
        SELECT n.narrative_id, n.first_seen, n.documents, coalesce(s.sites, 0) AS sites,
               coalesce(l.languages, 0) AS languages, coalesce(l.langs, []) AS langs,
               s.sites_reached_at, l.languages_reached_at
        FROM n LEFT JOIN s USING (narrative_id) LEFT JOIN l USING (narrative_id)
        WHERE n.first_seen > ?::TIMESTAMPTZ
          AND (s.sites_reached_at > ?::TIMESTAMPTZ OR l.languages_reached_at > ?::TIMESTAMPTZ)
        ORDER BY n.narrative_id""",
        [now, min_sites, min_languages, new_since, since, since],
    )
    return _dicts(cursor)


def share_windows(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    since: datetime,
    recent_start: datetime,
    baseline_start: datetime,
) -> list[dict]:
    """Per source: documents with a machine-written decision and how many were machine
    written, in (recent_start, now] and in (baseline_start, recent_start], and how many
    machine-written ones were seen in (since, now]."""
    cursor = _query(
        con,
        f"""WITH d AS (
            SELECT d.source, d.machine_written, {_SEEN} AS seen_at FROM v_documents d
            WHERE d.machine_written IS NOT NULL AND d.source IS NOT NULL
        )
        SELECT source,
               count(*) FILTER (WHERE seen_at > ?::TIMESTAMPTZ) AS recent,
               count(*) FILTER (WHERE seen_at > ?::TIMESTAMPTZ AND machine_written)
                   AS recent_machine,
               count(*) FILTER (WHERE seen_at <= ?::TIMESTAMPTZ) AS baseline,
               count(*) FILTER (WHERE seen_at <= ?::TIMESTAMPTZ AND machine_written)
                   AS baseline_machine,
               count(*) FILTER (WHERE seen_at > ?::TIMESTAMPTZ AND machine_written)
                   AS in_window_machine
        FROM d
        WHERE seen_at <= ?::TIMESTAMPTZ AND seen_at > ?::TIMESTAMPTZ
        GROUP BY 1 ORDER BY 1""",
        [recent_start] * 4 + [since, now, baseline_start],
    )
    return _dicts(cursor)


def narrative_labels(con: duckdb.DuckDBPyConnection, ids: list[int]) -> dict[int, dict]:
    """narrative_id -> its title, keywords and languages as v_narratives gives them."""
    if not ids:
        return {}
    cursor = _query(
        con,
        "SELECT narrative_id, representative_title AS title, keywords, langs, sites, documents "
        "FROM v_narratives WHERE list_contains(?, narrative_id)",
        [ids],
    )
    return {row["narrative_id"]: row for row in _dicts(cursor)}


def already_raised(
    con: duckdb.DuckDBPyConnection, kind: str, subjects: list[str], after: datetime | None
) -> set[str]:
    """Which of ``subjects`` have an alert of ``kind`` raised after ``after`` (None: ever).
    A narrative's alert counts for the narrative its id belongs to now (v_narrative_ids):
    one that `cluster --rebuild` merged into another was reported as that one."""
    if not subjects:
        return set()
    subject = "a.subject"
    if kind != "machine_written":  # the subject is a narrative id
        subject = "coalesce(CAST(i.narrative_id AS VARCHAR), a.subject)"
    rows = _query(
        con,
        f"SELECT DISTINCT {subject} FROM alerts a LEFT JOIN v_narrative_ids i "
        "ON a.kind <> 'machine_written' AND i.id = TRY_CAST(a.subject AS BIGINT) "
        f"WHERE a.kind = ? AND list_contains(?, {subject}) "
        "AND (?::TIMESTAMPTZ IS NULL OR a.raised_at > ?::TIMESTAMPTZ)",
        [kind, subjects, after, after],
    ).fetchall()
    return {s for (s,) in rows}


ALERT_COLUMNS = (
    "alert_id", "kind", "subject", "raised_at", "window_start", "window_end", "message",
    "details", "run_id",
)  # fmt: skip


def record_alerts(con: duckdb.DuckDBPyConnection, alerts: list[dict]) -> None:
    """Insert new alerts, undelivered, in one transaction (an id already there is left as it
    is, so recording the same detection twice changes nothing)."""
    rows = [
        [*(a[c] for c in ALERT_COLUMNS[:7]), json.dumps(a["details"], default=str), a["run_id"]]
        for a in alerts
    ]
    with transaction(con):
        for row in rows:
            con.execute(
                f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}, attempts) "
                f"VALUES ({', '.join('?' * len(ALERT_COLUMNS))}, 0) ON CONFLICT DO NOTHING",
                row,
            )


def undelivered(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Alerts not delivered yet, oldest first, with their details as a dict."""
    cursor = _query(
        con,
        f"SELECT {', '.join(ALERT_COLUMNS)}, attempts, last_error FROM alerts "
        "WHERE delivered_at IS NULL ORDER BY raised_at, alert_id",
    )
    rows = _dicts(cursor)
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def mark_delivered(
    con: duckdb.DuckDBPyConnection, ids: list[str], to: str, at: datetime, attempts: int
) -> None:
    with transaction(con):
        con.execute(
            "UPDATE alerts SET delivered_at = ?, delivered_to = ?, attempts = attempts + ?, "
            "last_error = NULL WHERE list_contains(?, alert_id)",
            [at, to, attempts, ids],
        )


def mark_failed(con: duckdb.DuckDBPyConnection, ids: list[str], error: str, attempts: int) -> None:
    with transaction(con):
        con.execute(
            "UPDATE alerts SET attempts = attempts + ?, last_error = ? "
            "WHERE list_contains(?, alert_id)",
            [attempts, error, ids],
        )


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    try:
        return con.execute(sql, params or [])
    except duckdb.Error as err:
        raise StorageError(f"alert query failed: {err}") from err


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
