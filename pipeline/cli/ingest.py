"""`narrascope crawl` and `narrascope import`: documents into the database."""

from __future__ import annotations

import click

from pipeline.cli.app import CommandError, Context, common_options, say
from pipeline.cli.formatting import format_crawl
from pipeline.deadline import Duration
from pipeline.logs import log


def do_crawl(
    obj: Context, sources_path, report_health: bool = True, check: bool = True, deadline=None
) -> dict:
    """Crawl and print the summary; a failed crawl raises (exit 1) when ``check``, an
    interrupted one always (``Interrupted``: exit 128 + the signal's number). With a
    ``deadline`` (pipeline/deadline.py) the crawl stops in time to process what it fetched."""
    from crawlers.runner import run_crawl
    from crawlers.sources import load_sources

    sources = load_sources(sources_path or obj.config["sources"])
    stop = _crawl_stop(obj, deadline) if deadline is not None else ()
    summary = run_crawl(obj.db_path, sources, obj.config["crawl"], stop=stop)
    log.info("crawl %s", summary["status"], extra={"event": "crawl", "summary": summary})
    say(format_crawl(summary))
    if report_health:
        echo_source_problems(obj, summary["run_id"])
    if summary.get("signal"):  # a stop signal (the crawl may have failed too): no processing
        from pipeline.interrupt import Interrupted

        raise Interrupted(summary["signal"], " during the crawl", "the pages received were "
                          "stored, and the next run requests the rest")  # fmt: skip
    if check and summary["status"] == "failed":
        raise CommandError(f"crawl failed: {summary.get('error', 'see the log')}")
    return summary


def _crawl_stop(obj: Context, deadline) -> tuple[float, float]:
    """(when the crawl must stop if it fetched nothing more, seconds each page fetched moves
    that earlier): from the processing rate of recent runs and the documents already waiting."""
    from crawlers.runner import CRAWL_DEFAULTS
    from pipeline.deadline import seconds_per_document
    from storage import connect
    from storage.runs import recent_summaries
    from storage.stage_inputs import backlog

    per_doc, waiting = seconds_per_document([]), 0
    if obj.db_path.exists():
        with connect(obj.db_path, read_only=True) as con:
            per_doc = seconds_per_document(recent_summaries(con, "process"))
            waiting = max((backlog(con, s.name, s.version, s.requires) for s in obj.stages()),
                          default=0)  # fmt: skip
    timeout = float({**CRAWL_DEFAULTS, **obj.config["crawl"]}["timeout"])
    return deadline.crawl_stop_at(per_doc, waiting, timeout), per_doc


def source_problems(obj: Context, run_id: str | None = None) -> dict[str, str]:
    """Sources whose latest crawl has a problem (the rules live in v_source_health); with a
    ``run_id``, only the sources that crawl read (not those dropped from the sources file,
    whose latest crawl is long past)."""
    from storage import connect
    from storage.health import latest_health

    with connect(obj.db_path, read_only=True) as con:
        return {name: h["problem"] for name, h in latest_health(con).items()
                if h["problem"] and run_id in (None, h["run_id"])}  # fmt: skip


def echo_source_problems(obj: Context, run_id: str | None = None) -> None:
    """What needs attention among the sources the crawl ``run_id`` read."""
    from pipeline.output import terminal_safe as safe

    for name, problem in source_problems(obj, run_id).items():
        say(f"source needs attention: {safe(name)}: {problem}")
        log.info("source needs attention: %s: %s", name, problem,
                 extra={"event": "source_problem", "source": name, "problem": problem})  # fmt: skip


@click.command()
@click.option(
    "--sources",
    type=click.Path(dir_okay=False),
    help="Sources TOML [default from config: sources.toml].",
)
@click.option(
    "--frontier",
    metavar="redis://HOST:PORT/N",
    help="Crawl as one of several crawlers sharing this Redis; needs no database "
    "(`narrascope ingest --frontier` writes). Optional: pip install 'narrascope[redis]'.",
)
@click.option(
    "--wait",
    type=float,
    default=60.0,
    show_default=True,
    help="With --frontier: seconds to wait for `ingest --frontier` to open the run.",
)
@click.option(
    "--max-duration",
    type=Duration(),
    help="With --frontier: stop fetching after this long (50m, 90s; or at the run's own limit, "
    "`ingest --frontier --max-duration`, if earlier); what this crawler held goes back on the "
    "queue (exit 0, 'stopped early').",
)
@common_options
@click.pass_obj
def crawl(obj: Context, sources, frontier, wait, max_duration):
    """Crawl the configured sources: feeds, sitemaps, WordPress APIs, Telegram channels and
    link-following, incrementally (conditional GETs from the crawl state in the database).

    \b
    Example:  narrascope crawl --sources sources.toml
              narrascope crawl --frontier redis://10.0.0.5:6379/0   # on each crawl host
    """
    if frontier:
        from pipeline.cli.frontier import frontier_crawl

        frontier_crawl(obj, sources, frontier, wait, max_duration)
        return
    if max_duration:
        raise click.UsageError("--max-duration needs --frontier here (a time-boxed local "
                               "crawl: `narrascope run --max-duration`)")  # fmt: skip
    with obj.writing():
        do_crawl(obj, sources)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@common_options
@click.pass_obj
def import_(obj: Context, files):
    """Load documents without crawling: JSON Lines, or WARC / WARC.gz archives.

    JSON Lines: {"url": ..., "html" or "text": ..., optional "title", "published_at",
    "source", "lang"} per line; malformed lines are reported with their numbers and skipped.
    WARC (.warc, .warc.gz, from narrascope, browsertrix, wget --warc-file, ...): every HTML
    response is imported and keeps a pointer to its record; other records are skipped.
    Exits 1 when nothing could be imported from a file (a missing one, or a folder,
    included: the other files are imported all the same), 2 when no file named is one.

    \b
    Example:  narrascope import corpus.jsonl crawl-2026-11.warc.gz
    """
    from pathlib import Path

    from crawlers.jsonl_import import import_files
    from pipeline.output import terminal_safe as safe

    if all(Path(f).is_dir() or not Path(f).exists() for f in files):  # a typo: no run to record
        named = ", ".join(safe(f) + (" (a folder)" if Path(f).is_dir() else "") for f in files)
        raise click.BadParameter(f"no such file: {named}", param_hint="'FILES...'")
    # the report is printed inside the run, before its end is recorded: a stop signal while
    # it waits for its reader (`| less`) stops the run, recorded `interrupted` as the exit
    # code says (printed after the lock, the process died of the signal, the run `ok`)
    with obj.writing():
        report = import_files(obj.db_path, list(files), on_done=_echo_import_report,
                              max_bytes=obj.config["crawl"]["max_bytes"])  # fmt: skip
    empty = report.empty_files()
    if empty:
        raise CommandError("nothing could be imported from " + ", ".join(safe(f) for f in empty))


def _echo_import_report(report) -> None:
    """Skipped lines and warnings, the log's import record, and the summary line."""
    from pipeline.output import terminal_safe as safe

    # on stderr for the person at the terminal; in --log-file (only) for a cron job's record
    for kind, found in (("skipped", report.malformed), ("warning", report.warnings)):
        for file, line, why in found:
            where = f"{safe(file)}:{line}" if line else safe(file)
            click.echo(f"{where}: {kind}: {safe(why)}", err=True)
            log.info("%s: %s: %s", where, kind, safe(why), extra={
                "event": f"import_{kind}", "file": file, "line": line, "reason": why,
                "run_id": report.run_id, "file_only": True})  # fmt: skip
    summary = report.summary()
    log.info("import run %s", report.run_id,
             extra={"event": "import", "run_id": report.run_id, "summary": summary})  # fmt: skip
    c = report.counts
    # a malformed line is one of the records read; an empty or unreadable file, or a broken
    # stretch of a WARC file, is not: counted apart, so that the summary adds up
    lines, files = summary["malformed"], summary["file_problems"]
    say(
        f"imported {report.imported} of {report.records} records: "
        f"{c.new} new, {c.changed} changed, {c.unchanged} unchanged, {c.rejected} rejected, "
        f"{lines} malformed"
        + (f", {files} problem(s) with the files themselves" if files else "")
        + f" (run {report.run_id})"
    )
    if report.skipped:  # WARC responses that are no page: said, with why (before, nowhere)
        kinds = report.skipped_why.most_common()
        shown = ", ".join(f"{safe(why)} {n}" for why, n in kinds[:6])
        more = f", and {len(kinds) - 6} more kinds" if len(kinds) > 6 else ""
        say(
            f"not imported: {report.skipped} WARC response(s) that are no page to import: "
            f"{shown}{more}"
        )
