"""A keyword hit's snippet: the piece of its text where the search found a term."""

from __future__ import annotations

import re

from storage.search import ARABIC_ARTICLE, UNSPACED_CHARACTER, starts_words, takes_article

# after no letter or digit, or after a character of a script written without spaces
WORD_START = f"(?:(?<![^\\W_])|(?<={UNSPACED_CHARACTER.pattern}))"


def _start(term: str) -> str:
    """What may come before ``term`` where the keyword search finds it: a word's start, and
    for an Arabic word the article written as part of it (storage.search.pattern)."""
    if not starts_words(term):
        return ""
    return WORD_START + (ARABIC_ARTICLE if takes_article(term) else "")


def snippet(text: str | None, terms: list[str], width: int = 160) -> str | None:
    """About ``width`` characters of ``text`` around the first place a term is found where the
    keyword search finds it; None where no term is found."""
    if not text:
        return None
    found = (
        re.search(_start(t) + re.escape(t), text, re.I) for t in terms
    )  # where a word starts, as the search matched it (storage.search); in the text itself:
    # lower() makes two characters of "İ", and the places found in it were off in the text
    hits = [m.start() for m in found if m]
    if not hits:
        return None
    start = max(0, min(hits) - width // 3)
    piece = text[start : start + width].replace("\n", " ")
    return ("…" if start else "") + piece + ("…" if start + width < len(text) else "")
