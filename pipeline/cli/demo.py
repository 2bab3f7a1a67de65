"""`narrascope demo`: the bundled demo sites, crawled and processed offline."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.app import CommandError, Context, config_and_verbose
from pipeline.cli.processing import do_process
from storage.db import StorageError


@click.command()
@click.option("--serve", is_flag=True, help="Only serve the demo sites until interrupted.")
@click.option(
    "--db",
    "demo_db",
    help="Database the demo writes [default: the --db before the command, NARRASCOPE_DB, "
    "or ./demo.duckdb].",
)
@config_and_verbose
@click.pass_obj
def demo(obj: Context, serve, demo_db):
    """Serve the bundled demo sites on 127.0.0.1, crawl, process and summarise them, offline.

    \b
    Example:  narrascope demo            # writes ./demo.duckdb
              narrascope demo --serve    # just serve the sites, to crawl them by hand
    """
    from crawlers.demo.server import DemoSites

    if serve:
        with DemoSites() as sites:
            sites_path = Path("demo-sources.toml")
            sites_path.write_text(sites.sources_toml(), encoding="utf-8")
            for name, url in sites.urls.items():
                click.echo(f"{name:<12} {url}")
            click.echo(f"sources file for these sites: {sites_path}  (Ctrl-C to stop)")
            sites.wait()
        return
    obj.db_path = Path(demo_db) if demo_db else obj.db_path if obj.db_given else Path("demo.duckdb")
    with obj.writing(create=True):
        _fresh_demo_db(obj.db_path)
        with DemoSites() as sites:
            from crawlers.runner import run_crawl

            obj.config["crawl"].update(
                {"download_delay": 0, "autothrottle": False, "concurrent_per_domain": 8}
            )
            demo_sources = sites.sources()
            summary = run_crawl(obj.db_path, demo_sources, obj.config["crawl"])
            if summary["status"] == "failed":
                raise CommandError(f"crawl failed: {summary.get('error', 'see the log')}")
            kinds = ", ".join(f"{s.name} ({'/'.join(s.kinds)})" for s in demo_sources)
            click.echo(
                f"crawled {len(demo_sources)} demo sources: {summary.get('new', 0)} documents, "
                f"{summary.get('rejected', 0)} rejected\n  {kinds}"
            )
        do_process(obj, progress=False)
    from pipeline.output import terminal_safe as safe
    from storage import connect
    from storage.queries import documents_by_language, documents_by_source, top_narratives

    with connect(obj.db_path, read_only=True) as con:
        by_lang, by_source = documents_by_language(con), documents_by_source(con)
        narratives = top_narratives(con)
        shared = con.execute("SELECT count(*) FROM v_narratives WHERE documents > 1").fetchone()[0]
    click.echo("languages: " + ", ".join(f"{lang} {n}" for lang, n in by_lang.items()))
    click.echo("sources:   " + ", ".join(f"{src} {n}" for src, n in sorted(by_source.items())))
    click.echo(f"narratives with more than one document ({len(narratives)} largest of {shared}):")
    for nid, docs, sites, langs, title, keywords in narratives:
        click.echo(
            f"  #{nid:<4} {docs} documents, {sites} independent site(s), {'/'.join(langs)}: "
            f"{safe(title)}  [{', '.join(safe(k) for k in (keywords or [])[:5])}]"
        )
    click.echo(
        f"\nwrote {obj.db_path}. Next, try:\n"
        f"  narrascope --db {obj.db_path} status\n"
        f'  narrascope --db {obj.db_path} search --semantic "sanctions cause hunger"\n'
        f'  narrascope --db {obj.db_path} sql "SELECT * FROM v_copies ORDER BY group_id, seen_at"\n'
        f'  narrascope --db {obj.db_path} sql "SELECT source, lang, title FROM v_documents ORDER BY source"\n'
        f'  narrascope --db {obj.db_path} sql "SELECT source, title, signals FROM v_documents WHERE machine_written"\n'
        f"  narrascope demo --serve   # then crawl the sites yourself\n"
        f"\nThe dashboard (narratives, copy lineage, documents side by side, search):\n"
        f"  narrascope --db {obj.db_path} dashboard   # then open http://127.0.0.1:8050/"
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
