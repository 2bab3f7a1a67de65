"""Raising alerts and delivering them: to stdout, or to a webhook as one JSON POST bounded in
time (per-attempt timeout, a few retries with backoff), so that a dead receiver never stalls
a cron run. Undelivered alerts stay in the database and go out with the next call."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from pipeline.alerts import AlertSettings, counted, detect
from pipeline.output import plain
from storage import alerts as store
from storage import connect

PAYLOAD_FIELDS = ("alert_id", "kind", "subject", "raised_at", "window_start", "window_end",
                  "message", "details")  # fmt: skip


@dataclass
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body: a 3xx is a failure
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def webhook_host(url: str) -> str:
    """What may be printed or stored of a webhook URL: scheme and host (its path or query
    often holds the secret token, as in Slack's and Mattermost's incoming webhooks)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")


def check_webhook(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # what is wrong, without the URL itself: its path may hold the secret token
        why = (f"scheme {parts.scheme!r}" if parts.scheme not in ("", "http", "https")
               else "no http:// or https://" if not parts.scheme else "no host")  # fmt: skip
        raise ValueError(f"the webhook is not an http(s) URL ({why}): give https://host/path")
    try:
        _ = parts.port  # urllib reads it at the POST, after the alerts were raised
    except ValueError:
        raise ValueError("the webhook URL's port is not a number from 0 to 65535") from None
    if any(c.isspace() or not c.isprintable() for c in url.strip()):  # http.client refuses
        raise ValueError(
            "the webhook URL has a space or a control character in it: write a space as %20"
        )
    return url


def _with_credentials(url: str, headers: dict) -> str:
    """``url`` without its ``user:password@``, which goes into ``headers`` as HTTP Basic
    authentication, as curl sends it (urllib would take it for part of the host name)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _attempt(url: str, body: bytes, timeout: float) -> str | None:
    """One POST; None on a 2xx answer, else why not. The whole exchange (connect, send,
    answer) is bounded by ``timeout``: a receiver that trickles its answer is abandoned too."""
    outcome: dict = {}

    def post() -> None:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "narrascope-alerts"}  # fmt: skip
        request = urllib.request.Request(
            _with_credentials(url, headers), data=body, method="POST", headers=headers
        )
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                response.read(65536)
                outcome["status"] = response.status
        except urllib.error.HTTPError as err:
            outcome["error"] = f"HTTP {err.code}"
            if 300 <= err.code < 400 and (where := err.headers.get("Location")):
                # where to, without the path: it may hold a token too
                outcome["error"] += (
                    f" (redirects to {webhook_host(urljoin(request.full_url, where))}: give "
                    "the webhook the address it redirects to)"
                )
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):  # the socket's own timeout, as the join's
                outcome["error"] = f"no answer within {timeout:g}s"
            else:
                outcome["error"] = f"{type(err).__name__}: {reason}"
        except Exception as err:  # http.client's own; its message may quote the URL's path
            outcome["error"] = type(err).__name__

    worker = threading.Thread(target=post, name="narrascope-webhook", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"no answer within {timeout:g}s"
    if "error" in outcome:
        return outcome["error"]
    return None if 200 <= outcome.get("status", 0) < 300 else f"HTTP {outcome.get('status')}"


def post_json(
    url: str,
    payload: dict,
    timeout: float,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON: ``retries`` more attempts after a failed one, waiting
    ``backoff``, then twice as long, ... At most (retries + 1) * timeout + the waits."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    error = None
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        error = _attempt(url, body, timeout)
        if error is None:
            return Delivery(True, attempt + 1)
        if error.startswith(("HTTP 3", "HTTP 4")) and error not in ("HTTP 408", "HTTP 429"):
            return Delivery(False, attempt + 1, error)  # asking again will not change it
    return Delivery(False, retries + 1, error)


def _slack_escape(text: str) -> str:
    # chat receivers read <...> as mentions and links (Slack), and @channel, @all, @here or
    # @name as mentions (Mattermost): a crawled title could ping a channel. A word joiner
    # (U+2060, invisible) after each @ keeps the word from being read as a mention.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u2060")


def payload(alerts: list[dict], sent_at: datetime) -> dict:
    """The webhook's JSON body (README "Alerts"): the alerts, and a `text` line per alert that
    Slack- or Mattermost-style incoming webhooks show as is."""
    from importlib.metadata import version

    items = [{k: plain(a[k]) for k in PAYLOAD_FIELDS} for a in alerts]
    lines = [f"narrascope: {counted(len(items), 'alert')}"]
    lines += [f"- {_slack_escape(a['message'])}" for a in items]
    return {"source": "narrascope", "version": version("narrascope"),
            "sent_at": plain(sent_at), "text": "\n".join(lines), "alerts": items}  # fmt: skip


@dataclass
class Outcome:
    raised: int
    delivered: int
    pending: int
    error: str | None = None
    to: str = "stdout"


def raise_alerts(
    db_path: str | Path,
    settings: AlertSettings,
    *,
    window: timedelta,
    echo: Callable[[list[dict]], None],
    webhook: str = "",
    now: datetime | None = None,
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Detect and record new alerts (one transaction), then deliver every undelivered one:
    to ``webhook`` when given, else through ``echo`` (stdout). The caller holds the writer
    lock; the database is closed while the webhook is called."""
    now = now or datetime.now(UTC)
    with connect(db_path) as con:
        found = detect(con, settings, now, window)
        for alert in found:
            alert["run_id"] = run_id
        store.record_alerts(con, found)
        pending = store.undelivered(con)
    if not pending:  # where they would have gone, for the run's record
        return Outcome(len(found), 0, 0, to=webhook_host(webhook) if webhook else "stdout")
    ids = [a["alert_id"] for a in pending]
    if not webhook:
        echo(pending)
        with connect(db_path) as con:
            store.mark_delivered(con, ids, "stdout", datetime.now(UTC), 1)
        return Outcome(len(found), len(pending), 0)
    to = webhook_host(webhook)
    sent = post_json(
        webhook, payload(pending, datetime.now(UTC)), settings.webhook_timeout,
        settings.webhook_retries, settings.webhook_backoff, sleep,
    )  # fmt: skip
    with connect(db_path) as con:
        if sent.ok:
            store.mark_delivered(con, ids, f"webhook {to}", datetime.now(UTC), sent.attempts)
            return Outcome(len(found), len(pending), 0, to=to)
        store.mark_failed(con, ids, sent.error, sent.attempts)
    tries = counted(sent.attempts, "attempt")
    return Outcome(len(found), 0, len(pending), f"{sent.error} after {tries}", to)
