"""Hypothesis strategies for hostile input (issue 14): the characters, markup and JSON that
break parsers, shared by the property tests (tests/pipeline/test_properties.py,
tests/crawlers/test_import_properties.py, tests/crawlers/test_entries_properties.py)."""

from __future__ import annotations

import html
import time
from contextlib import contextmanager

from hypothesis import strategies as st

# zero-width spaces and joiners, word joiner, BOM, soft hyphen, bidi marks, embeddings,
# overrides and isolates, line and paragraph separators, NUL, CR, ESC
INVISIBLE = (
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u061c",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u2028", "\u2029", "\x00", "\r", "\x1b",
)  # fmt: skip
# words of the scripts the pipeline reads (right-to-left ones included), chatbot leftovers the
# signals rules look for, quotation marks they weigh, and markup that parsers treat specially
WORDS = (
    "Правительство", "объявило", "government", "announced", "الحكومة", "أعلنت", "הממשלה",
    "Would you like me to tailor this piece", "As an AI language model", "I cannot",
    "«", "»", '"', "“", "”", "„", "\n", "\n\n", " ", "&amp;", "&#0;", "&#xD800;", "&#x202E;",
    "<", ">", "]]>", "<!--", "-->", "https://t.me/s/x", "²", "١٢٣",
)  # fmt: skip

# any text a UTF-8 store can hold (no lone surrogates: DuckDB refuses them, so no stage
# downstream of storage ever sees one), weighted towards the characters above
hostile_text = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=20),
        st.sampled_from(INVISIBLE),
        st.sampled_from(WORDS),
        st.text(
            st.characters(categories=("Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Co", "Cc")), max_size=6
        ),  # fmt: skip
    ),
    max_size=30,
).map("".join)

TAGS = (
    "div", "p", "span", "a", "b", "i", "article", "main", "section", "aside", "nav", "footer",
    "h1", "h2", "table", "tr", "td", "ul", "li", "blockquote", "pre", "script", "style",
    "noscript", "template", "iframe", "svg", "math", "textarea", "title", "form", "select",
    "font", "marquee", "html", "body", "head", "time",
)  # fmt: skip
LEAVES = ("<br>", "<img src=x>", "<hr>", "<meta charset=koi8-r>", "<!-- c -->",
          "<![CDATA[x]]>", "<?php x ?>", "</div>", "</p>", "<p", "&")  # fmt: skip
# class names the comment and furniture filters and the Telegram parser look for
CLASSES = ("", "comment", "comments", "related", "share", "sidebar", "teaser", "entry-content",
           "tgme_widget_message_text", "tgme_widget_message")  # fmt: skip


def _element(tag: str, cls: str, attr: str, children: list[str], closed: bool) -> str:
    attrs = (f' class="{cls}"' if cls else "") + f' data-x="{attr}"'
    return f"<{tag}{attrs}>{''.join(children)}" + (f"</{tag}>" if closed else "")


markup = st.recursive(
    st.one_of(hostile_text, hostile_text.map(html.escape), st.sampled_from(LEAVES)),
    lambda inner: st.builds(
        _element,
        st.sampled_from(TAGS),
        st.sampled_from(CLASSES),
        hostile_text,
        st.lists(inner, max_size=4),
        st.booleans(),
    ),  # fmt: skip
    max_leaves=25,
)
HEADS = ("", "<!DOCTYPE html>", "<!DOCTYPE html><html><head><title>T</title></head><body>",
         "<?xml version='1.0' encoding='utf-16'?>", '<html><head><meta charset="koi8-r">')  # fmt: skip
pages = st.builds(str.__add__, st.sampled_from(HEADS), markup)

# any JSON value: what a field of the wrong type may hold
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


def nested(open_tag: str, close_tag: str, depth: int = 100_000, inner: str = "") -> str:
    """Markup nested ``depth`` deep around ``inner``."""
    return open_tag * depth + inner + close_tag * depth


@contextmanager
def within(seconds: float):
    """Fail when the block takes longer than ``seconds`` (hostile input must cost bounded
    time; the bounds are generous for a shared machine)."""
    started = time.perf_counter()
    yield
    took = time.perf_counter() - started
    assert took < seconds, f"took {took:.1f} s (bound {seconds} s)"


def assert_storable(value) -> None:
    """Every string in a result encodes as UTF-8, as DuckDB needs to store it."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, list | tuple):
        for item in value:
            assert_storable(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            assert_storable(getattr(value, name))
