"""Alerts: narratives surging against their own baseline, new narratives that spread, and
sources whose machine-written share jumped; each raised once (state in the database)."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import duckdb

from pipeline.config import ConfigError, stage_options, wrong_type
from pipeline.output import plain
from storage import alerts as store

KINDS = ("burst", "new_narrative", "machine_written")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LONGEST = timedelta(days=3653)  # windows before it (the baseline) must still be dates


def parse_window(text: str) -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w`` -> a timedelta; ValueError with the accepted forms."""
    match = _DURATION.match(str(text))
    try:
        delta = match and timedelta(**{_UNITS[match[2]]: float(match[1])})
    except OverflowError:
        delta = None
    if not delta or not timedelta(minutes=1) <= delta <= _LONGEST:
        raise ValueError(
            f"window {text!r} is not a duration from a minute to ten years: write e.g. 90m, "
            "24h, 7d, 2w"
        )
    return delta


@dataclass(frozen=True)
class AlertSettings:
    """The [alerts] table of narrascope.toml; README "Alerts" explains each value."""

    on_run: bool = True  # `run` raises alerts at its end
    window: str = "24h"  # the current window (--since): bursts compare it with earlier ones
    kinds: tuple[str, ...] = KINDS
    burst_baseline_windows: int = 14  # earlier windows of the same length: the baseline
    burst_z: float = 3.0  # documents above the baseline mean, in baseline spreads
    burst_min_documents: int = 5  # in the window: below this nothing is a burst
    burst_p: float = 0.001  # ... and at most this likely at the baseline mean (Poisson)
    repeat_days: float = 7.0  # a burst or share jump of the same subject is not raised again
    new_days: float = 7.0  # a narrative is new this long after its first document
    new_min_sites: int = 3
    new_min_languages: int = 3
    share_days: float = 7.0  # machine-written share: this recent stretch ...
    share_baseline_days: float = 28.0  # ... against this stretch before it
    share_min_documents: int = 5  # in each stretch, documents with a decision
    share_min_jump: float = 0.3  # recent share minus baseline share
    webhook: str = ""  # JSON POST here; empty: alerts go to stdout
    webhook_timeout: float = 10.0  # seconds per attempt (connect to last byte)
    webhook_retries: int = 2  # attempts after the first
    webhook_backoff: float = 1.0  # seconds before the first retry, doubled each time

    @classmethod
    def from_config(cls, config: dict) -> AlertSettings:
        names = tuple(f.name for f in fields(cls))
        table = stage_options("alerts", config.get("alerts", {}), names)
        kinds = table.get("kinds", KINDS)
        if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds):
            raise ConfigError(f"[alerts] kinds must be a list of names from {', '.join(KINDS)}")
        for f in fields(cls):  # "false" (a string) is true: on_run = "false" raised alerts
            value = table.get(f.name, f.default)
            if kind := wrong_type(value, f.default, whole=False):
                raise ConfigError(f"[alerts] {f.name} must be {kind}, not {value!r}")
        settings = cls(**{**table, "kinds": tuple(kinds)})
        unknown = sorted(set(settings.kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"[alerts] kinds has unknown {unknown}; known: {', '.join(KINDS)}")
        for name in ("burst_baseline_windows", "share_min_documents"):
            if getattr(settings, name) < 1:  # no baseline, or a share of no documents
                raise ConfigError(f"[alerts] {name} must be at least 1, not {table[name]!r}")
        if settings.webhook_retries < 0 or settings.webhook_timeout <= 0:
            raise ConfigError("[alerts] webhook_retries must be >= 0 and webhook_timeout > 0")
        from pipeline.notify import check_webhook

        try:
            parse_window(settings.window)
            if settings.webhook:
                check_webhook(settings.webhook)
        except ValueError as err:
            raise ConfigError(f"[alerts] {err}") from err
        return settings


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), summed in log space (no underflow at large
    means); 1.0 when ``count`` is not above the mean, where a burst is out of question."""
    if mean <= 0:
        return 0.0 if count > 0 else 1.0
    if count <= mean:
        return 1.0
    log_terms = []
    for k in range(count, count + 10_000):
        log_terms.append(k * math.log(mean) - mean - math.lgamma(k + 1))
        if log_terms[-1] < log_terms[0] - 40:  # the rest adds less than e^-40 of the first
            break
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def burst(counts: list[int], first_window: int, settings: AlertSettings) -> dict | None:
    """EMM-style burst test of one narrative's window counts (``counts[0]`` the current
    window, ``counts[k]`` the one k windows back): the current count against the mean and
    spread of the earlier windows it existed in. The spread is at least the square root of
    the mean (the Poisson spread of a count) and at least 1, so a narrative with a flat
    history does not alert on one extra document; and the count must be improbable
    (``burst_p``) for a Poisson count at the baseline mean: at small counts a z-score alone
    flags chance. None when it is no burst."""
    history = counts[1 : min(first_window, len(counts) - 1) + 1]
    current = counts[0]
    if not history or current < settings.burst_min_documents:
        return None  # new in this window (see new_narrative), or too few documents
    mean = statistics.fmean(history)
    spread = max(statistics.pstdev(history), math.sqrt(mean), 1.0)
    z = (current - mean) / spread
    if z < settings.burst_z or (p := poisson_tail(current, mean)) > settings.burst_p:
        return None
    return {"documents": current, "baseline_mean": round(mean, 2),
            "baseline_spread": round(spread, 2), "baseline_windows": len(history),
            "z": round(z, 2), "p": float(f"{p:.2g}")}  # fmt: skip


def detect(
    con: duckdb.DuckDBPyConnection, settings: AlertSettings, now: datetime, window: timedelta
) -> list[dict]:
    """The alerts the data supports now that were not raised before (state in ``alerts``),
    each {alert_id, kind, subject, raised_at, window_start, window_end, message, details}."""
    since = now - window
    found: list[dict] = []
    if "burst" in settings.kinds:
        found += _bursts(con, settings, now, window)
    if "new_narrative" in settings.kinds:
        found += _new_narratives(con, settings, now, since)
    if "machine_written" in settings.kinds:
        found += _share_jumps(con, settings, now, since)
    labels = store.narrative_labels(
        con, [int(a["subject"]) for a in found if a["kind"] != "machine_written"]
    )
    out = []
    repeat = now - timedelta(days=settings.repeat_days)
    for kind in KINDS:
        of_kind = [a for a in found if a["kind"] == kind]
        after = None if kind == "new_narrative" else repeat
        seen = store.already_raised(con, kind, [a["subject"] for a in of_kind], after)
        for alert in of_kind:
            if alert["subject"] in seen:
                continue
            label = labels.get(int(alert["subject"])) if kind != "machine_written" else None
            if label:
                alert["details"]["title"] = label["title"]
                alert["details"]["keywords"] = label["keywords"]
            alert["details"] = plain(alert["details"])
            alert.update(
                alert_id=f"{kind}:{alert['subject']}:{now:%Y%m%dT%H%M%S}",
                raised_at=now,
                window_start=since,
                window_end=now,
                message=message(kind, alert["subject"], alert["details"], window),
            )
            out.append(alert)
    return out


def _bursts(con, settings: AlertSettings, now: datetime, window: timedelta) -> list[dict]:
    counts = store.window_counts(con, now, window, settings.burst_baseline_windows)
    out = []
    for narrative_id, c in sorted(counts.items()):
        found = burst(c["counts"], c["first_window"], settings)
        if found:
            found["sites"] = c["sites"]
            out.append({"kind": "burst", "subject": str(narrative_id), "details": found})
    return out


def _new_narratives(con, settings: AlertSettings, now: datetime, since: datetime) -> list[dict]:
    rows = store.new_narratives(
        con, now, since, now - timedelta(days=settings.new_days),
        settings.new_min_sites, settings.new_min_languages,
    )  # fmt: skip
    out = []
    for row in rows:
        reached = [
            name
            for name, at in (
                ("sites", row["sites_reached_at"]),
                ("languages", row["languages_reached_at"]),
            )  # fmt: skip
            if at is not None and at > since
        ]
        details = {k: row[k] for k in ("first_seen", "documents", "sites", "languages", "langs")}
        details["reached"] = reached
        out.append({"kind": "new_narrative", "subject": str(row["narrative_id"]),
                    "details": details})  # fmt: skip
    return out


def _share_jumps(con, settings: AlertSettings, now: datetime, since: datetime) -> list[dict]:
    recent_start = now - timedelta(days=settings.share_days)
    baseline_start = recent_start - timedelta(days=settings.share_baseline_days)
    out = []
    for row in store.share_windows(con, now, since, recent_start, baseline_start):
        if min(row["recent"], row["baseline"]) < settings.share_min_documents:
            continue
        share = row["recent_machine"] / row["recent"]
        before = row["baseline_machine"] / row["baseline"]
        # rounded: 7/10 - 4/10 is 0.29999999999999993 in floats, a jump of 0.3 all the same
        if round(share - before, 9) < settings.share_min_jump or not row["in_window_machine"]:
            continue
        details = {"share": round(share, 3), "documents": row["recent"],
                   "machine_written": row["recent_machine"], "baseline_share": round(before, 3),
                   "baseline_documents": row["baseline"], "share_days": settings.share_days,
                   "baseline_days": settings.share_baseline_days}  # fmt: skip
        out.append({"kind": "machine_written", "subject": row["source"], "details": details})
    return out


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours > 48 and hours % 24 == 0:
        return f"{hours / 24:g} days"
    return f"{hours:g}h" if hours >= 1 else f"{delta.total_seconds() / 60:g} minutes"


def counted(count, word: str) -> str:
    """``counted(1, "alert")`` -> "1 alert"; ``counted(2, "alert")`` -> "2 alerts"."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def message(kind: str, subject: str, d: dict, window: timedelta) -> str:
    """One line a person reads in a cron mail or a chat channel."""
    # one line: a crawled or imported title, or an imported source's name, may hold line
    # breaks, which would start what reads as another alert in a cron mail or the webhook's text
    about = f": {' '.join(str(d['title']).split())}" if d.get("title") else ""
    subject = " ".join(str(subject).split())
    if kind == "burst":
        return (
            f"narrative {subject} is surging: {counted(d['documents'], 'document')} from "
            f"{counted(d['sites'], 'site')} in the last {_span(window)}, against "
            f"{d['baseline_mean']:g} (spread {d['baseline_spread']:g}) a window over the "
            f"{counted(d['baseline_windows'], 'window')} before (z {d['z']:g}){about}"
        )
    if kind == "new_narrative":
        langs = f" ({', '.join(d['langs'])})" if d["langs"] else ""  # all `und`: none to list
        return (
            f"new narrative {subject} reached {counted(d['sites'], 'site')} and "
            f"{counted(d['languages'], 'language')}{langs} with "
            f"{counted(d['documents'], 'document')} since "
            f"{str(d['first_seen'])[:16].replace('T', ' ')} UTC{about}"
        )
    return (
        f"source {subject}: {d['share']:.0%} of its {counted(d['documents'], 'document')} in the "
        f"last {d['share_days']:g} days are machine-written, against "
        f"{d['baseline_share']:.0%} of {d['baseline_documents']} in the "
        f"{d['baseline_days']:g} days before"
    )
