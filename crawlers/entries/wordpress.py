"""The WordPress REST API (/wp-json/wp/v2/posts): a site's whole archive, paged, with clean
rendered bodies (no theme, no comment form) and authors and categories resolved (``_embed``)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

_TAGS = re.compile(r"<[^>]+>")
# JSON's \ud800 escapes: Python keeps an unpaired one, which DuckDB refuses to store
_SURROGATE = re.compile("[\ud800-\udfff]")


def posts_url(home: str, page: int, per_page: int, modified_after: str | None = None,
              modified_before: str | None = None) -> str:  # fmt: skip
    query = {"page": page, "per_page": per_page, "_embed": "author,wp:term",
             "orderby": "modified", "order": "desc"}  # fmt: skip
    if modified_after:
        query["modified_after"] = modified_after
    if modified_before:
        query["modified_before"] = modified_before
    return f"{home.rstrip('/')}/wp-json/wp/v2/posts?{urlencode(query)}"


@dataclass(slots=True)
class Post:
    url: str
    title: str
    html: str  # a minimal page around the rendered content, for the extract stage
    published: str | None
    author: str | None
    categories: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def _plain(rendered: str) -> str:
    return html.unescape(_TAGS.sub("", rendered or "")).strip()


def _gmt(value: str | None) -> str | None:
    return f"{value}+00:00" if value and "+" not in value and not value.endswith("Z") else value


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _str(value) -> str | None:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else None


def parse_posts(body: bytes) -> list[Post]:
    """Posts of one API page. Raises ValueError when the body is not a list of posts; a field
    of the wrong type (a title that is no object, a date that is a number) counts as absent."""
    try:
        data = json.loads(body)
    except RecursionError as err:
        raise ValueError("JSON nested too deeply to read") from err
    if not isinstance(data, list):
        raise ValueError(f"expected a list of posts, got {type(data).__name__}")
    posts = []
    for item in data:
        if not isinstance(item, dict) or not _str(item.get("link")):
            continue
        embedded = _dict(item.get("_embedded"))
        authors = [
            _str(a.get("name")) for a in _list(embedded.get("author")) if isinstance(a, dict)
        ]
        terms = [t for group in _list(embedded.get("wp:term")) for t in _list(group)
                 if isinstance(t, dict)]  # fmt: skip
        categories = [_str(t.get("name")) for t in terms if t.get("taxonomy") == "category"]
        tags = [_str(t.get("name")) for t in terms if t.get("taxonomy") == "post_tag"]
        title = _plain(_str(_dict(item.get("title")).get("rendered")) or "")
        content = _str(_dict(item.get("content")).get("rendered")) or ""
        published = _gmt(_str(item.get("date_gmt")))
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title>"
            f'<meta property="article:published_time" content="{html.escape(published or "")}">'
            f'<meta property="og:title" content="{html.escape(title)}">'
            # the title stays out of the body, as the theme's page would keep it in a header
            f"</head><body><article>{content}</article></body></html>"
        )
        posts.append(
            Post(
                url=_str(item["link"]),
                title=title,
                html=page,
                published=published,
                author=next((a for a in authors if a), None),
                categories=[c for c in categories if c],
                meta={
                    "wp_id": item["id"] if type(item.get("id")) is int else None,
                    "modified_gmt": _gmt(_str(item.get("modified_gmt"))),
                    "tags": [t for t in tags if t],
                    "via": "wp-json",
                },  # fmt: skip
            )
        )
    return posts
