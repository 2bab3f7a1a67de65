"""Sources are data: the sites to crawl and their entry points, read from a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class SourcesError(ValueError):
    """The sources file is missing or malformed; the message says where."""


@dataclass(slots=True)
class Source:
    name: str
    home: str
    feeds: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    allowed_domains: list[str] = field(default_factory=list)
    max_pages: int = 1000
    crawl_delay: float | None = None
    # Loopback/private addresses are refused unless a source says so (demo and tests do).
    allow_private: bool = False

    def __post_init__(self) -> None:
        if not self.allowed_domains:
            host = urlsplit(self.home).hostname
            self.allowed_domains = [host] if host else []

    def allows(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)


def load_sources(path: str | Path) -> list[Source]:
    """Read ``[[source]]`` tables from a TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SourcesError(
            f"no sources file at {path}: copy sources.example.toml there or pass --sources"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise SourcesError(f"{path}: {err}") from err
    sources = []
    for i, table in enumerate(data.get("source", []), 1):
        if "name" not in table or "home" not in table:
            raise SourcesError(f"{path}: source #{i} needs at least name and home")
        try:
            sources.append(Source(**table))
        except TypeError as err:
            raise SourcesError(f"{path}: source {table.get('name')!r}: {err}") from err
    names = [s.name for s in sources]
    if len(names) != len(set(names)):
        raise SourcesError(f"{path}: source names must be unique")
    return sources
