"""The ``narrascope`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from pipeline.config import ConfigError, load_config
from storage.db import StorageError, resolve_db_path

EXPECTED_ERRORS = (StorageError, ConfigError, ValueError, OSError)


class Context:
    def __init__(self, db: str | None, config: str | None, verbose: bool):
        self.db_path = resolve_db_path(db)
        self.config_path = config
        self.verbose = verbose
        self._config: dict | None = None

    @property
    def config(self) -> dict:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def stages(self, names=None):
        from pipeline.stages import build_stages

        return build_stages(names or self.config["pipeline"]["stages"], self.config)


class Group(click.Group):
    """Turns expected errors into one clear line and exit code 1 (traceback with --verbose)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as err:
            obj = ctx.obj
            if obj is not None and getattr(obj, "verbose", False):
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(1)


@click.group(cls=Group)
@click.option(
    "--db",
    envvar="NARRASCOPE_DB",
    help="Database file [env NARRASCOPE_DB; default ./narrascope.duckdb].",
)
@click.option(
    "--config",
    "config",
    envvar="NARRASCOPE_CONFIG",
    help="Config TOML [env NARRASCOPE_CONFIG; default ./narrascope.toml if present].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more and show tracebacks on errors.")
@click.version_option(package_name="narrascope")
@click.pass_context
def cli(ctx, db, config, verbose):
    """narrascope: crawl, extract, identify and connect narratives across sites and languages.

    \b
    Typical cron line:
      narrascope --db /data/ops.duckdb run --sources /data/sources.toml
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Context(db, config, verbose)


@cli.command()
@click.pass_obj
def init(obj: Context):
    """Create the database, or migrate an older one to the current schema.

    \b
    Example:  narrascope --db ops.duckdb init
    """
    from storage import connect
    from storage.db import schema_version

    with connect(obj.db_path) as con:
        version = schema_version(con)
    click.echo(f"{obj.db_path}: schema version {version}")


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def import_(obj: Context, files):
    """Load JSON Lines documents without crawling.

    Each line: {"url": ..., "html" or "text": ..., optional "title", "published_at",
    "source", "lang"}. Malformed lines are reported with their line numbers and skipped.

    \b
    Example:  narrascope import corpus.jsonl more.jsonl
    """
    from crawlers.jsonl_import import import_jsonl

    report = import_jsonl(obj.db_path, list(files), max_bytes=obj.config["crawl"]["max_bytes"])
    for file, line, why in report.malformed:
        click.echo(f"{file}:{line}: skipped: {why}", err=True)
    c = report.counts
    click.echo(
        f"imported {report.lines - len(report.malformed)} of {report.lines} lines: "
        f"{c.new} new, {c.changed} changed, {c.unchanged} unchanged, {c.rejected} rejected, "
        f"{len(report.malformed)} malformed (run {report.run_id})"
    )


def _do_crawl(obj: Context, sources_path) -> dict:
    from crawlers.runner import run_crawl
    from crawlers.sources import load_sources

    sources = load_sources(sources_path or obj.config["sources"])
    summary = run_crawl(obj.db_path, sources, obj.config["crawl"])
    click.echo(
        f"crawl {summary['status']}: {summary.get('responses', 0)} responses, "
        f"{summary.get('new', 0)} new, {summary.get('changed', 0)} changed, "
        f"{summary.get('unchanged', 0)} unchanged, {summary.get('rejected', 0)} rejected"
    )
    return summary


def _do_process(obj: Context, stages=None, limit=None, force=False, progress=True):
    from pipeline.runner import run_stages
    from storage import connect
    from storage.runs import finish_run, start_run

    built = obj.stages(stages)
    with connect(obj.db_path) as con:
        run_id = start_run(con, "process")
    status = "failed"
    report = None
    try:
        report = run_stages(
            obj.db_path,
            built,
            limit=limit,
            force=force,
            run_id=run_id,
            batch_size=obj.config["pipeline"]["batch_size"],
            progress=progress,
        )
        status = "ok"
    finally:
        with connect(obj.db_path) as con:
            finish_run(con, run_id, status, report.as_dict() if report else {})
    for s in report.stages:
        click.echo(
            f"{s.stage} v{s.version}: {s.done} done, {s.rejected} rejected "
            f"({s.docs_per_s:.0f} docs/s)"
        )
    return report


@cli.command()
@click.option(
    "--sources",
    type=click.Path(dir_okay=False),
    help="Sources TOML [default from config: sources.toml].",
)
@click.pass_obj
def crawl(obj: Context, sources):
    """Crawl the configured sources (feeds and the articles they link).

    \b
    Example:  narrascope crawl --sources sources.toml
    """
    _do_crawl(obj, sources)


@cli.command()
@click.option("--stage", "stages", multiple=True, help="Only these stages (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N documents per stage.")
@click.option("--force", is_flag=True, help="Redo the stages for every document.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_obj
def process(obj: Context, stages, limit, force, no_progress):
    """Run pipeline stages over documents that still need them (idempotent).

    \b
    Example:  narrascope process --stage extract --limit 100
    """
    _do_process(obj, list(stages) or None, limit, force, progress=not no_progress)


@cli.command()
@click.option("--sources", type=click.Path(dir_okay=False), help="Sources TOML.")
@click.pass_obj
def run(obj: Context, sources):
    """Crawl, then process: the cron entry point.

    \b
    Example:  narrascope --db /data/ops.duckdb run --sources /data/sources.toml
    """
    _do_crawl(obj, sources)
    _do_process(obj, progress=False)


@cli.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def sql(obj: Context, query, fmt):
    """Run a read-only SQL query (the database is opened read-only).

    \b
    Example:  narrascope sql "SELECT lang, count(*) FROM v_documents GROUP BY lang"
    """
    import duckdb

    from pipeline.output import render
    from storage import connect
    from storage.queries import run_sql

    with connect(obj.db_path, read_only=True) as con:
        try:
            columns, rows = run_sql(con, query)
        except duckdb.Error as err:
            raise StorageError(str(err).splitlines()[0]) from err
    click.echo(render(columns, rows, fmt))


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def status(obj: Context, fmt):
    """Documents by stage and language, backlog per stage, rejections by reason, last runs.

    \b
    Example:  narrascope status --format json
    """
    from storage import connect
    from storage.queries import status as status_query

    with connect(obj.db_path, read_only=True) as con:
        report = status_query(con, obj.stages())
    if fmt == "json":
        click.echo(json.dumps(report, default=str, indent=1))
        return
    click.echo(format_status(report))


def format_status(report: dict) -> str:
    from pipeline.output import terminal_safe as safe

    lines = [f"documents: {report['documents']} ({report['versions']} versions)"]
    lines.append(
        "sources: " + (", ".join(f"{safe(k)} {v}" for k, v in report["sources"].items()) or "none")
    )
    lines.append("stages:")
    for name, backlog in report["backlog"].items():
        s = report["by_stage"].get(name, {"done": 0, "rejected": 0})
        lines.append(
            f"  {name:<10} done {s['done']:>6}  rejected {s['rejected']:>5}  backlog {backlog:>6}"
        )
    lines.append(
        "languages: "
        + (", ".join(f"{safe(k)} {v}" for k, v in report["languages"].items()) or "none")
    )
    lines.append("rejections:" + ("" if report["rejections"] else " none"))
    for r in report["rejections"]:
        lines.append(f"  {r['stage']:<8} {r['reason']:<18} {r['count']}")
    lines.append("last runs:")
    for r in report["last_runs"]:
        lines.append(f"  {r['started_at'][:19]}  {r['kind']:<8} {r['status']:<10} {r['run_id']}")
    return "\n".join(lines)


@cli.command()
@click.option("--serve", is_flag=True, help="Only serve the demo sites until interrupted.")
@click.option(
    "--db", "demo_db", default="demo.duckdb", show_default=True, help="Database the demo writes."
)
@click.pass_obj
def demo(obj: Context, serve, demo_db):
    """Serve the bundled demo sites on 127.0.0.1, crawl, process and summarise them, offline.

    \b
    Example:  narrascope demo            # writes ./demo.duckdb
              narrascope demo --serve    # just serve the sites, to crawl them by hand
    """
    from crawlers.demo.server import DemoSites

    with DemoSites() as sites:
        if serve:
            sites_path = Path("demo-sources.toml")
            sites_path.write_text(sites.sources_toml(), encoding="utf-8")
            for name, url in sites.urls.items():
                click.echo(f"{name:<12} {url}")
            click.echo(f"sources file for these sites: {sites_path}  (Ctrl-C to stop)")
            sites.wait()
            return
        obj.db_path = _fresh_demo_db(Path(demo_db))
        from crawlers.runner import run_crawl

        obj.config["crawl"].update(
            {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 8}
        )
        summary = run_crawl(obj.db_path, sites.sources(), obj.config["crawl"])
        click.echo(
            f"crawled {len(sites.urls)} demo sites: {summary.get('new', 0)} documents, "
            f"{summary.get('rejected', 0)} rejected"
        )
    _do_process(obj, progress=False)
    from storage import connect
    from storage.queries import documents_by_language, documents_by_source

    with connect(obj.db_path, read_only=True) as con:
        by_lang, by_source = documents_by_language(con), documents_by_source(con)
    click.echo("languages: " + ", ".join(f"{lang} {n}" for lang, n in by_lang.items()))
    click.echo("sources:   " + ", ".join(f"{src} {n}" for src, n in sorted(by_source.items())))
    click.echo(
        f"\nwrote {obj.db_path}. Next, try:\n"
        f"  narrascope --db {obj.db_path} status\n"
        f'  narrascope --db {obj.db_path} sql "SELECT source, lang, title FROM v_documents ORDER BY source"\n'
        f"  narrascope demo --serve   # then crawl the sites yourself"
    )


def _fresh_demo_db(path: Path) -> Path:
    """The demo starts from an empty file, but never deletes a database holding other data."""
    if path.exists():
        from storage import connect
        from storage.queries import documents_by_source

        with connect(path, read_only=True) as con:
            foreign = [s for s in documents_by_source(con) if not s.startswith("demo-")]
        if foreign:
            raise StorageError(
                f"{path} holds documents of other sources ({', '.join(foreign[:3])}); "
                "the demo only replaces its own database: pass another --db"
            )
        path.unlink()
    Path(f"{path}.wal").unlink(missing_ok=True)
    return path


def main() -> None:
    cli(prog_name="narrascope")


if __name__ == "__main__":
    main()
