"""The WordPress REST API (/wp-json/wp/v2/posts): a site's whole archive, paged, with clean
rendered bodies (no theme, no comment form) and authors and categories resolved (``_embed``)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

_TAGS = re.compile(r"<[^>]+>")


def posts_url(home: str, page: int, per_page: int, modified_after: str | None = None) -> str:
    query = {"page": page, "per_page": per_page, "_embed": "author,wp:term",
             "orderby": "modified", "order": "desc"}  # fmt: skip
    if modified_after:
        query["modified_after"] = modified_after
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


def parse_posts(body: bytes) -> list[Post]:
    """Posts of one API page. Raises ValueError when the body is not a list of posts."""
    data = json.loads(body)
    if not isinstance(data, list):
        raise ValueError(f"expected a list of posts, got {type(data).__name__}")
    posts = []
    for item in data:
        if not isinstance(item, dict) or not item.get("link"):
            continue
        embedded = item.get("_embedded") or {}
        authors = [a.get("name") for a in embedded.get("author") or [] if isinstance(a, dict)]
        terms = [t for group in embedded.get("wp:term") or [] for t in group or []]
        categories = [t.get("name") for t in terms if t.get("taxonomy") == "category"]
        tags = [t.get("name") for t in terms if t.get("taxonomy") == "post_tag"]
        title = _plain((item.get("title") or {}).get("rendered", ""))
        content = (item.get("content") or {}).get("rendered", "")
        published = _gmt(item.get("date_gmt"))
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
                url=item["link"],
                title=title,
                html=page,
                published=published,
                author=next((a for a in authors if a), None),
                categories=[c for c in categories if c],
                meta={
                    "wp_id": item.get("id"),
                    "modified_gmt": _gmt(item.get("modified_gmt")),
                    "tags": [t for t in tags if t],
                    "via": "wp-json",
                },  # fmt: skip
            )
        )
    return posts
