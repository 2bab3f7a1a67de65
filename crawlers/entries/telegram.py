"""Telegram public channels through their web preview (t.me/s/<channel>): each post becomes a
document, and ``?before=<id>`` pages back through the channel's history."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_VIEWS = re.compile(r"^(\d[\d.,]{0,15})\s*([KM]?)$", re.IGNORECASE | re.ASCII)


def channel_url(entry: str) -> str:
    """A channel name (``rt_russian``, ``@rt_russian``) or a preview URL, as a preview URL."""
    if "/" in entry:
        return entry
    return f"https://t.me/s/{entry.lstrip('@')}"


@dataclass(slots=True)
class ChannelPost:
    url: str  # https://t.me/<channel>/<id>: the post's own address
    post_id: int
    channel: str
    text: str
    published: str | None
    views: int | None
    forwarded_from: str | None
    links: list[str] = field(default_factory=list)


def post_title(text: str) -> str:
    """A post's title: its first line, up to 140 characters (a post has no headline). The
    not-news rules know a title that is a post's first line by its address (``post_urls``)."""
    return text.split("\n", 1)[0][:140]


def _views(text: str | None) -> int | None:
    m = _VIEWS.match((text or "").strip())
    if not m:
        return None
    try:
        number = float(m.group(1).replace(",", ""))
    except ValueError:  # "1.2.3"
        return None
    return int(number * {"": 1, "K": 1_000, "M": 1_000_000}[m.group(2).upper()])


def _post_id(text: str | None) -> int | None:
    """A post id in ASCII digits (``str.isdigit`` also takes "²", which ``int`` refuses)."""
    return int(text) if text and len(text) <= 18 and text.isascii() and text.isdigit() else None


def parse_channel(html: str) -> tuple[list[ChannelPost], int | None]:
    """The posts on one preview page (oldest first, as shown), and the id to page back from
    (``?before=``), None at the start of the channel."""
    from parsel import Selector

    page = Selector(text=html)
    posts = []
    for message in page.css(".tgme_widget_message[data-post]"):
        # one attribute, not .attrib: that reads them all, and lxml refuses to hand over a
        # name with a control character in it (ValueError)
        data_post = message.xpath("@data-post").get("")
        channel, _, number = data_post.rpartition("/")
        post_id = _post_id(number)
        if not channel or post_id is None:
            continue
        body = message.css(".tgme_widget_message_text")
        # line breaks are <br>: keep them as newlines
        raw = re.sub(r"<br\s*/?>", "\n", body.get() or "")
        text = Selector(text=raw).xpath("string()").get("").strip() if raw else ""
        forwarded = message.css(".tgme_widget_message_forwarded_from_name ::text").get()
        posts.append(
            ChannelPost(
                url=f"https://t.me/{data_post}",
                post_id=post_id,
                channel=channel,
                text=text,
                published=message.css(".tgme_widget_message_date time::attr(datetime)").get(),
                views=_views(message.css(".tgme_widget_message_views::text").get()),
                forwarded_from=forwarded.strip() if forwarded else None,
                links=body.css("a::attr(href)").getall() if body else [],
            )
        )
    before = page.css(".tme_messages_more::attr(data-before)").get()
    if before is None and posts:
        prev = page.css('link[rel="prev"]::attr(href)').get()
        before = prev.rsplit("before=", 1)[-1] if prev and "before=" in prev else None
    return posts, _post_id(before)
