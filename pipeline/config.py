"""Configuration: a TOML file merged over documented defaults. No global singleton."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path

from crawlers.runner import CRAWL_DEFAULTS

# Stage tables default to the stage classes' own field defaults (one place for each value);
# crawl defaults live with the crawler that reads them.
DEFAULTS: dict = {
    "sources": "sources.toml",
    "crawl": dict(CRAWL_DEFAULTS),
    "pipeline": {
        "stages": ["extract", "langid", "signals", "translate", "embed", "dedup", "cluster"],
        "batch_size": 64,
    },
    # where the stages run: "local" (this process) or "ray" (pipeline/engines/ray_engine.py);
    # ray_address: "" starts a local Ray instance, "auto" or HOST:PORT joins a cluster
    "process": {"engine": "local", "ray_address": ""},
    "extract": {},
    "langid": {},
    "signals": {},
    "translate": {},
    "embed": {},
    "dedup": {},
    "cluster": {},
    "alerts": {},  # defaults: pipeline.alerts.AlertSettings
}


class ConfigError(ValueError):
    file_named = False  # the message starts with the config file's path


def in_file(message: str) -> ConfigError:
    """A config error whose message already names the file."""
    err = ConfigError(message)
    err.file_named = True
    return err


def stage_options(section: str, settings: dict, allowed: tuple[str, ...]) -> dict:
    """A stage's settings table, refusing keys the stage does not know (typos, stale keys)."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ConfigError(f"[{section}] has unknown key(s) {unknown}; known: {', '.join(allowed)}")
    return dict(settings)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_file(path: str | Path | None = None) -> Path | None:
    """The file ``load_config`` reads: ``--config``, else ``NARRASCOPE_CONFIG``, else
    ``./narrascope.toml`` if present; None where the defaults apply."""
    explicit = path or os.environ.get("NARRASCOPE_CONFIG")
    candidate = Path(explicit or "narrascope.toml")
    return candidate if explicit or candidate.exists() else None


def load_config(path: str | Path | None = None) -> dict:
    """``--config``, else ``NARRASCOPE_CONFIG``, else ``./narrascope.toml`` if present."""
    explicit = path or os.environ.get("NARRASCOPE_CONFIG")
    candidate = Path(explicit or "narrascope.toml")
    if not candidate.exists():
        if explicit:
            raise in_file(f"no config file at {candidate}")
        return copy.deepcopy(DEFAULTS)
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise in_file(f"{candidate}: {err}") from err
    try:
        _check(data)
    except ConfigError as err:
        raise in_file(f"{candidate}: {err}") from None
    return _merge(DEFAULTS, data)


def _check(data: dict) -> None:
    """Refuse what no command reads: a section or a [crawl] or [pipeline] key misspelt
    (``max_duraton``) would otherwise be ignored in silence, and an unattended run would go on
    with the default. The stage, [process] and [alerts] tables are checked by what reads them."""
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        known = ", ".join(k if k == "sources" else f"[{k}]" for k in DEFAULTS)
        raise ConfigError(f"unknown section(s) or key(s) {unknown}; known: {known}")
    for key, value in data.items():
        if isinstance(DEFAULTS[key], dict) and not isinstance(value, dict):
            raise ConfigError(f"{key!r} must be a table ([{key}]), not {type(value).__name__}")
    if not isinstance(data.get("sources", "x"), str) or not data.get("sources", "x").strip():
        # "": read as the current folder ("[Errno 21] Is a directory: '.'" at the crawl)
        raise ConfigError("'sources' must be a path to a sources file (a string, not empty)")
    for section in ("crawl", "pipeline"):
        stage_options(section, data.get(section, {}), tuple(DEFAULTS[section]))
        for key, value in data.get(section, {}).items():
            _check_value(section, key, value)


def setting_kind(default, *, whole: bool = True) -> str | None:
    """What a setting with this default holds, in words; None for lists and tables, which
    their readers check. ``whole=False``: an int default takes a fraction too."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int) and whole:
        return "a whole number"
    if isinstance(default, int | float):
        return "a number"
    return "a string" if isinstance(default, str) else None


def wrong_type(value, default, *, whole: bool = True) -> str | None:
    """``setting_kind`` when ``value`` is not of that kind, else None: a string "false" is
    true to Python, and true is 1."""
    kind = setting_kind(default, whole=whole)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    fits = {
        "true or false": isinstance(value, bool),
        "a whole number": number and isinstance(value, int),
        "a number": number,
        "a string": isinstance(value, str),
        None: True,
    }[kind]
    return None if fits else kind


#: [crawl] keys that take a fraction of a second as well as a whole number
_SECONDS = ("timeout",)


def _check_value(section: str, key: str, value) -> None:
    """A [crawl] or [pipeline] value of the type its default has (a number >= 0; a batch of at
    least one): ``max_bytes = "big"`` crawled nothing and exited 0 under a scrapy traceback,
    ``batch_size = 0`` processed nothing and exited 0."""
    default, whole = DEFAULTS[section][key], key not in _SECONDS
    kind = wrong_type(value, default, whole=whole)
    if isinstance(default, int | float) and not isinstance(default, bool):
        least = 1 if key == "batch_size" else 0
        if kind or value < least:
            kind = f"{setting_kind(default, whole=whole)} >= {least}"
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            kind = "a list of names"
        elif key == "stages" and not value:  # none named read as every stage
            kind = "a list of at least one stage"
    if kind is None and key == "log_level" and value not in _LEVELS:
        kind = "one of " + ", ".join(_LEVELS)
    if kind:
        raise ConfigError(f"[{section}] {key} must be {kind}, not {value!r}")


#: [crawl] log_level: scrapy's (the logging module's) levels
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
