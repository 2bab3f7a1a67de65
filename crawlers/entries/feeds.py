"""RSS 2.0, Atom and RDF feeds (feedparser, which tolerates broken and truncated feeds)."""

from __future__ import annotations

from datetime import UTC, datetime

from crawlers.entries import Link


def _iso(struct_time) -> str | None:
    if not struct_time:
        return None
    return datetime(*struct_time[:6], tzinfo=UTC).isoformat()


def parse_feed(body: bytes, content_type: str = "") -> tuple[list[Link], str | None]:
    """The feed's entries, and a warning when it is malformed (what parsed is still returned)."""
    import feedparser

    try:
        parsed = feedparser.parse(body, response_headers={"content-type": content_type})
    except Exception as err:  # noqa: BLE001 - feedparser means never to raise, but its loose
        # parser does on a character reference to a surrogate (&#xD800;: UnicodeEncodeError)
        return [], f"unreadable feed ({type(err).__name__})"
    warning = None
    if parsed.bozo:
        warning = f"malformed feed ({parsed.get('bozo_exception')}); using what parsed"
    links = []
    for entry in parsed.entries:
        if not entry.get("link"):
            continue
        # feedparser maps a missing `updated` to `published`; only a real <updated> (Atom)
        # says when an entry last changed
        updated = _iso(dict.get(entry, "updated_parsed"))
        published = _iso(dict.get(entry, "published_parsed")) or updated
        links.append(Link(entry["link"], entry.get("title"), published, updated))
    return links, warning
