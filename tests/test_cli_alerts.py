"""`narrascope alerts` and the alerts `run` raises at its end, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from crawlers.demo.render import rss
from storage import connect
from storage.lock import LockHeld, writer_lock
from tests.conftest import cli_env, run_cli
from tests.crawlers.test_crawl import FAST, write_sources
from tests.support.alert_data import Corpus, Receiver, surge


def seeded(tmp_path):
    db = tmp_path / "n.duckdb"
    with connect(db):
        pass
    corpus = Corpus(db, datetime.now(UTC))
    surge(corpus, narrative=1)
    corpus.close()
    return db


def test_alerts_reports_new_alerts_once_as_json_or_table(tmp_path):
    db = seeded(tmp_path)
    first = json.loads(run_cli("alerts", "--format", "json", db=db).stdout)
    assert [(a["kind"], a["subject"]) for a in first] == [("burst", "1")]
    assert first[0]["message"].startswith("narrative 1 is surging: 12 documents from 4 sites")
    assert json.loads(run_cli("alerts", "--format", "json", db=db).stdout) == []
    assert run_cli("alerts", db=db).stdout == ""  # nothing new: silent, cron sends no mail
    # a longer window is another question (7 days against the 14 before): the narrative
    # was reported within [alerts] repeat_days, so it stays quiet
    assert run_cli("alerts", "--since", "7d", db=db).stdout == ""
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT count(*) FROM runs WHERE kind = 'alerts'").fetchone()[0]
    assert runs == 4


def test_alerts_refuses_bad_options_in_one_line(tmp_path):
    db = seeded(tmp_path)
    bad = run_cli("alerts", "--since", "yesterday", db=db, check=False)
    assert bad.returncode == 2 and "e.g. 90m, 24h, 7d" in bad.stderr
    bad = run_cli("alerts", "--webhook", "file:///etc/passwd", db=db, check=False)
    assert bad.returncode == 2 and "is not an http(s) URL" in bad.stderr
    missing = run_cli("alerts", db=tmp_path / "typo.duckdb", check=False)
    assert missing.returncode == 1 and "no database at" in missing.stderr
    # nothing was raised by the refused calls: the alert is still new
    assert "narrative 1 is surging" in run_cli("alerts", db=db).stdout


def test_alerts_exits_1_when_the_webhook_fails_and_keeps_the_alerts(tmp_path):
    db = seeded(tmp_path)
    dead = Receiver()
    dead.close()
    config = tmp_path / "narrascope.toml"
    config.write_text("[alerts]\nwebhook_timeout = 1\nwebhook_retries = 0\n")
    proc = run_cli("--config", str(config), "alerts", "--webhook", dead.url, db=db, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("error: alerts: the webhook at http://127.0.0.1:")
    # --webhook "" prints them, past a configured webhook (before, it still used the config's)
    config.write_text(
        f'[alerts]\nwebhook_timeout = 1\nwebhook_retries = 0\nwebhook = "{dead.url}"\n'
    )
    proc = run_cli("--config", str(config), "alerts", "--webhook", "", "--format", "json",
                   db=db, check=False)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert [a["subject"] for a in json.loads(proc.stdout)] == ["1"]
    with connect(db) as con:  # raised again as new, for the rest of this test
        con.execute("DELETE FROM alerts")
    config.write_text("[alerts]\nwebhook_timeout = 1\nwebhook_retries = 0\n")
    proc = run_cli("--config", str(config), "alerts", "--webhook", dead.url, db=db, check=False)
    # one alert, one attempt: said in the singular (it was "after 1 attempts); 1 alerts kept")
    assert "after 1 attempt); 1 alert kept for the next run" in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stderr
    receiver = Receiver()
    try:
        out = run_cli("--config", str(config), "alerts", "--webhook", receiver.url, db=db)
        assert out.stdout.startswith("alerts: 1 sent to the webhook at http://127.0.0.1:")
        assert json.loads(receiver.bodies[0])["alerts"][0]["subject"] == "1"
    finally:
        receiver.close()


def test_run_raises_the_configured_alerts_at_its_end(tmp_path, local_site):
    routes = {"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {})}
    site = local_site(routes)
    routes["/feed/"] = ("application/rss+xml", rss(title="t", link=site.base, items=[]).encode(), {})  # fmt: skip
    sources = write_sources(tmp_path, site.base)
    db = seeded(tmp_path)
    dead = Receiver()
    dead.close()
    config = tmp_path / "narrascope.toml"
    settings = FAST + '[pipeline]\nstages = ["extract"]\n[alerts]\nwebhook_retries = 0\n'
    run = ("--config", str(config), "run", "--sources", str(sources))

    config.write_text(settings + f'webhook = "{dead.url}"\n')
    failed = run_cli(*run, db=db)  # a dead webhook does not fail the run
    assert "alerts: the webhook at http://127.0.0.1:" in failed.stderr
    assert "1 alert kept for the next run" in failed.stderr
    assert "surging" not in failed.stdout

    config.write_text(settings)  # no webhook: the kept alert goes to stdout, once
    printed = run_cli(*run, db=db).stdout
    assert printed.index("extract v") < printed.index("narrative 1 is surging: 12 documents")
    assert "surging" not in run_cli(*run, db=db).stdout

    config.write_text(settings + "on_run = false\n")
    with connect(db) as con:
        con.execute("DELETE FROM alerts")
    assert "surging" not in run_cli(*run, db=db).stdout
    with connect(db, read_only=True) as con:
        kinds = con.execute("SELECT kind, status FROM runs ORDER BY started_at").fetchall()
    assert [k for k in kinds if k[0] == "alerts"] == [("alerts", "failed"), ("alerts", "ok"),
                                                      ("alerts", "ok")]  # fmt: skip
    assert ("crawl", "ok") in kinds


def test_a_hanging_webhook_does_not_stall_run(tmp_path, local_site):
    routes = {"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n", {})}
    site = local_site(routes)
    routes["/feed/"] = ("application/rss+xml", rss(title="t", link=site.base, items=[]).encode(), {})  # fmt: skip
    db = seeded(tmp_path)
    hanging = Receiver(hang=120)
    config = tmp_path / "narrascope.toml"
    config.write_text(
        FAST + '[pipeline]\nstages = ["extract"]\n[alerts]\nwebhook_timeout = 1\n'
        f'webhook_retries = 1\nwebhook_backoff = 0.1\nwebhook = "{hanging.url}"\n'
    )
    done: list = []
    sources = str(write_sources(tmp_path, site.base))
    logs = tmp_path / "run.jsonl"
    cron = threading.Thread(target=lambda: done.append(
        run_cli("--config", str(config), "--log-file", str(logs), "--log-format", "json",
                "run", "--sources", sources, db=db, timeout=100)
    ))  # fmt: skip
    try:
        started = datetime.now(UTC)
        cron.start()
        while not hanging.posts and cron.is_alive():
            time.sleep(0.05)
        # raising alerts is part of the run: it still holds the writer lock
        with pytest.raises(LockHeld, match="run"), writer_lock(db):
            pass
        cron.join(100)
        took = datetime.now(UTC) - started
    finally:
        hanging.close()
    [proc] = done
    assert proc.returncode == 0
    # a log shipper gets each phase of the cron run as one JSON object
    events = [json.loads(line).get("event") for line in logs.read_text().splitlines()]
    assert "crawl" in events and "process" in events, events
    assert "(no answer within 1s after 2 attempts)" in proc.stderr
    assert took < timedelta(seconds=60)


def test_alerts_as_json_print_a_list_when_they_went_to_the_webhook(tmp_path):
    """`alerts --format json --webhook URL` prints a list on stdout whether or not something
    was sent (the webhook line goes to stderr), so a script reading stdout always gets JSON.
    Before the fix stdout was empty when the alerts went to the webhook, and "[]" when
    nothing was new."""
    db = seeded(tmp_path)
    dead = Receiver()
    dead.close()
    config = tmp_path / "narrascope.toml"
    config.write_text("[alerts]\nwebhook_timeout = 1\nwebhook_retries = 0\n")
    failed = run_cli("--config", str(config), "alerts", "--format", "json", "--webhook", dead.url,
                     db=db, check=False)  # fmt: skip
    # a webhook that failed: exit 1, and still a list (before, nothing on stdout)
    assert failed.returncode == 1 and json.loads(failed.stdout) == [], failed.stderr
    receiver = Receiver()
    try:
        sent = run_cli("alerts", "--format", "json", "--webhook", receiver.url, db=db)
        quiet = run_cli("alerts", "--format", "json", "--webhook", receiver.url, db=db)
    finally:
        receiver.close()
    assert len(receiver.bodies) == 1 and "1 sent to the webhook" in sent.stderr
    assert json.loads(sent.stdout) == [] and json.loads(quiet.stdout) == []
    with connect(db, read_only=True) as con:
        [(summary,)] = con.execute("SELECT summary FROM runs WHERE kind = 'alerts' "
                                   "ORDER BY started_at DESC LIMIT 1").fetchall()  # fmt: skip
    # the quiet call's record names the webhook it would have used (before, "stdout")
    host = receiver.url.split("/hooks")[0]
    assert json.loads(summary)["to"] == host and json.loads(summary)["raised"] == 0, summary


def test_a_webhook_url_urllib_cannot_post_to_is_refused_before_anything_is_raised(tmp_path):
    """A port out of range was found only at the POST, after the alerts were raised:
    "error: Port out of range 0-65535", exit 1 (and `run` failed so after its crawl); a
    space in the path made the POST thread die with a traceback quoting the path, secret
    token and all, then "failed (HTTP None after 1 attempts)". Now both are refused like
    any other bad --webhook (exit 2) or [alerts] webhook (exit 1, naming the file), without
    the URL, and the alert is still new."""
    db = seeded(tmp_path)
    for url, said in [
        ("http://127.0.0.1:99999/hooks/s3cret", "port is not a number from 0 to 65535"),
        ("http://127.0.0.1:9/hooks/s3cret token", "has a space or a control character"),
    ]:
        bad = run_cli("alerts", "--webhook", url, db=db, check=False)
        assert bad.returncode == 2 and said in bad.stderr, bad.stderr
        assert "s3cret" not in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
        config = tmp_path / "narrascope.toml"
        config.write_text(f'[alerts]\nwebhook = "{url}"\n')
        bad = run_cli("--config", str(config), "alerts", db=db, check=False)
        assert bad.returncode == 1 and bad.stderr.startswith(f"error: {config}: [alerts] ")
        assert said in bad.stderr and "s3cret" not in bad.stderr + bad.stdout
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


def test_alerts_with_standard_output_closed_keep_them_for_the_next_call(tmp_path):
    """`narrascope alerts >&-` (a cron line or a daemon that closes stdout): click.echo
    prints nothing where there is no stdout, and says nothing either, so the alert was
    marked delivered to stdout, exit 0, and the next call printed nothing: delivered at most
    once, though the README says an alert is marked delivered only once it was printed."""
    db = seeded(tmp_path)
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "alerts"]
    closed = subprocess.run(["bash", "-c", '"$@" >&-', "bash", *cmd], capture_output=True,
                            text=True, timeout=120, env=cli_env())  # fmt: skip
    print("stdout closed: exit", closed.returncode, closed.stderr.strip())
    again = json.loads(run_cli("alerts", "--format", "json", db=db).stdout)
    print("the next call:", [(a["kind"], a["subject"]) for a in again])
    assert closed.returncode == 1
    assert "standard output is closed: 1 alert printed nowhere" in closed.stderr
    assert [(a["kind"], a["subject"]) for a in again] == [("burst", "1")]
    with connect(db, read_only=True) as con:
        runs = con.execute("SELECT status FROM runs WHERE kind = 'alerts' ORDER BY started_at")
        assert [r[0] for r in runs.fetchall()] == ["failed", "ok"]
