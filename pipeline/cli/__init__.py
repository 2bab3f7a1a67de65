"""The ``narrascope`` command line: one module per command group, each a thin shell over the
modules that do the work (crawlers/, pipeline/, storage/).

    app         the group, shared options (--db, --config, -v on every command), exit codes
    ingest      crawl, import
    frontier    ingest --frontier (and crawl --frontier): a crawl shared through Redis
    processing  process, run (the cron entry point), cluster
    querying    sql, status, search (read-only)
    sources     sources list | add
    models      models list | install | install-file | remove
    demo        demo
    alerting    alerts
    export      export narratives | documents | copies (read-only)
    dashboard   dashboard (read-only web app, dashboards/)
"""

from __future__ import annotations

import click

from pipeline.cli import _early  # noqa: F401 - first of ours: it puts a handler in place
from pipeline.cli.alerting import alerts
from pipeline.cli.app import Context, cli, common_options
from pipeline.cli.dashboard import dashboard
from pipeline.cli.demo import demo
from pipeline.cli.export import export
from pipeline.cli.frontier import ingest
from pipeline.cli.ingest import crawl, import_
from pipeline.cli.models import models
from pipeline.cli.processing import cluster, process, run
from pipeline.cli.querying import search, similar, sql, status
from pipeline.cli.sources import sources


@cli.command()
@common_options
@click.pass_obj
def init(obj: Context):
    """Create the database, or migrate an older one to the current schema.

    \b
    Example:  narrascope init --db ops.duckdb
    """
    from storage import connect
    from storage.db import schema_version

    with obj.writing(create=True), connect(obj.db_path) as con:
        version = schema_version(con)
    click.echo(f"{obj.db_path}: schema version {version}")


for command in (
    import_,
    crawl,
    ingest,
    process,
    run,
    sql,
    status,
    search,
    similar,
    cluster,
    sources,
    models,
    demo,
    alerts,
    dashboard,
    export,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="narrascope")


__all__ = ["cli", "main"]
