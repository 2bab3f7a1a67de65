"""A seeded differential check of alerts against README "Alerts", worded as a reference in
tests/support/alert_reference.py: random histories (narratives over random days, sites and
languages, documents without a source or with a publication date after they were first seen,
sources whose machine-written share moves), written with plain SQL as
tests/support/alert_data.py writes them (running the models would be too slow), then
`raise_alerts` at advancing times with random windows and settings, to stdout or to a local
webhook that answers, fails with 500 or hangs past the timeout. Alert by alert: which were
raised, their numbers, each raised once, and every one delivered once it was printed or
the webhook answered 2xx, none lost while it failed.

One seed runs in the suite (a few seconds); NARRASCOPE_RANDOM_SEEDS=N runs N seeds."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from pipeline.alerts import KINDS, AlertSettings
from pipeline.notify import raise_alerts
from storage import connect
from tests.support.alert_data import Receiver
from tests.support.alert_reference import Doc, Reference

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SITES = ["a", "b", "c", "d", "e", "f"]
LANGS = ["en", "de", "fr", "ru", "und"]
WINDOWS = {"90m": timedelta(minutes=90), "6h": timedelta(hours=6), "24h": timedelta(days=1),
           "2d": timedelta(days=2), "7d": timedelta(days=7)}  # fmt: skip
SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))


def _doc(rng: random.Random, t: datetime, source, lang, narrative, machine_written=None) -> Doc:
    if machine_written is None and rng.random() < 0.5:
        machine_written = rng.random() < 0.3
    t = t.replace(microsecond=0)
    if rng.random() < 0.15:  # on a whole hour: the edge of a run's windows
        t = t.replace(minute=0, second=0)
    first_seen, published, r = t, t, rng.random()
    if r < 0.1:
        published = None
    elif r < 0.2:  # a date after it was first seen (hostile or misread): it counts from then
        published = t + timedelta(hours=rng.randint(1, 72))
    elif r < 0.4:  # seen a while after it was published
        first_seen = t + timedelta(hours=rng.randint(1, 30))
    source = None if rng.random() < 0.1 else source  # imported without a source
    return Doc(source, lang, first_seen, published, narrative, machine_written)


def history(rng: random.Random) -> list[Doc]:
    docs = []
    for narrative in range(1, rng.randint(3, 8)):
        t = T0 - timedelta(days=rng.uniform(0, 40))
        end = T0 + timedelta(days=rng.uniform(-5, 10))
        rate = rng.choice([0.3, 1, 2, 5])  # documents a day
        sites, langs = rng.sample(SITES, rng.randint(1, 5)), rng.sample(LANGS, rng.randint(1, 4))
        while t < end:
            t += timedelta(days=rng.expovariate(rate))
            docs.append(_doc(rng, t, rng.choice(sites), rng.choice(langs), narrative))
        if rng.random() < 0.6:  # a surge
            at = T0 + timedelta(days=rng.uniform(-3, 8))
            for _ in range(rng.randint(3, 20)):
                seen = at + timedelta(hours=rng.uniform(0, 20))
                docs.append(_doc(rng, seen, rng.choice(SITES), rng.choice(LANGS), narrative))
    for source in rng.sample(SITES, 3):  # machine-written shares that may jump
        jump = T0 + timedelta(days=rng.uniform(-8, 8))
        before, after = rng.uniform(0, 0.3), rng.uniform(0.2, 1)
        for _ in range(rng.randint(6, 60)):
            t = T0 + timedelta(days=rng.uniform(-40, 12))
            machine = rng.random() < (after if t > jump else before)
            docs.append(_doc(rng, t, source, rng.choice(LANGS), None, machine))
    return docs


def write(db, docs: list[Doc]) -> None:
    """The documents as tests/support/alert_data.Corpus writes them, in a few statements."""
    from pipeline.extract import ExtractStage

    with connect(db):
        pass
    ids = [f"d{i:05d}" for i in range(len(docs))]
    urls = [f"https://{d.source}.example/{doc}" for doc, d in zip(ids, docs, strict=True)]
    rows = list(zip(ids, urls, docs, strict=True))
    version = ExtractStage().version
    with duckdb.connect(str(db)) as raw:
        raw.execute("SET TimeZone = 'UTC'")
        con = _Many(raw)
        con.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, 1)",
                        [[i, u, d.source, d.first_seen, d.first_seen] for i, u, d in rows])  # fmt: skip
        con.executemany(
            "INSERT INTO document_versions (doc_id, version, url, source, origin, fetched_at,"
            " content_hash) VALUES (?, 1, ?, ?, 'test', ?, ?)",
            [[i, u, d.source, d.first_seen, i] for i, u, d in rows],
        )
        con.executemany(
            "INSERT INTO extractions (doc_id, version, stage_version, title, published_at, "
            "text) VALUES (?, 1, 'test', ?, ?, 'text')",
            [[i, f"story {d.narrative}", d.published] for i, _, d in rows],
        )
        con.executemany("INSERT INTO stage_state VALUES (?, 1, 'extract', ?, 'done', NULL, ?)",
                        [[i, version, d.first_seen] for i, _, d in rows])  # fmt: skip
        con.executemany("INSERT INTO languages VALUES (?, 1, 'test', ?, 1.0, 'test')",
                        [[i, d.lang] for i, _, d in rows])  # fmt: skip
        first: dict[int, datetime] = {}
        for d in docs:
            if d.narrative is not None:
                first[d.narrative] = min(first.get(d.narrative, d.first_seen), d.first_seen)
        con.executemany(
            "INSERT INTO narratives VALUES (?, ?, ?, 'test-model', 0, ?, [1.0, 0.0])",
            [[n, at, at, at] for n, at in first.items()],
        )
        con.executemany("INSERT INTO narrative_members VALUES (?, ?, 0.9, 'test', ?)",
                        [[i, d.narrative, d.first_seen] for i, _, d in rows
                         if d.narrative is not None])  # fmt: skip
        con.executemany(
            "INSERT INTO signal_scores VALUES (?, 1, 'test', ?, ?, 1.0, ?, ?)",
            [[i, int(d.machine_written), float(d.machine_written), d.machine_written,
              d.first_seen] for i, _, d in rows if d.machine_written is not None],
        )  # fmt: skip


class _Many:
    """``executemany`` that takes an empty list (DuckDB refuses one)."""

    def __init__(self, con):
        self.con = con

    def executemany(self, sql: str, rows: list) -> None:
        if rows:
            self.con.executemany(sql, rows)


def random_settings(rng: random.Random) -> AlertSettings:
    settings = AlertSettings(
        burst_baseline_windows=rng.choice([3, 7, 14]), burst_z=rng.choice([2.0, 2.5, 3.0]),
        burst_min_documents=rng.choice([3, 5]), burst_p=rng.choice([0.001, 0.01, 0.05]),
        repeat_days=rng.choice([1.0, 3.0, 7.0]), new_days=rng.choice([3.0, 7.0]),
        new_min_sites=rng.choice([2, 3, 4]), new_min_languages=rng.choice([2, 3]),
        share_days=rng.choice([3.0, 7.0]), share_baseline_days=rng.choice([14.0, 28.0]),
        share_min_documents=rng.choice([3, 5]), share_min_jump=rng.choice([0.2, 0.3, 0.4]),
        webhook_timeout=0.3, webhook_retries=rng.choice([0, 1]),
    )  # fmt: skip
    if rng.random() < 0.3:
        settings = replace(settings, kinds=tuple(rng.sample(KINDS, 2)))
    return settings


def same(have, want) -> bool:
    if isinstance(want, datetime):
        return have == want.isoformat()
    if isinstance(want, float):  # the code rounds to 2 places (p: 2 significant digits)
        return have is not None and abs(have - want) <= 0.02 * abs(want) + 0.011
    return have == want


def check(seed: int, tmp_path) -> list[str]:
    rng = random.Random(seed)
    docs = history(rng)
    db = tmp_path / f"s{seed}.duckdb"
    write(db, docs)
    reference, problems, delivered, now = Reference(), [], [], T0
    for step in range(rng.randint(3, 6)):
        now += timedelta(hours=rng.choice([1, 6, 24, 30, 72, 170]))
        name = rng.choice(sorted(WINDOWS))
        settings, mode = random_settings(rng), rng.choice(["stdout", "ok", "500", "hang"])
        tag = f"seed {seed} step {step} at {now:%m-%d %H:%M} --since {name} to {mode}"
        expected = reference.detect(docs, now, WINDOWS[name], settings)
        pending = sorted(reference.pending)
        receiver = None if mode == "stdout" else Receiver(
            fail=99 if mode == "500" else 0, hang=0.6 if mode == "hang" else 0.0
        )  # fmt: skip
        printed: list[list[dict]] = []
        try:
            outcome = raise_alerts(
                db, settings, window=WINDOWS[name], echo=printed.append, now=now,
                webhook=receiver.url if receiver else "", sleep=lambda _: None,
            )  # fmt: skip
            bodies = list(receiver.bodies) if receiver and mode == "ok" else []
        finally:
            if receiver:
                receiver.close()
        with connect(db, read_only=True) as con:
            rows = con.execute(
                "SELECT kind, subject, details FROM alerts WHERE raised_at = ?", [now]
            ).fetchall()
            undelivered = sorted(a for (a,) in con.execute(
                "SELECT alert_id FROM alerts WHERE delivered_at IS NULL").fetchall())  # fmt: skip
        raised = {(kind, subject): json.loads(d) for kind, subject, d in rows}
        if set(raised) != set(expected) or outcome.raised != len(expected):
            problems.append(f"{tag}: raised {sorted(raised)}, README {sorted(expected)}")
        for key in set(raised) & set(expected):
            for field, want in expected[key].items():
                if not same(raised[key].get(field), want):
                    problems.append(f"{tag}: {key} {field} {raised[key].get(field)!r} != {want!r}")
        if mode in ("stdout", "ok"):
            sent = [a["alert_id"] for batch in printed for a in batch]
            sent += [a["alert_id"] for body in bodies for a in json.loads(body)["alerts"]]
            if sorted(sent) != pending or outcome.pending:
                problems.append(f"{tag}: sent {sorted(sent)}, pending {pending}: {outcome}")
            delivered += sent
            reference.pending = []
        elif pending and (outcome.delivered or outcome.pending != len(pending)):
            problems.append(f"{tag}: {outcome} with {len(pending)} pending")
        if undelivered != sorted(reference.pending):
            problems.append(f"{tag}: undelivered {undelivered}, README {reference.pending}")
    if len(delivered) != len(set(delivered)):
        problems.append(f"seed {seed}: an alert was delivered twice: {sorted(delivered)}")
    return problems


@pytest.mark.parametrize("seed", range(SEEDS))
def test_alerts_match_the_readme_on_random_histories(seed, tmp_path):
    problems = check(seed, tmp_path)
    assert not problems, "\n".join(problems[:10])
