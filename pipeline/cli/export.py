"""`narrascope export narratives|documents|copies`: files for researchers, with a manifest
(read-only: never waits for or takes the writer lock)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from pipeline.cli.app import Context, common_options
from pipeline.cli.querying import language_code


@click.command()
@click.argument("kind", metavar="narratives|documents|copies")
@click.option(
    "--out", "out_dir", required=True, help="Folder to write (new, empty, or the same export's)."
)
@click.option(
    "--format", "fmt", default="parquet", show_default=True, help="parquet, csv or jsonl."
)
@click.option("--since", help="Documents dated from then: 24h, 7d, 2w, 2026-10-01 or a timestamp.")
@click.option("--until", help="Documents dated before then (a date: up to its end).")
@click.option(
    "--narrative",
    "narratives",
    type=int,
    multiple=True,
    help="Only this narrative (repeatable; merged ids resolve).",
)
@click.option(
    "--min-sites", type=int, help="Only narratives (copies: copy groups) on at least N sites."
)
@click.option(
    "--lang",
    "langs",
    multiple=True,
    callback=language_code,
    help="Only documents in this language (ISO 639-1; repeatable).",
)
@click.option(
    "--source", "sources", multiple=True, help="Only documents of this source (repeatable)."
)
@click.option(
    "--source-tag",
    "source_tags",
    multiple=True,
    help="Only sources with this tag, key=value (repeatable: all must match).",
)
@click.option(
    "--no-text",
    is_flag=True,
    help="Metadata and URLs only: no titles, bodies, translations or labels.",
)
@common_options
@click.pass_obj
def export(obj: Context, kind, out_dir, fmt, since, until, narratives, min_sites, langs, sources,
           source_tags, no_text):  # fmt: skip
    """Write narratives (narratives + members), documents or copies to files that pandas,
    polars, R's arrow and DuckDB read as they are, with manifest.json: versions, models,
    thresholds, filters, row counts and sha256 of each file (README: "Exports for
    researchers"). Bad input (unknown narrative, source or language, format, or an --out
    holding something else) exits 2.

    \b
    Examples:  narrascope export narratives --out exports/ru-nets --lang ru --min-sites 3
               narrascope export documents --out share/ --format csv --since 30d --no-text
               narrascope export copies --out copies/ --source-tag country=RU
    """
    from pipeline.interrupt import Interrupted, received, stop_signals_raise
    from storage.export import Filters
    from storage.export import export as run_export

    filters = Filters(
        since=since,
        until=until,
        narratives=tuple(narratives),
        min_sites=min_sites,
        langs=tuple(langs),
        sources=tuple(sources),
        source_tags=tuple(source_tags),
    )
    # the command that makes this export again, from any folder, options in a fixed order
    words = ["narrascope", "--db", str(obj.db_path.absolute()), "export", kind, "--out",
             str(Path(out_dir).absolute()), "--format", fmt]  # fmt: skip
    for option, values in (
        ("--since", [since]), ("--until", [until]), ("--narrative", narratives),
        ("--min-sites", [min_sites]), ("--lang", langs), ("--source", sources),
        ("--source-tag", source_tags),
    ):  # fmt: skip
        words += [w for v in values if v is not None for w in (option, str(v))]
    command = shlex.join(words + (["--no-text"] if no_text else []))
    manifest = None
    try:
        # SIGTERM as Ctrl-C: the half-written folder goes (Python's default left it behind);
        # one while the line below is printed ends with a line too (it died with no word)
        with stop_signals_raise():
            manifest = run_export(
                obj.existing_db(), kind, out_dir, fmt=fmt, filters=filters, no_text=no_text,
                command=command,
            )  # fmt: skip
            rows = ", ".join(f"{n} {name}" for name, n in manifest["rows"].items())
            click.echo(f"wrote {rows} to {out_dir} ({fmt}; manifest.json lists what produced them)")
    except BaseException as err:
        if (signum := received()) is None:
            raise
        if manifest is not None:
            raise Interrupted(signum, " after the export", f"{out_dir} was written whole "
                              "(its manifest.json lists what produced it)") from err  # fmt: skip
        raise Interrupted(signum, " during the export",
                          f"nothing was written, {out_dir} is as it was") from err  # fmt: skip
