"""Configuration: a TOML file merged over documented defaults. No global singleton."""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path

DEFAULTS: dict = {
    "sources": "sources.toml",
    "crawl": {
        "user_agent": "narrascope/0.1 (+https://github.com/narrascope/narrascope; research crawler)",
        "contact_url": "",
        "obey_robots": True,
        "autothrottle": True,
        "download_delay": 0.5,
        "concurrent_per_domain": 4,
        "max_bytes": 10 * 1024 * 1024,
        "timeout": 30,
        "retries": 2,
        "write_batch": 50,
    },
    "pipeline": {"stages": ["extract", "langid"], "batch_size": 64},
    "extract": {"favor": "balanced", "min_chars": 1},
    "langid": {"method": "ensemble", "min_letters": 6, "max_chars": 4000},
}


class ConfigError(ValueError):
    pass


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None) -> dict:
    """``--config``, else ``NARRASCOPE_CONFIG``, else ``./narrascope.toml`` if present."""
    explicit = path or os.environ.get("NARRASCOPE_CONFIG")
    candidate = Path(explicit or "narrascope.toml")
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"no config file at {candidate}")
        return copy.deepcopy(DEFAULTS)
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{candidate}: {err}") from err
    return _merge(DEFAULTS, data)
