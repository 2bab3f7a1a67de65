"""Generic site crawl: which pages are articles, and which links are worth following."""

from __future__ import annotations

import json
import re

ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle",
                 "analysisnewsarticle", "opinionnewsarticle"}  # fmt: skip
# Listing pages and traps that multiply URLs without adding articles: tag, category, author
# and date archives, search, calendars, paging, feeds, share/print/reply variants, logins.
TRAPS = (
    r"/(tag|tags|category|categories|author|search|calendar|events?|page|feed|amp|print)(/|$)",
    r"/(wp-login\.php|wp-admin|cart|login|signin|register)",
    r"[?&](s|q|search|replytocom|share|print|output|format|amp|date|month|year|calendar|"
    r"page|paged|sort|order|filter)=",
    r"/\d{4}/\d{1,2}(/\d{1,2})?/?$",
    r"\.(jpe?g|png|gif|webp|svg|pdf|zip|mp[34]|avi|mov|docx?|xlsx?|pptx?|css|js)(\?|$)",
)


def article_signal(page, min_chars: int = 500) -> str | None:
    """Why a page looks like an article ('og:type', 'json-ld', 'body length'), or None.

    ``page`` is HTML text or an already parsed selector (a scrapy response's ``selector``,
    which its link extraction parses anyway)."""
    from parsel import Selector

    if isinstance(page, str):
        page = Selector(text=page)
    og = page.css('meta[property="og:type"]::attr(content)').get("")
    if og.strip().lower() == "article":
        return "og:type"
    for block in page.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(block)
        except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
            continue
        items = data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(
            data, dict) else []  # fmt: skip
        items = items if isinstance(items, list) else [items]  # "@graph": {...}
        for item in items:
            kinds = item.get("@type") if isinstance(item, dict) else None
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(isinstance(k, str) and k.lower() in ARTICLE_TYPES for k in kinds):
                return "json-ld"
    paragraphs = " ".join(page.css("p ::text").getall())
    if len(re.sub(r"\s+", " ", paragraphs)) >= min_chars:
        return "body length"
    return None
