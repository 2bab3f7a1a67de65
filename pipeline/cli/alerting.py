"""`narrascope alerts`: raise and deliver alerts; `run` calls ``do_alerts`` at its end."""

from __future__ import annotations

import json
import sys

import click

from pipeline.cli.app import CommandError, Context, common_options, say, stdout_lost
from pipeline.output import plain, render


def format_alerts(alerts: list[dict], fmt: str) -> str:
    if fmt == "json":
        keys = ("alert_id", "kind", "subject", "raised_at", "message", "details")
        items = [{k: plain(a[k]) for k in keys} for a in alerts]
        return json.dumps(items, ensure_ascii=False, indent=1)
    rows = [(a["kind"], a["subject"], plain(a["raised_at"])[:16], a["message"]) for a in alerts]
    return render(["kind", "subject", "raised_at", "message"], rows, "table", max_width=400)


def do_alerts(obj: Context, since: str | None = None, fmt: str = "table",
              webhook: str | None = None, in_run: bool = False):  # fmt: skip
    """Raise and deliver alerts under the writer lock, recorded as an 'alerts' run. In a
    `run` (``in_run``) a failed webhook is one line on stderr; from `alerts` it exits 1.
    Either way the alerts stay undelivered in the database and go out with the next call."""
    from pipeline import interrupt
    from pipeline.alerts import AlertSettings, counted, parse_window
    from pipeline.notify import check_webhook, raise_alerts
    from storage.runs import recorded_run

    with obj.naming_config():
        settings = AlertSettings.from_config(obj.config)
    window = parse_window(since or settings.window)
    chosen = settings.webhook if webhook is None else webhook  # "": stdout, whatever the config
    url = check_webhook(chosen) if chosen else ""

    def echo(alerts: list[dict]) -> None:
        if sys.stdout is None:  # closed (`>&-`): click.echo would print nothing, and say so not
            raise CommandError(
                f"standard output is closed: {counted(len(alerts), 'alert')} printed nowhere, "
                "kept for the next call (send it to a file or /dev/null, or give a webhook)"
            )
        if not stdout_lost():
            say(format_alerts(alerts, fmt))
        if stdout_lost():  # nobody read them: they stay undelivered, for the next call
            raise BrokenPipeError(32, "the reader of standard output has gone")

    with obj.writing(), recorded_run(obj.db_path, "alerts") as run:
        try:
            outcome = raise_alerts(
                obj.db_path, settings, window=window, echo=echo, webhook=url, run_id=run.run_id
            )
        except BrokenPipeError:
            if not in_run:
                raise
            run.fail("the reader of standard output has gone: alerts kept for the next run")
            return None
        except CommandError as err:  # standard output closed
            if not in_run:
                raise
            run.fail(str(err))
            click.echo(f"alerts: {err}", err=True)
            return None
        run.summary.update(raised=outcome.raised, delivered=outcome.delivered,
                           pending=outcome.pending, to=outcome.to)  # fmt: skip
        if outcome.error:
            run.fail(f"webhook: {outcome.error}")
        interrupt.check()  # a stop signal that a finalizer let pass (pipeline/interrupt.py)
    if url and outcome.delivered:
        line = f"alerts: {outcome.delivered} sent to the webhook at {outcome.to}"
        click.echo(line, err=fmt == "json")
    if outcome.error:
        line = (
            f"alerts: the webhook at {outcome.to} failed ({outcome.error}); "
            f"{counted(outcome.pending, 'alert')} kept for the next run"
        )
        if not in_run:
            if fmt == "json":  # a script always reads a list: none was printed here
                click.echo("[]")
            raise CommandError(line)
        click.echo(line, err=True)
    elif fmt == "json" and not in_run and not (outcome.delivered and not url):
        click.echo("[]")  # none printed here (nothing new, or all went to the webhook)
    elif not outcome.delivered and not in_run and sys.stderr.isatty():
        click.echo("no new alerts", err=True)
    return outcome


@click.command()
@click.option(
    "--since",
    help="The window looked at, e.g. 24h, 7d: bursts compare it with earlier windows of the "
    "same length; new narratives must have spread in it [default: [alerts] window, 24h].",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--webhook",
    help='POST the alerts as JSON here [default: [alerts] webhook]; "" prints them instead.',
)
@common_options
@click.pass_obj
def alerts(obj: Context, since, fmt, webhook):
    """Report narratives surging against their own baseline, new narratives that reached
    many sites or languages, and sources whose machine-written share jumped. Each alert is
    reported once (kept in the database); without a webhook they go to stdout, so cron mails
    them. The table prints nothing when there is nothing new (json: []).

    \b
    Example:  narrascope alerts --since 24h --webhook https://chat.example.org/hooks/T0KEN
    """
    from pipeline.alerts import parse_window
    from pipeline.notify import check_webhook

    try:
        since and parse_window(since)
        webhook and check_webhook(webhook)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    obj.existing_db()
    do_alerts(obj, since, fmt, webhook)
