"""What a page says, for telling a changed article from a changed page around it.

A page is a new version when its content changes, not when its sidebar lists a new post, a
comment is added, a script's cache-buster or a CSRF token changes: on a WordPress site every
post's HTML changes with each new post (the "recent posts" widget), which made most stored
versions copies of the one before (the soak benchmark: 132 of 241). The fingerprint is the
text of the page without the parts that change on their own: scripts, styles, forms,
navigation, asides, page-level headers and footers, and elements whose class or id names a
sidebar, widget, related or recent list, comments, sharing, menu, breadcrumbs, banner, ads,
newsletter or cookie notice, unless they hold the article. The title and the article's own
header stay in. It is computed when a page is written, in the crawl's writer thread, never on
the reactor.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree, html

PREFIX = "c1:"  # the fingerprint's version: a change to the rules below takes a new prefix

_VOLATILE_TAGS = ("svg", "iframe", "form", "nav", "aside", "button", "select", "textarea")
_VOLATILE_NAMES = re.compile(
    r"(?:^|[\s_-])(?:sidebar|widgets?|related|recent|popular|trending|comments?|share|sharing"
    r"|social|menu|navbar|breadcrumbs?|banner|ads?|advert\w*|promo|newsletter|subscribe"
    r"|cookies?)(?:$|[\s_-])",
    re.IGNORECASE,
)
_IN_CONTENT = "ancestor::article or ancestor::main"
_CONTENT_TAGS = ("article", "main", "h1")
_HOLDS_CONTENT = "boolean(.//article | .//main | .//h1)"


def content_digest(page_html: str) -> str | None:
    """``c1:`` + the SHA-256 of the page's content text; None when the HTML cannot be read or
    leaves no text (the caller then hashes the raw body).

    Nothing that holds the article is dropped, whatever its name: an element that is, or
    holds, an ``article``, ``main`` or ``h1`` stays (a whole page inside an ASP.NET ``<form>``,
    ``<article class="tag-social">``, a layout ``<div class="has-sidebar">``). And when what is
    left is under a third of the page's text, the names misled (an Elementor body is a
    ``...-widget-theme-post-content``): the page's whole text decides."""
    try:
        tree = html.document_fromstring(page_html)
    except (etree.ParserError, ValueError):
        return None
    for element in tree.xpath("//script | //style | //noscript | //template"):
        _drop(element)
    whole = _text(tree)
    if not whole:
        return None
    for element in tree.xpath("//" + " | //".join(_VOLATILE_TAGS)):
        _drop(element)
    for element in tree.xpath(f"//header[not({_IN_CONTENT})] | //footer[not({_IN_CONTENT})]"):
        _drop(element)
    for element in tree.xpath("//*[@class or @id]"):
        names = f"{element.get('class', '')} {element.get('id', '')}"
        if element.tag not in ("html", "body") and _VOLATILE_NAMES.search(names):
            _drop(element)
    kept = _text(tree)
    text = kept if 3 * len(kept) >= len(whole) else whole
    return PREFIX + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _text(tree) -> str:
    return " ".join(tree.text_content().split())


def _drop(element) -> None:
    """Remove an element and what it holds, keeping the text that follows it; never one that
    is or holds the article."""
    if element.getparent() is None or element.tag in _CONTENT_TAGS:
        return
    if element.xpath(_HOLDS_CONTENT):
        return
    element.drop_tree()
