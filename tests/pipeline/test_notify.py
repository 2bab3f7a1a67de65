"""Delivering alerts to a webhook on 127.0.0.1: success, retries, a receiver that hangs, and
a failure kept for the next run; and the formats alerts are printed in."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.alerts import AlertSettings
from pipeline.cli.alerting import format_alerts
from pipeline.notify import post_json, raise_alerts, webhook_host
from storage import connect
from tests.support.alert_data import Corpus, Receiver, surge

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def corpus(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    corpus = Corpus(db, NOW)
    surge(corpus, narrative=1)
    corpus.add("a", "en", NOW - timedelta(days=2), 9, title="Hostile <!channel> & co @channel")
    for source in ("b", "c"):
        corpus.add(source, "ru", NOW - timedelta(hours=3), 9)
    corpus.close()
    yield corpus


@pytest.fixture
def receivers():
    made = []

    def make(**kw) -> Receiver:
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def deliver(corpus, url, now=NOW, sleeps=None, **settings):
    printed = []
    settings = {"webhook_timeout": 2.0, "webhook_backoff": 0.01, **settings}
    outcome = raise_alerts(
        corpus.db, AlertSettings(**settings), window=timedelta(days=1), echo=printed.append,
        webhook=url, now=now, sleep=(sleeps.append if sleeps is not None else time.sleep),
    )  # fmt: skip
    assert printed == []  # with a webhook nothing goes to stdout
    return outcome


def state(db):
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT kind, subject, delivered_to, attempts, last_error FROM alerts ORDER BY kind"
        ).fetchall()


def test_the_webhook_gets_one_json_post_with_every_new_alert(corpus, receivers):
    receiver = receivers()
    outcome = deliver(corpus, receiver.url)
    assert (outcome.raised, outcome.delivered, outcome.pending) == (2, 2, 0)
    assert len(receiver.bodies) == 1 and receiver.auth == [None]  # no credentials, no header
    body = json.loads(receiver.bodies[0])
    assert set(body) == {"source", "version", "sent_at", "text", "alerts"}
    assert [(a["kind"], a["subject"]) for a in body["alerts"]] == [
        ("burst", "1"), ("new_narrative", "9")
    ]  # fmt: skip
    new = body["alerts"][1]
    assert new["details"]["langs"] == ["en", "ru"] and new["details"]["sites"] == 3
    assert new["raised_at"] == "2026-11-20T12:00:00+00:00"
    # a crawled title cannot ping a chat channel through the text line
    assert "<!channel>" in new["message"] and "<!channel>" not in body["text"]
    assert "&lt;!channel&gt; &amp; co" in body["text"]
    # nor through Mattermost's plain @channel, @all or @here: a word joiner follows the @
    assert "@channel" in new["message"] and "@channel" not in body["text"]
    assert "co @\u2060channel" in body["text"]
    host = receiver.url.split("/hooks")[0]
    assert state(corpus.db) == [
        ("burst", "1", f"webhook {host}", 1, None),
        ("new_narrative", "9", f"webhook {host}", 1, None),
    ]
    assert deliver(corpus, receiver.url, now=NOW + timedelta(hours=1)).delivered == 0
    assert len(receiver.bodies) == 1  # nothing new: no POST at all


def test_a_user_and_password_in_the_webhook_url_go_as_basic_authentication(corpus, receivers):
    """As curl sends them. Before, urllib took "user:pass@127.0.0.1" for the host name and
    every attempt failed on a name lookup."""
    receiver = receivers()
    url = receiver.url.replace("http://", "http://alerts:p%40ss@")
    outcome = deliver(corpus, url)
    assert (outcome.delivered, outcome.error) == (2, None)
    assert receiver.auth == ["Basic " + base64.b64encode(b"alerts:p@ss").decode()]
    assert "p%40ss" not in outcome.to and "alerts" not in outcome.to
    assert all("alerts:" not in row[2] for row in state(corpus.db))


def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt(corpus, receivers):
    receiver = receivers(fail=2)
    sleeps: list[float] = []
    outcome = deliver(corpus, receiver.url, sleeps=sleeps, webhook_retries=2, webhook_backoff=0.5)
    assert (outcome.delivered, outcome.error) == (2, None)
    assert receiver.posts == 3 and len(receiver.bodies) == 1
    assert sleeps == [0.5, 1.0]  # backoff doubles
    assert [row[3] for row in state(corpus.db)] == [3, 3]


def test_a_hanging_receiver_times_out_and_the_alerts_go_out_next_run(corpus, receivers):
    hanging = receivers(hang=30)
    started = time.monotonic()
    outcome = deliver(corpus, hanging.url, webhook_timeout=0.5, webhook_retries=1)
    took = time.monotonic() - started
    assert took < 5, took  # two attempts of 0.5 s, not the receiver's 30 s
    assert (outcome.delivered, outcome.pending) == (0, 2)
    assert outcome.error == "no answer within 0.5s after 2 attempts"
    assert state(corpus.db) == [
        ("burst", "1", None, 2, "no answer within 0.5s"),
        ("new_narrative", "9", None, 2, "no answer within 0.5s"),
    ]
    # the next run: nothing new is raised, the kept alerts are delivered
    working = receivers()
    outcome = deliver(corpus, working.url, now=NOW + timedelta(hours=1))
    assert (outcome.raised, outcome.delivered, outcome.pending) == (0, 2, 0)
    assert [a["subject"] for a in json.loads(working.bodies[0])["alerts"]] == ["1", "9"]
    assert [row[3:] for row in state(corpus.db)] == [(3, None), (3, None)]


def test_a_refused_connection_is_recorded_with_a_reason_and_no_secret(corpus, receivers):
    dead = receivers()
    url = dead.url
    dead.close()
    outcome = deliver(corpus, url, webhook_retries=1)
    assert outcome.pending == 2 and "Connection refused" in outcome.error
    assert "s3cret" not in outcome.error and "s3cret" not in str(state(corpus.db))


def test_server_errors_are_retried_a_bounded_number_of_times_client_errors_not(receivers):
    failing = receivers(fail=9)
    sent = post_json(failing.url, {"x": 1}, 2.0, 3, 0.01)
    assert (sent.ok, sent.attempts, sent.error) == (False, 4, "HTTP 500")
    assert failing.posts == 4
    gone = receivers(fail=9, status=404)
    sent = post_json(gone.url, {"x": 1}, 2.0, 3, 0.01)
    assert (sent.ok, sent.attempts, sent.error) == (False, 1, "HTTP 404")
    # a redirect does not change when asked again (urllib would follow it as a GET without
    # the alerts): one attempt, and where it points, without the path that may hold a token
    moved = receivers(fail=9, status=301, location="https://hooks.example.net/new/s3cret")
    sent = post_json(moved.url, {"x": 1}, 2.0, 3, 0.01)
    assert (sent.ok, sent.attempts, moved.posts) == (False, 1, 1)
    assert sent.error == (
        "HTTP 301 (redirects to https://hooks.example.net: give the webhook the address it "
        "redirects to)"
    )
    bare = receivers(fail=9, status=307)
    sent = post_json(bare.url, {"x": 1}, 2.0, 3, 0.01)
    assert (sent.attempts, sent.error) == (1, "HTTP 307")


def test_alerts_print_as_a_table_or_as_json(corpus):
    printed = []
    raise_alerts(corpus.db, AlertSettings(), window=timedelta(days=1), echo=printed.append,
                 now=NOW)  # fmt: skip
    (alerts,) = printed
    table = format_alerts(alerts, "table").splitlines()
    assert table[0].split() == ["kind", "subject", "raised_at", "message"]
    assert table[2].startswith("burst          1        2026-11-20T12:00  narrative 1 is surging")
    assert table[-1] == "(2 rows)"
    items = json.loads(format_alerts(alerts, "json"))
    assert [(i["kind"], i["subject"]) for i in items] == [("burst", "1"), ("new_narrative", "9")]
    assert items[0]["details"]["z"] == 11.0
    assert set(items[0]) == {"alert_id", "kind", "subject", "raised_at", "message", "details"}


def test_the_webhook_host_printed_is_the_urls_scheme_host_and_port():
    """An IPv6 host keeps its brackets, port 0 is kept; the path (its secret) never shows."""
    assert webhook_host("https://chat.example.org/hooks/T0KEN") == "https://chat.example.org"
    assert (
        webhook_host("http://[::1]:18502/hooks/x") == "http://[::1]:18502"
    )  # was http://::1:18502
    assert (
        webhook_host("http://127.0.0.1:0/hooks/x") == "http://127.0.0.1:0"
    )  # was http://127.0.0.1
    assert webhook_host("http://u:pw@h.example:8080/x?t=1") == "http://h.example:8080"
