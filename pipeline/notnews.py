"""Pages that are not news: block and challenge pages, consent walls, paywall stubs, error and
login pages. Called by the extract stage on each extracted page."""

from __future__ import annotations


def screen(result: dict, url: str | None = None) -> dict | tuple[str, str]:
    """The extraction ``result`` (text, title, ...) to keep, possibly with furniture removed,
    or (reason, detail) when the page is not news."""
    return result
