"""The alerts as README "Alerts" words them, computed in Python from a list of documents:
the reference the randomized differential driver compares `raise_alerts` with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction


@dataclass
class Doc:
    source: str | None
    lang: str
    first_seen: datetime
    published: datetime | None
    narrative: int | None
    machine_written: bool | None

    @property
    def at(self) -> datetime:
        # its publication date, never later than first seen, else when first seen
        if self.published is None:
            return self.first_seen
        return min(self.published, self.first_seen)


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count), X ~ Poisson(mean), by the direct sum of the complement's terms in
    log space (independent of the product's summation)."""
    if mean == 0:
        return 0.0 if count > 0 else 1.0
    below = sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(count))
    if below < 0.5:
        return 1.0 - below
    return sum(
        math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(count, count + 5000)
    )


def bursts(docs: list[Doc], now: datetime, window: timedelta, s) -> dict[str, dict]:
    out = {}
    by_narrative: dict[int, list[datetime]] = {}
    for d in docs:
        if d.narrative is not None and d.at <= now:
            by_narrative.setdefault(d.narrative, []).append(d)
    for nid, members in by_narrative.items():

        def index(t):  # window 0 is (now - window, now]
            k = 0
            while not (now - (k + 1) * window < t <= now - k * window):
                k += 1
            return k

        ks = [index(d.at) for d in members]
        first = max(ks)
        current = ks.count(0)
        if current == 0 or first == 0:
            continue  # nothing in the window, or first seen inside it: no baseline
        n = min(first, s.burst_baseline_windows)
        history = [ks.count(k) for k in range(1, n + 1)]
        mean = Fraction(sum(history), n)
        var = sum((Fraction(h) - mean) ** 2 for h in history) / n
        zf = Fraction(s.burst_z)
        spread2 = max(var, mean, Fraction(1))
        if current < s.burst_min_documents:
            continue
        if not (current - mean >= 0 and (current - mean) ** 2 >= zf * zf * spread2):
            continue
        p = poisson_tail(current, float(mean))
        if p > s.burst_p:
            continue
        spread = math.sqrt(spread2)
        sites = {d.source for d, k in zip(members, ks, strict=True) if k == 0 and d.source}
        out[str(nid)] = {"documents": current, "sites": len(sites),
                         "baseline_mean": float(mean), "baseline_spread": spread,
                         "baseline_windows": n, "z": float(current - mean) / spread, "p": p}  # fmt: skip
    return out


def new_narratives(docs: list[Doc], now: datetime, window: timedelta, s) -> dict[str, dict]:
    since = now - window
    out = {}
    by_narrative: dict[int, list[Doc]] = {}
    for d in docs:
        if d.narrative is not None and d.at <= now:
            by_narrative.setdefault(d.narrative, []).append(d)
    for nid, members in by_narrative.items():
        first = min(d.at for d in members)
        if now - first > timedelta(days=s.new_days):
            continue
        site_first: dict[str, datetime] = {}
        lang_first: dict[str, datetime] = {}
        for d in sorted(members, key=lambda d: d.at):
            if d.source:
                site_first.setdefault(d.source, d.at)
            if d.lang != "und":
                lang_first.setdefault(d.lang, d.at)
        reached = []
        for name, firsts, need in (("sites", site_first, s.new_min_sites),
                                   ("languages", lang_first, s.new_min_languages)):  # fmt: skip
            times = sorted(firsts.values())
            if len(times) >= need and since < times[need - 1] <= now:
                reached.append(name)
        if reached:
            out[str(nid)] = {"first_seen": first, "documents": len(members),
                             "sites": len(site_first), "languages": len(lang_first),
                             "langs": sorted(lang_first), "reached": reached}  # fmt: skip
    return out


def share_jumps(docs: list[Doc], now: datetime, window: timedelta, s) -> dict[str, dict]:
    since = now - window
    recent_start = now - timedelta(days=s.share_days)
    base_start = recent_start - timedelta(days=s.share_baseline_days)
    out = {}
    for source in sorted({d.source for d in docs if d.source}):
        decided = [d for d in docs if d.source == source and d.machine_written is not None]
        recent = [d for d in decided if recent_start < d.at <= now]
        base = [d for d in decided if base_start < d.at <= recent_start]
        if min(len(recent), len(base)) < s.share_min_documents:
            continue
        rm = sum(d.machine_written for d in recent)
        bm = sum(d.machine_written for d in base)
        jump = Fraction(rm, len(recent)) - Fraction(bm, len(base))
        if jump < Fraction(str(s.share_min_jump)):
            continue
        if not any(d.machine_written and since < d.at <= now for d in decided):
            continue
        out[source] = {"share": rm / len(recent), "documents": len(recent),
                       "machine_written": rm, "baseline_share": bm / len(base),
                       "baseline_documents": len(base)}  # fmt: skip
    return out


class Reference:
    """Alerts raised so far (kind, subject, raised_at) and the undelivered ones."""

    def __init__(self):
        self.raised: list[tuple[str, str, datetime, str]] = []
        self.pending: list[str] = []

    def detect(self, docs, now, window, s) -> dict[tuple[str, str], dict]:
        found = {}
        finders = {"burst": bursts, "new_narrative": new_narratives,
                   "machine_written": share_jumps}  # fmt: skip
        for kind in ("burst", "new_narrative", "machine_written"):
            if kind not in s.kinds:
                continue
            for subject, details in finders[kind](docs, now, window, s).items():
                earlier = [
                    at for k, sub, at, _ in self.raised
                    if k == kind and sub == subject
                    and (kind == "new_narrative" or now - at < timedelta(days=s.repeat_days))
                ]  # fmt: skip
                if not earlier:
                    found[(kind, subject)] = details
        for kind, subject in found:
            alert_id = f"{kind}:{subject}:{now:%Y%m%dT%H%M%S}"
            self.raised.append((kind, subject, now, alert_id))
            self.pending.append(alert_id)
        return found
