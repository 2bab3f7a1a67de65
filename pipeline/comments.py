"""Finding reader-comment sections in a page, in the many languages sites name them."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

# A class or id token that names a comment container: comment(s), comment-list/-item/...,
# and the same in German, French, Polish, Russian and Ukrainian, plus Disqus.
# "commentary" (an article genre) is deliberately not matched.
COMMENT_TOKEN = re.compile(
    r"^(?:(?:[a-z]+[-_])?comments?(?:[-_](?:list|item|body|content|text|area|section|container"
    r"|wrapper|thread|block))?|kommentar\w*|commentaires?\w*|komentarz\w*|коммент\w*|комент\w*"
    r"|disqus\w*|dsq-\w+)(?:[-_]?\d+)?$",
    re.IGNORECASE,
)
_NEVER = {"html", "body", "main"}
_WS = re.compile(r"\s+")


def normalise_space(text: str) -> str:
    return _WS.sub(" ", text).strip()


def comment_sections(tree: HtmlElement, max_share: float = 0.5) -> list[HtmlElement]:
    """Elements that hold reader comments.

    An element qualifies by a class or id token; it is skipped when it holds the page title
    (h1) or more than ``max_share`` of the page text, which is what a mislabelled wrapper
    around the whole article looks like.
    """
    total = len(tree.text_content() or "") or 1
    found: list[HtmlElement] = []
    for el in tree.iter():
        if not isinstance(el.tag, str) or el.tag in _NEVER or el.getparent() is None:
            continue
        tokens = (el.get("class") or "").split() + [el.get("id") or ""]
        if not any(token and COMMENT_TOKEN.match(token) for token in tokens):
            continue
        if found and found[-1] in el.iterancestors():
            continue  # inside a section already found
        if el.find(".//h1") is not None or len(el.text_content() or "") > max_share * total:
            continue
        found.append(el)
    return found


def drop_comment_lines(
    text: str, tree: HtmlElement, sections: list[HtmlElement], max_drop_share: float = 0.5
) -> tuple[str, int]:
    """Remove from extracted ``text`` the lines that only occur inside comment sections.

    The extractor keeps its own choice of main region (pruning the page before extraction
    changes that choice and costs recall); this removes what leaked from comment sections
    it did not recognise. A line also found outside them (an article sentence a reader
    quoted) stays. ``sections`` come from ``comment_sections(tree)``; ``tree`` is modified.
    Returns the text and the number of lines removed.
    """
    if not sections:
        return text, 0
    inside = [normalise_space(el.text_content() or "") for el in sections]
    for el in sections:
        el.drop_tree()
    outside = normalise_space(tree.text_content() or "")
    lines = text.split("\n")
    leaked = set()
    for i, line in enumerate(lines):
        norm = normalise_space(line)
        if norm and norm not in outside and any(norm in block for block in inside):
            leaked.add(i)
    # A "comment section" holding most of the extracted text is a mislabelled article wrapper.
    if sum(len(lines[i]) for i in leaked) > max_drop_share * len(text):
        return text, 0
    return "\n".join(line for i, line in enumerate(lines) if i not in leaked), len(leaked)
