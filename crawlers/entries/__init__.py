"""Entry points of a source: each module turns one fetched listing into links or documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Link:
    """A page an entry point lists, with what the listing says about it."""

    url: str
    title: str | None = None
    published: str | None = None  # ISO 8601
    lastmod: str | None = None  # ISO 8601: when the listing says the page last changed
