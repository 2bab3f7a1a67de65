"""Alert detection on a real database: bursts against a narrative's own baseline, new
narratives that spread, machine-written share jumps; each raised once."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.alerts import AlertSettings, burst, parse_window, poisson_tail
from pipeline.config import ConfigError
from pipeline.notify import payload, raise_alerts
from storage import connect
from tests.support.alert_data import Corpus, surge

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def corpus(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    corpus = Corpus(db, NOW)
    yield corpus
    corpus.close()


def raise_now(corpus, now=NOW, window=DAY, **settings):
    corpus.close()
    printed: list[list[dict]] = []
    outcome = raise_alerts(corpus.db, AlertSettings(**settings), window=window,
                           echo=printed.append, now=now)  # fmt: skip
    alerts = [a for batch in printed for a in batch]
    return alerts, outcome


def test_a_burst_is_reported_once_and_not_again_on_the_next_run(corpus):
    surge(corpus, narrative=1, documents=12, sites=4)
    alerts, outcome = raise_now(corpus)
    assert [(a["kind"], a["subject"]) for a in alerts] == [("burst", "1")]
    d = alerts[0]["details"]
    assert (d["documents"], d["sites"], d["baseline_windows"]) == (12, 4, 14)
    assert d["baseline_mean"] == 1.0 and d["z"] == 11.0  # (12 - 1) / spread 1
    assert alerts[0]["message"].startswith(
        "narrative 1 is surging: 12 documents from 4 sites in the last 24h, against 1 "
        "(spread 1) a window over the 14 windows before (z 11)"
    )
    assert "story 1" in alerts[0]["message"]  # the narrative's title, from v_narratives
    assert (outcome.raised, outcome.delivered, outcome.pending) == (1, 1, 0)

    again, outcome = raise_now(corpus, now=NOW + timedelta(hours=1))
    assert again == [] and outcome.raised == 0
    # a day later it is still far above its baseline: within repeat_days it stays quiet
    corpus.daily(1, 12, range(0, 1), source="site5")
    later, _ = raise_now(corpus, now=NOW + DAY)
    assert later == []
    with connect(corpus.db, read_only=True) as con:
        rows = con.execute("SELECT kind, subject, delivered_to, attempts FROM alerts").fetchall()
    assert rows == [("burst", "1", "stdout", 1)]


def test_a_steady_or_noisy_narrative_does_not_burst(corpus):
    corpus.daily(2, 6, range(0, 15))  # six a day, today too
    for day, n in enumerate([8, 4, 7, 3, 8, 5, 4, 8, 3, 6, 7, 4, 5, 8, 3]):  # noisy, then 8
        for i in range(n):
            corpus.add(f"s{i % 3}", "en", NOW - timedelta(days=day, hours=1 + i), 3)
    for i in range(6):  # a narrative born today: no baseline to burst against, one site
        corpus.add("solo", "en", NOW - timedelta(hours=1 + i), 4)
    alerts, _ = raise_now(corpus)
    assert alerts == []


def test_the_burst_test_itself():
    settings = AlertSettings()
    assert burst([12] + [1] * 14, 20, settings)["z"] == 11.0
    assert burst([4] + [0] * 14, 20, settings) is None  # under burst_min_documents
    assert burst([9] + [6] * 14, 20, settings) is None  # spread floor sqrt(6): z 1.22
    assert burst([6], 0, settings) is None  # no earlier window
    # only the windows the narrative lived in count: two days of history at 1 a day
    found = burst([8, 1, 1] + [0] * 12, 2, settings)
    assert found["baseline_windows"] == 2 and found["z"] == 7.0
    # six against 1.5 a window is z 3.67, but a Poisson count at 1.5 reaches 6 once in 224
    # windows: chance, not a burst; eight is once in 5,900
    assert burst([6] + [1, 2] * 7, 20, settings) is None
    assert burst([8] + [1, 2] * 7, 20, settings)["p"] == 0.00017
    assert burst([6] + [1, 2] * 7, 20, AlertSettings(burst_p=0.01))["z"] == 3.67


def test_poisson_tail_matches_the_direct_sum_and_survives_large_means():
    direct = 1 - sum(math.exp(-1.67) * 1.67**k / math.factorial(k) for k in range(6))
    assert poisson_tail(6, 1.67) == pytest.approx(direct, rel=1e-9)
    assert poisson_tail(1100, 1000.0) == pytest.approx(0.00096, rel=0.01)  # e^-1000 underflows
    assert poisson_tail(3, 5.0) == 1.0 and poisson_tail(1, 0.0) == 0.0


def test_a_new_narrative_reaching_three_sites_or_languages_is_reported(corpus):
    # five: first seen two days ago on one site, two more sites in the last day
    corpus.add("a", "en", NOW - 2 * DAY, 5)
    corpus.add("b", "en", NOW - timedelta(hours=5), 5)
    corpus.add("c", "en", NOW - timedelta(hours=3), 5)
    # six: one site, three languages, the third today
    for lang, age in (("ru", 30), ("uk", 20), ("de", 2)):
        corpus.add("mirror", lang, NOW - timedelta(hours=age), 6)
    # seven: reached three sites three days ago: not in the last 24 hours
    for source in ("a", "b", "c"):
        corpus.add(source, "en", NOW - 3 * DAY - timedelta(hours=len(source)), 7)
    # eight: three sites today, but its first document is 20 days old: not new
    corpus.add("a", "en", NOW - 20 * DAY, 8)
    for source in ("b", "c"):
        corpus.add(source, "en", NOW - timedelta(hours=4), 8)

    alerts, _ = raise_now(corpus)
    found = {a["subject"]: a["details"] for a in alerts}
    assert set(found) == {"5", "6"} and {a["kind"] for a in alerts} == {"new_narrative"}
    assert (found["5"]["sites"], found["5"]["reached"]) == (3, ["sites"])
    assert (found["6"]["langs"], found["6"]["reached"]) == (["de", "ru", "uk"], ["languages"])
    assert alerts[0]["message"].startswith("new narrative 5 reached 3 sites and 1 language (en)")

    # a wider window looks further back: seven now; five and six are never reported again
    wider, _ = raise_now(corpus, now=NOW + timedelta(minutes=5), window=4 * DAY)
    assert [(a["kind"], a["subject"]) for a in wider] == [("new_narrative", "7")]
    assert raise_now(corpus, now=NOW + DAY, window=8 * DAY)[0] == []


def test_a_new_narrative_in_no_known_language_lists_none(corpus):
    """A narrative whose documents are all `und` (no language found) reaches three sites.
    Before the fix the message listed an empty pair of brackets: "new narrative 5 reached 3
    sites and 0 languages () with 3 documents"."""
    for source, age in (("a", 30), ("b", 5), ("c", 3)):
        corpus.add(source, "und", NOW - timedelta(hours=age), 5)
    alerts, _ = raise_now(corpus)
    assert alerts[0]["message"].startswith(
        "new narrative 5 reached 3 sites and 0 languages with 3 documents since 2026-11-19 06:00 UTC"
    )


def test_a_title_with_line_breaks_cannot_forge_another_alert_line(corpus):
    """A title with a line break, as `import` keeps it from a JSON Lines "title" (and the
    narrative takes it as its title). The webhook's `text` is one line per alert (README
    "Alerts"). Before the fix it had a second, forged one: "- narrative 99 is surging: 40
    documents ..." after "narrascope: 1 alert" and the real alert's line."""
    title = "Ceasefire talks\n- narrative 99 is surging: 40 documents\u2028from 9 sites"
    for source, age in (("a", 30), ("b", 5), ("c", 3)):
        corpus.add(source, "en", NOW - timedelta(hours=age), 5, title=title)
    alerts, _ = raise_now(corpus)
    assert alerts[0]["message"].endswith(
        "UTC: Ceasefire talks - narrative 99 is surging: 40 documents from 9 sites"
    )
    assert payload(alerts, NOW)["text"].splitlines()[1:] == ["- " + alerts[0]["message"]]
    assert alerts[0]["details"]["title"] == title  # the data itself is as it came


def test_a_source_name_with_line_breaks_cannot_forge_another_alert_line(corpus):
    """`import` takes a JSON Lines "source" as it is: a name with a line break forged a
    second alert line in the webhook's text (a helper's audit)."""
    name = "evil\n- narrative 99 is surging: 40 documents"
    for i in range(10):
        corpus.add(name, "en", NOW - timedelta(days=8 + 2 * i), machine_written=False)
    for i in range(8):
        corpus.add(name, "en", NOW - timedelta(days=i * 0.8, hours=1), machine_written=True)
    alerts, _ = raise_now(corpus)
    assert [(a["kind"], a["subject"]) for a in alerts] == [("machine_written", name)]
    assert alerts[0]["message"].startswith(
        "source evil - narrative 99 is surging: 40 documents: 100% of its 8 documents"
    )
    assert payload(alerts, NOW)["text"].splitlines()[1:] == ["- " + alerts[0]["message"]]


def test_a_source_whose_machine_written_share_jumped_is_reported(corpus):
    for i in range(10):  # four weeks of human writing, then mostly machine-written
        corpus.add("farm", "en", NOW - timedelta(days=8 + 2 * i), machine_written=False)
        corpus.add("steady", "en", NOW - timedelta(days=8 + 2 * i), machine_written=i % 5 == 0)
    for i in range(8):
        corpus.add("farm", "en", NOW - timedelta(days=i * 0.8, hours=1), machine_written=i != 7)
        corpus.add("steady", "en", NOW - timedelta(days=i * 0.8, hours=1), machine_written=i < 2)
    for i in range(3):  # too few documents to judge a share
        corpus.add("tiny", "en", NOW - timedelta(hours=1 + i), machine_written=True)
    alerts, _ = raise_now(corpus)
    assert [(a["kind"], a["subject"]) for a in alerts] == [("machine_written", "farm")]
    d = alerts[0]["details"]
    assert (d["share"], d["documents"], d["baseline_share"], d["baseline_documents"]) == (
        0.875, 8, 0.0, 10
    )  # fmt: skip
    assert alerts[0]["message"] == (
        "source farm: 88% of its 8 documents in the last 7 days are machine-written, "
        "against 0% of 10 in the 28 days before"
    )
    assert raise_now(corpus, now=NOW + timedelta(hours=6))[0] == []


def test_a_share_jump_of_exactly_share_min_jump_is_reported(corpus):
    """From 4 in 10 to 7 in 10 machine-written is a jump of 0.3: "at least 0.3 above" (README
    "Alerts"), as from 1 in 10 to 4 in 10 is. Before the fix only "low" was reported: 0.7 - 0.4
    is 0.29999999999999993 in floating point, below share_min_jump."""
    for source, before, after in (("high", 4, 7), ("low", 1, 4)):
        for i in range(10):
            corpus.add(source, "en", NOW - timedelta(days=8 + 2 * i), machine_written=i < before)
            corpus.add(source, "en", NOW - timedelta(days=i * 0.6, hours=1),
                       machine_written=i < after)  # fmt: skip
    alerts, _ = raise_now(corpus)
    assert [(a["subject"], a["details"]["share"], a["details"]["baseline_share"])
            for a in alerts] == [("high", 0.7, 0.4), ("low", 0.4, 0.1)]  # fmt: skip


def test_kinds_switched_off_in_the_config_are_not_raised(corpus):
    surge(corpus)
    assert raise_now(corpus, kinds=("new_narrative",))[0] == []
    assert [a["kind"] for a in raise_now(corpus)[0]] == ["burst"]


def test_settings_and_windows_refuse_mistakes():
    assert parse_window("24h") == DAY and parse_window("2w") == 14 * DAY
    assert parse_window("90m") == timedelta(minutes=90)
    for bad in ("24", "1y", "0h", "-3d", "h", "11y", "9999999999w", "40000d"):
        with pytest.raises(ValueError, match="e.g. 90m, 24h, 7d"):
            parse_window(bad)
    with pytest.raises(ConfigError, match=r"\[alerts\] has unknown key\(s\) \['treshold'\]"):
        AlertSettings.from_config({"alerts": {"treshold": 3}})
    with pytest.raises(ConfigError, match="kinds has unknown"):
        AlertSettings.from_config({"alerts": {"kinds": ["bursts"]}})
    with pytest.raises(ConfigError, match="kinds must be a list"):
        AlertSettings.from_config({"alerts": {"kinds": "burst"}})
    with pytest.raises(ConfigError, match="webhook_retries must be >= 0"):
        AlertSettings.from_config({"alerts": {"webhook_retries": -1}})
    with pytest.raises(ConfigError, match=r"\[alerts\] window"):
        AlertSettings.from_config({"alerts": {"window": "daily"}})
    with pytest.raises(ConfigError, match=r"\[alerts\] the webhook is not an http\(s\) URL "
                       r"\(scheme 'ftp'\)") as err:  # fmt: skip
        AlertSettings.from_config({"alerts": {"webhook": "ftp://host/s3cret"}})
    assert "s3cret" not in str(err.value)  # the path may be the token: never printed
    with pytest.raises(ConfigError, match=r"\(no http:// or https://\)"):
        AlertSettings.from_config({"alerts": {"webhook": "notaurl"}})
    assert AlertSettings.from_config({"alerts": {"burst_z": 4}}).burst_z == 4


def test_a_narrative_reported_as_new_is_not_reported_again_after_a_rebuild_merged_it(corpus):
    """`cluster --rebuild` (here with a low threshold) merges narrative 5, reported as new
    (three sites), into narrative 6 (older, one site till then), which keeps its id: 5
    resolves to 6 (v_narrative_ids). That is the narrative already reported, not a new one.
    Before the fix it was reported again: "new narrative 6 reached 4 sites ..."."""
    from pipeline.rebuild import rebuild

    for source, age in (("a", 30), ("b", 5), ("c", 3)):
        corpus.add(source, "en", NOW - timedelta(hours=age), 5, title="the ceasefire story")
    for _ in range(4):
        corpus.add("d", "en", NOW - timedelta(hours=40), 6, title="the ceasefire story")
    alerts, _ = raise_now(corpus)
    assert [(a["kind"], a["subject"]) for a in alerts] == [("new_narrative", "5")]
    report = rebuild(corpus.db, {"vectors": "words", "threshold": 0.05})
    assert (report["narratives"], report["kept"], report["merged"]) == (1, 1, 1)
    with connect(corpus.db, read_only=True) as con:
        ids = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
    assert ids == {5: 6, 6: 6}
    assert raise_now(corpus, now=NOW + timedelta(minutes=5))[0] == []


def test_documents_without_a_source_are_no_site_of_a_new_narrative(corpus):
    """Documents imported without a `source` (JSON Lines with no "source") have none: they
    are no site. Narrative 5 is on two sites and has two such documents; v_narratives says 2
    sites, and it reached no third. Before the fix the documents without a source counted as
    one more site: "new narrative 5 reached 3 sites and 1 language (en) with 4 documents",
    and six was said to have 4 sites, seven 1."""
    corpus.add("a", "en", NOW - timedelta(hours=30), 5)
    corpus.add("b", "en", NOW - timedelta(hours=5), 5)
    corpus.add(None, "en", NOW - timedelta(hours=4), 5)
    corpus.add(None, "en", NOW - timedelta(hours=3), 5)
    with_sources = [("c", 6), ("d", 6), (None, 6), ("e", 2)]  # six: three sites today
    for source, age in with_sources:
        corpus.add(source, "en", NOW - timedelta(hours=age), 6)
    for lang in ("ru", "uk", "de"):  # seven: three languages, all imported without a source
        corpus.add(None, lang, NOW - timedelta(hours=3), 7)
    alerts, _ = raise_now(corpus)
    found = [(a["subject"], a["details"]["sites"], a["details"]["reached"]) for a in alerts]
    assert found == [("6", 3, ["sites"]), ("7", 0, ["languages"])]
    assert alerts[0]["message"].startswith("new narrative 6 reached 3 sites and 1 language")
    assert alerts[1]["message"].startswith("new narrative 7 reached 0 sites and 3 languages")
