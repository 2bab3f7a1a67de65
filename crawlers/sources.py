"""Sources are data: the sites to crawl and their entry points, read from a TOML file."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class SourcesError(ValueError):
    """The sources file is missing or malformed; the message says where."""


KINDS = ("feeds", "sitemaps", "wordpress", "telegram", "links")


@dataclass(slots=True)
class Source:
    """One site (or channel) and how to crawl it. Entry points, any mix of:
    ``feeds`` (RSS/Atom/RDF URLs), ``sitemaps`` (sitemap or sitemap-index URLs, gzip too),
    ``wordpress`` (read the site's REST API at ``home``/wp-json/), ``telegram`` (channel names
    or t.me/s/ preview URLs), ``follow_links`` (crawl from ``start_urls``, default ``home``,
    within ``allowed_domains`` to ``max_depth``, keeping URLs that match ``include`` and none
    of ``exclude``)."""

    name: str
    home: str
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    wordpress: bool = False
    telegram: list[str] = field(default_factory=list)
    follow_links: bool = False
    start_urls: list[str] = field(default_factory=list)
    max_depth: int = 3
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    allowed_domains: list[str] = field(default_factory=list)
    max_pages: int = 1000
    crawl_delay: float | None = None
    # None: the [crawl] obey_robots setting; False: this source's robots.txt is ignored (logged)
    obey_robots: bool | None = None
    # Loopback/private addresses are refused unless a source says so (demo and tests do).
    allow_private: bool = False

    def __post_init__(self) -> None:
        if not self.allowed_domains:
            host = urlsplit(self.home).hostname
            self.allowed_domains = [host] if host else []
        # as scrapy names a request's host (IDNA, lower case), so that every check matches it
        self.allowed_domains = list(dict.fromkeys(map(slot_domain, self.allowed_domains)))
        for pattern in (*self.include, *self.exclude):
            try:
                re.compile(pattern)
            except re.error as err:
                raise SourcesError(f"source {self.name!r}: bad pattern {pattern!r}: {err}") from err

    @property
    def kinds(self) -> list[str]:
        flags = (self.feeds, self.sitemaps, self.wordpress, self.telegram, self.follow_links)
        return [kind for kind, on in zip(KINDS, flags, strict=True) if on]

    def allows(self, url: str) -> bool:
        """An http(s) URL on one of the source's allowed domains (file:, ftp:, data: at an
        allowed host name are not the site)."""
        host = slot_domain(urlsplit(url).hostname or "")
        return is_web_url(url) and host_matches(host, self.allowed_domains)


#: the schemes the crawler fetches (crawlers/safety.py refuses the others)
WEB_SCHEMES = ("http", "https")


def is_web_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in WEB_SCHEMES


def host_matches(host: str, domains) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (a trailing dot, the root's, is
    no part of a name: ``intranet.corp.`` is ``intranet.corp``)."""
    host = host.rstrip(".")
    return any(host == d or host.endswith("." + d) for d in (d.rstrip(".") for d in domains))


def slot_domain(domain: str) -> str:
    """A configured domain as scrapy names a request's host: lower case, IDNA (punycode),
    no trailing dot ("Пример.РФ." -> "xn--e1afmkfd.xn--p1ai")."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def configured_domain(host: str, domains) -> str | None:
    """The domain among ``domains`` (as ``slot_domain`` writes them) that ``host`` is, or is
    a subdomain of (the nearest)."""
    labels = host.lower().rstrip(".").split(".")
    for i in range(len(labels)):
        if (domain := ".".join(labels[i:])) in domains:
            return domain
    return None


def private_hosts(sources) -> set[str]:
    """The hosts that ``sources`` allow private addresses for (``allow_private``)."""
    return {d for s in sources if s.allow_private for d in s.allowed_domains}


#: what each key of a ``[[source]]`` holds: a value of another type is refused, naming it
#: (``allow_private = "false"``, a string, is true to Python: it let the crawl reach private
#: addresses; ``feeds = "https://..."`` was read as one address per character)
_TEXT, _TEXTS, _FLAG, _WHOLE, _NUMBER = "a string", "a list of strings", "true or false", \
    "a whole number >= 0", "a number >= 0"  # fmt: skip
_KEY_TYPES = {
    "name": _TEXT, "home": _TEXT, "feeds": _TEXTS, "sitemaps": _TEXTS, "wordpress": _FLAG,
    "telegram": _TEXTS, "follow_links": _FLAG, "start_urls": _TEXTS, "max_depth": _WHOLE,
    "include": _TEXTS, "exclude": _TEXTS, "languages": _TEXTS, "tags": "a table of strings",
    "allowed_domains": _TEXTS, "max_pages": _WHOLE, "crawl_delay": _NUMBER,
    "obey_robots": _FLAG, "allow_private": _FLAG,
}  # fmt: skip


def _fits(kind: str, value) -> bool:
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _TEXTS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == _FLAG:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == _WHOLE:
        return isinstance(value, int) and value >= 0
    if kind == _NUMBER:
        return isinstance(value, int | float) and value >= 0
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _check_types(path: Path, table: dict) -> None:
    for key, value in table.items():
        kind = _KEY_TYPES.get(key)
        if kind and not _fits(kind, value):
            raise SourcesError(
                f"{path}: source {table['name']!r}: {key} must be {kind}, not {value!r}"
            )


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
    unknown = sorted(set(data) - {"source"})
    if unknown:  # a misspelt [[sources]] gave no sources: a crawl of nothing that exits 0
        raise SourcesError(f"{path}: unknown key(s) {unknown}: each source is a [[source]] table")
    tables = data.get("source", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SourcesError(f"{path}: 'source' must be [[source]] tables")
    sources = []
    for i, table in enumerate(tables, 1):
        if "name" not in table or "home" not in table:
            raise SourcesError(f"{path}: source #{i} needs at least name and home")
        _check_types(path, table)
        try:
            source = Source(**table)
        except TypeError as err:
            raise SourcesError(f"{path}: source {table.get('name')!r}: {err}") from err
        if not source.kinds:
            raise SourcesError(
                f"{path}: source {source.name!r} has no entry point: give it feeds, sitemaps, "
                "wordpress = true, telegram or follow_links = true"
            )
        sources.append(source)
    names = [s.name for s in sources]
    if len(names) != len(set(names)):
        raise SourcesError(f"{path}: source names must be unique")
    return sources
