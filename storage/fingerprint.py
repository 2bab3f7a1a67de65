"""What a page says, for telling a changed article from a changed page around it.

A page is a new version when its content changes, not when its sidebar lists a new post, a
comment is added, a script's cache-buster or a CSRF token changes: on a WordPress site every
post's HTML changes with each new post (the "recent posts" widget), which made most stored
versions copies of the one before (the soak benchmark: 132 of 241). The fingerprint is the
text of the page without the parts that change on their own: scripts, styles, forms,
navigation, asides, page-level headers and footers, and elements whose class or id names a
sidebar, widget, related or recent list, comments, sharing, menu, breadcrumbs, banner, ads,
newsletter or cookie notice. The title and the article's own header stay in. It is computed
when a page is written, in the crawl's writer thread, never on the reactor.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree, html

PREFIX = "c1:"  # the fingerprint's version: a change to the rules below takes a new prefix

_VOLATILE_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "form", "nav", "aside",
    "button", "select", "textarea",
)  # fmt: skip
_VOLATILE_NAMES = re.compile(
    r"(?:^|[\s_-])(?:sidebar|widgets?|related|recent|popular|trending|comments?|share|sharing"
    r"|social|menu|navbar|breadcrumbs?|banner|ads?|advert\w*|promo|newsletter|subscribe"
    r"|cookies?)(?:$|[\s_-])",
    re.IGNORECASE,
)
_IN_CONTENT = "ancestor::article or ancestor::main"


def content_digest(page_html: str) -> str | None:
    """``c1:`` + the SHA-256 of the page's content text; None when the HTML cannot be read or
    leaves no text (the caller then hashes the raw body)."""
    try:
        tree = html.document_fromstring(page_html)
    except (etree.ParserError, ValueError):
        return None
    for element in tree.xpath("//" + " | //".join(_VOLATILE_TAGS)):
        _drop(element)
    for element in tree.xpath(f"//header[not({_IN_CONTENT})] | //footer[not({_IN_CONTENT})]"):
        _drop(element)
    for element in tree.xpath("//*[@class or @id]"):
        names = f"{element.get('class', '')} {element.get('id', '')}"
        if _VOLATILE_NAMES.search(names) and element.tag not in ("html", "body"):
            _drop(element)
    text = " ".join(tree.text_content().split())
    if not text:
        return None
    return PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _drop(element) -> None:
    """Remove an element and what it holds, keeping the text that follows it."""
    if element.getparent() is not None:
        element.drop_tree()
