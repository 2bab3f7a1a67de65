"""`narrascope crawl --frontier` and `narrascope ingest --frontier`: a crawl shared by
crawler processes on several hosts through Redis (crawlers/frontier/), one writer."""

from __future__ import annotations

import click

from pipeline.cli.app import CommandError, Context, common_options
from pipeline.cli.formatting import format_crawl
from pipeline.deadline import Duration
from pipeline.logs import log


def _redis_errors() -> tuple:
    try:
        from redis import RedisError
    except ImportError:  # connect() says how to install it
        return ()
    return (RedisError,)


def frontier_crawl(obj: Context, sources_path, url: str, wait: float,
                   max_duration: float | None = None) -> dict:  # fmt: skip
    """One crawler of the shared crawl: no database here, items go to the frontier."""
    from crawlers.frontier import FrontierError
    from crawlers.frontier.crawl import run_frontier_crawl
    from crawlers.sources import load_sources

    sources = load_sources(sources_path or obj.config["sources"])
    try:
        summary = run_frontier_crawl(url, sources, obj.config["crawl"], wait=wait,
                                     max_duration=max_duration)  # fmt: skip
    except FrontierError as err:
        raise CommandError(str(err)) from err
    except _redis_errors() as err:
        raise CommandError(f"lost the frontier at {url}: {err}") from err
    refused = f", {summary['refused']} queue entries refused" if summary["refused"] else ""
    click.echo(
        f"crawler {summary['worker']} {summary['status']}: {summary['responses']} responses, "
        f"{summary['items']} items pushed{refused} (run {summary['run_id']})"
    )
    log.info("frontier crawl %s", summary["status"],
             extra={"event": "frontier_crawl", "summary": summary})  # fmt: skip
    if summary["status"] == "stopped early":
        click.echo("stopped at its time limit: what it held went back on the queue")
    elif summary["status"] != "ok":
        raise CommandError(f"crawler {summary['worker']} {summary['status']}: {summary['why']}")
    return summary


@click.command()
@click.option("--frontier", "url", required=True, metavar="redis://HOST:PORT/N",
              help="The Redis of the shared crawl.")  # fmt: skip
@click.option("--sources", type=click.Path(dir_okay=False),
              help="Sources TOML [default from config: sources.toml].")  # fmt: skip
@click.option("--wait", type=float, default=300.0, show_default=True,
              help="Fail when no crawler has been alive this many seconds and the crawl "
                   "is not finished.")  # fmt: skip
@click.option("--max-duration", type=Duration(),
              help="Time limit (50m, 90s): the crawlers stop fetching then; ingest writes what "
                   "they pushed and ends once they have left, 'stopped early' (exit 0; the "
                   "next run crawls what was left). Ingest ends after the limit plus the "
                   "crawlers' closing (up to [crawl] timeout + 2 x frontier_timeout) and its "
                   "final writes; it fails when no crawler joined, when one left without "
                   "its closing report, or when one still runs --wait seconds after that.")  # fmt: skip
@common_options
@click.pass_obj
def ingest(obj: Context, url, sources, wait, max_duration):
    """Open a shared crawl on a Redis frontier and write what its crawlers fetch.

    Run one, next to the database, before the crawlers (`narrascope crawl --frontier URL`
    on any number of hosts). It publishes the crawl state (validators, watermarks, cursors)
    to Redis, writes the crawled items in batches, and ends once the crawlers have finished.
    It fails (exit 1) when a crawler stopped before the crawl was finished, when no
    crawler has been alive for --wait seconds, when it refused items from the frontier
    that are not ours (each recorded as a 'bad_frontier_item' rejection; the rest is
    written), or when its crawlers refused queue entries. Items of another run (a crawler
    of an earlier run still pushing) are recorded and counted the same way but do not
    fail the run: this run crawls those pages itself. A crawler that left without its
    closing report (killed) is named in the summary; the run fails for it only when
    stopped at --max-duration.

    \b
    Example:  narrascope ingest --frontier redis://10.0.0.5:6379/0 --sources sources.toml
    """
    from crawlers.frontier import FrontierError
    from crawlers.frontier.ingest import run_ingest
    from crawlers.sources import load_sources
    from pipeline.cli.ingest import echo_source_problems

    loaded = load_sources(sources or obj.config["sources"])
    with obj.writing():
        try:
            summary = run_ingest(obj.db_path, url, loaded, obj.config["crawl"], wait=wait,
                                 max_duration=max_duration)  # fmt: skip
        except FrontierError as err:
            raise CommandError(str(err)) from err
        except _redis_errors() as err:
            raise CommandError(f"lost the frontier at {url}: {err}; what was popped "
                               "before that is written") from err  # fmt: skip
    click.echo(format_crawl(summary))
    log.info("crawl %s", summary["status"], extra={"event": "crawl", "summary": summary})
    echo_source_problems(obj, summary.get("run_id"))
    if summary["status"] == "failed":
        raise CommandError(f"ingest failed: {summary.get('error', 'see the log')}")
