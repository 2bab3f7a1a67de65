"""`narrascope sql`, `status`, `search` and `similar`: read-only, never wait for or take the writer lock."""

from __future__ import annotations

import json

import click

from pipeline.cli.app import Context, common_options, reading_stops
from pipeline.cli.formatting import format_status
from pipeline.cli.ingest import source_problems

MAX_LIMIT = 1_000_000


def language_code(_ctx, param, value):
    """A language option as the stages store it: an ISO 639 code, lower case ("EN" is en)."""
    if value is None:
        return None
    if isinstance(value, tuple):  # a repeatable option
        return tuple(language_code(_ctx, param, v) for v in value)
    from pipeline.langid import is_language_tag, language_of  # as the langid stage stores it

    if not is_language_tag(value):
        raise click.BadParameter(f"{value!r} is not a language code: give one like en, ru, uk")
    return language_of(value)  # "pt-BR" is pt


def result_options(command):
    """--lang, --limit and --format, shared by the commands that list documents."""
    for option in reversed(
        (
            click.option(
                "--lang",
                callback=language_code,
                help="Only documents in this language (ISO 639-1).",
            ),  # fmt: skip
            click.option(
                "--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=10, show_default=True
            ),  # fmt: skip
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["table", "json", "csv"]),
                default="table",
                show_default=True,
            ),
        )
    ):
        command = option(command)
    return command


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@common_options
@click.pass_obj
@reading_stops()
def sql(obj: Context, query, fmt):
    """Run one read-only SQL statement; QUERY "-" reads it from stdin.

    \b
    The query reads the database's own tables and views and nothing else:
    - no local files (read_csv, read_text, glob, ATTACH ...), not even under
      the current directory; no network; no extensions (INSTALL, LOAD);
    - no writes: the file is opened read-only and COPY ... TO, EXPORT are refused
      (a store an older narrascope wrote is upgraded first, under the writer
      lock, as `init` would);
    - settings are locked: no SET can lift these restrictions;
    - one statement at a time: "SELECT 1; SELECT 2" is refused, not cut short.
    inflate(html_zlib) gives a stored page's HTML. A query may start with a
    "--" comment. Table output clips long text (never URLs); csv and json
    give every value whole (see README "Output formats").

    \b
    Examples:  narrascope sql "SELECT lang, count(*) FROM v_documents GROUP BY lang"
               narrascope sql - --format csv < report.sql
    """
    from pipeline.output import render
    from storage import connect
    from storage.analyst_sql import run_sql

    if query == "-":
        query = click.get_text_stream("stdin").read()
    elif query.startswith("-") and not any(c.isspace() for c in query):
        # unknown options reach here as the query (so that "-- comment" can start one)
        raise click.UsageError(f"no such option: {query}")
    with connect(obj.db_path, read_only=True) as con:
        columns, rows = run_sql(con, query)
    click.echo(render(columns, rows, fmt), color=fmt != "table")  # csv, json: bytes as they are


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@common_options
@click.pass_obj
@reading_stops()
def status(obj: Context, fmt):
    """Documents by stage and language, backlog per stage, rejections by reason, documents
    that made a stage fail, the writer at work (if any), last runs.

    \b
    Example:  narrascope status --format json
    """
    from storage import connect
    from storage.lock import holder, still_running
    from storage.queries import status as status_query
    from storage.runs import as_holder

    with connect(obj.db_path, read_only=True) as con:
        report = status_query(con, obj.stages())
    report["writer"] = holder(obj.db_path)
    # a run recorded as running (read before the lock) with no process holding the lock was
    # killed, or ended just now; a writer taking the lock over marks the dead ones abandoned.
    # One whose process still runs is alive, also where its lock file was deleted
    for run in report["last_runs"]:
        if run["status"] == "running":
            who = (run.get("summary") or {}).get("writer")
            run["alive"] = report["writer"] is not None or still_running(who or {})
            if report["writer"] is None and run["alive"]:
                report["writer"] = as_holder(who, run["started_at"])
    target = obj.config["translate"].get("target", "en")
    needs = report["translation_needs"]
    report["source_problems"] = source_problems(obj)
    report["translation_install_command"] = (
        f"narrascope models install {' '.join(needs)}"
        + (f" --target {target}" if target != "en" else "")
        if needs
        else None
    )
    if fmt == "json":
        from pipeline.output import plain

        click.echo(json.dumps(report, default=plain, indent=1))
        return
    click.echo(format_status(report))


@click.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--semantic", is_flag=True, help="Search by meaning (embedding), not keywords.")
@click.option(
    "--query-lang",
    callback=language_code,
    help="The query's language for --semantic (default: identified by py3langid).",
)
@result_options
@common_options
@click.pass_obj
@reading_stops()
def search(obj: Context, words, semantic, lang, query_lang, limit, fmt):
    """Find documents by keywords (every word must occur, in the original or the translated
    title or text) or, with --semantic, by meaning: the query is embedded by the same model
    as the documents, so an English query finds Russian documents.

    A keyword matches where a word starts, so a stem finds its inflections (at most 12
    words). By meaning, a copy
    ranks with its copy group (`copy_group`): it follows the group's best hit.

    \b
    Examples:  narrascope search "биолаборатор пентагон" --lang ru
               narrascope search --semantic "sanctions cause hunger in Africa" --format json
    """
    from pipeline import search as searching
    from pipeline.output import render
    from storage.search import too_many_words

    query = " ".join(words)
    if not query.strip():  # an empty variable in a script: "" ranked arbitrary documents
        raise click.UsageError("nothing to search for: give words (or a sentence with --semantic)")
    if not semantic and (problem := too_many_words(query.split())):
        raise click.UsageError(problem)
    if semantic:
        rows = searching.semantic(
            obj.db_path, query, obj.config["embed"], lang=lang, limit=limit,
            query_lang=query_lang,
        )  # fmt: skip
        columns = searching.SEARCH_COLUMNS
    else:
        rows = searching.keyword(obj.db_path, query, lang=lang, limit=limit)
        columns = searching.KEYWORD_COLUMNS
    click.echo(render(columns, rows, fmt), color=fmt != "table")  # csv, json: bytes as they are


@click.command()
@click.argument("doc")
@click.option("--with-copies", is_flag=True,
              help="Also list exact copies of DOC (its very text elsewhere; `copies` lists them).")  # fmt: skip
@result_options
@common_options
@click.pass_obj
@reading_stops()
def similar(obj: Context, doc, with_copies, lang, limit, fmt):
    """More like this: the documents nearest to DOC (a doc_id or a URL), across languages.

    `similarity` is the document similarity search uses (SQL: doc_similarity(a, b)); of the
    50 nearest, those naming the same people, places and figures rank first: `score` adds
    0.4 x anchor_overlap(a, b), the share of names and numbers the two have in common (a
    --limit over 50 adds the next ones by similarity).

    \b
    Examples:  narrascope similar 3f1c2a9e0b7d4c55 --limit 5
               narrascope similar https://example.org/story.html --lang uk --format json
    """
    from pipeline import search as searching
    from pipeline.output import render

    rows = searching.similar(
        obj.db_path, doc, obj.config["embed"], lang=lang, limit=limit, with_copies=with_copies
    )
    click.echo(render(searching.SIMILAR_COLUMNS, rows, fmt), color=fmt != "table")
