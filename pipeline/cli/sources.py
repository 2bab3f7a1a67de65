"""`narrascope sources list | add`: the sources file and each source's crawl health."""

from __future__ import annotations

import click

from pipeline.cli.app import CommandError, common_options


@click.group()
def sources():
    """The sources file: list sources with their health, or probe a site and propose one."""


@sources.command("list")
@click.option("--sources", "path", type=click.Path(dir_okay=False), help="Sources TOML.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@common_options
@click.pass_obj
def list_(obj, path, fmt):
    """Every source with its entry points and the health of its latest crawl.

    \b
    Example:  narrascope sources list --sources sources.toml
    """
    import json
    from pathlib import Path

    from crawlers.sources import load_sources
    from pipeline.output import plain
    from pipeline.output import terminal_safe as safe
    from storage import connect
    from storage.health import latest_health

    file = path or obj.config["sources"]
    stored = path is None and not Path(file).exists() and obj.db_path.exists()
    health, rows = {}, []
    if obj.db_path.exists():
        with connect(obj.db_path, read_only=True) as con:
            health = latest_health(con)
            if stored:  # no sources file here: the sources as the latest crawl read them
                rows = [
                    {"name": name, "home": home, "kinds": list(kinds or []),
                     "languages": list(langs or []), "tags": dict(tags or {}), "max_pages": None,
                     "health": health.get(name)}
                    for name, home, kinds, langs, tags in con.execute(
                        "SELECT source, home, entry_points, languages, tags FROM v_sources "
                        "WHERE last_listed_at IS NOT NULL ORDER BY source"
                    ).fetchall()
                ]  # fmt: skip
    if stored and fmt == "text":
        click.echo(f"(no sources file at {file}: the sources as this database's latest crawl "
                   "read them)", err=True)  # fmt: skip
    for s in [] if stored else load_sources(file):
        h = health.get(s.name)
        rows.append({"name": s.name, "home": s.home, "kinds": s.kinds, "languages": s.languages,
                     "tags": s.tags, "max_pages": s.max_pages, "health": h})  # fmt: skip
    if fmt == "json":  # the health's errors (a JSON column, reason -> count) as an object
        for h in (r["health"] for r in rows if r["health"]):
            h["errors"] = json.loads(h["errors"]) if isinstance(h["errors"], str) else h["errors"]
        click.echo(json.dumps(rows, default=plain, indent=1))
        return
    for r in rows:
        h = r["health"]
        tags = ", ".join(f"{k}={v}" for k, v in r["tags"].items() if v)
        click.echo(f"{safe(r['name'])}  {safe(r['home'])}")
        click.echo(f"  entry points: {', '.join(r['kinds'])}; languages: "
                   f"{', '.join(r['languages']) or '?'}" + (f"; tags: {safe(tags)}" if tags else ""))  # fmt: skip
        if h is None:
            click.echo("  health: never crawled")
            continue
        click.echo(
            f"  last crawl {str(h['recorded_at'])[:19]}: fetched {h['fetched']}, new {h['new']}, "
            f"changed {h['changed']}, unchanged {h['unchanged']} ({h['not_modified']} not "
            f"modified), skipped {h['skipped']}, errors {h['errors']}, empty {h['empty_bodies']}, "
            f"median body {h['median_body_chars'] or '-'} chars, extraction failures "
            f"{h['extraction_failures']} of {h['stored']}"
        )
        click.echo(f"  health: {'NEEDS ATTENTION: ' + h['problem'] if h['problem'] else 'ok'}")


@sources.command("add")
@click.argument("url")
@click.option("--name", help="Source name [default: the host].")
@click.option("--allow-private", is_flag=True, help="Allow private/loopback addresses.")
@click.option("--write", "write_to", type=click.Path(dir_okay=False),
              help="Append the entry to this sources file.")  # fmt: skip
@common_options
@click.pass_obj
def add(obj, url, name, allow_private, write_to):
    """Probe a site (its feeds, sitemaps, WordPress API, language) and propose an entry.

    \b
    Example:  narrascope sources add https://example.org/ --write sources.toml
    """
    from crawlers.probe import probe, proposal
    from crawlers.runner import scrapy_settings
    from crawlers.sources import is_web_url

    if not is_web_url(url):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="URL")
    settings = scrapy_settings("", "probe", obj.config["crawl"])
    for key in ("ITEM_PIPELINES", "NARRASCOPE_WARC_DIR"):
        settings.pop(key, None)
    # a probe answers at once: no retries (whose backoff a crawl wants), and what fails is
    # said in its own "probe:" lines, scrapy's records only with -v
    settings.update(RETRY_ENABLED=False, LOG_LEVEL="DEBUG" if obj.verbose else "CRITICAL")
    found = probe(url, settings, allow_private=allow_private)
    if found.get("unreachable"):
        raise CommandError(f"could not reach {url}: {found['unreachable']}")
    if not found["languages"] and len(found.get("sample", "")) >= 40:
        from pipeline.langid import LangdetectDetector

        lang, confidence = LangdetectDetector().detect(found["sample"])
        if lang and confidence >= 0.9:  # the page declares none: what its headlines are in
            found["languages"] = [lang]
    entry = proposal(url, found, name, allow_private)
    for error in found["errors"]:
        click.echo(f"probe: {error}", err=True)
    click.echo(entry, nl=False)
    if write_to:
        from pathlib import Path

        append_checked(Path(write_to), entry)
        click.echo(f"appended to {write_to}", err=True)


def append_checked(target, entry: str) -> None:
    """Append ``entry`` to the sources file ``target`` (a link: to the file it points to),
    written beside it and checked (it parses, names are unique) before it replaces the file,
    with the file's permissions: a file that no longer parses would fail every later run."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from crawlers.sources import SourcesError, load_sources

    target = Path(target).resolve()
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    if existing:
        try:  # a file broken already is named as it is, not as the draft beside it
            load_sources(target)
        except SourcesError as err:
            raise CommandError(
                f"{target} left as it was: it does not load as it is: {err}"
            ) from err
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent)
    draft = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(existing + ("\n" if existing else "") + entry)
        try:
            load_sources(draft)
        except SourcesError as err:  # the entry breaks it: the draft's lines are the file's
            said = str(err).replace(str(draft), f"{target} with the entry appended")
            raise CommandError(f"{target} left as it was: {said}") from err
        if target.exists():
            shutil.copymode(target, draft)
        else:  # mkstemp's 0600, as a new file would not be
            mask = os.umask(0)
            os.umask(mask)
            draft.chmod(0o666 & ~mask)
        draft.replace(target)
    finally:
        draft.unlink(missing_ok=True)
