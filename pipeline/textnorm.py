"""Text normalisation shared by the stages: identity hashes, paragraphs, sentence fallback."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
# A sentence ends at . ! ? … (optionally followed by closing quotes or brackets) before
# whitespace and an upper-case letter, digit or opening quote. Used when a translation package
# ships no sentence-boundary model of its own.
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?…])|(?<=[.!?…][\"'»”)\]]))\s+(?=[\"'«“(\[]?[^\W_a-zа-яё])", re.UNICODE
)


def without_stray_nuls(html: str) -> str | None:
    """``html`` with its NUL characters dropped, or None where it is binary content read as
    text: that has a NUL in about every 256 characters (UTF-16 in every other), while a page
    of text with a stray one (a CMS's bug) keeps its article. More than one in a thousand is
    binary. The crawl and the extract stage (imports) both go by this."""
    nuls = html.count("\x00")
    if not nuls:
        return html
    return None if nuls * 1000 > len(html) else html.replace("\x00", "")


def normalize(text: str) -> str:
    """The form two texts share when they are the same piece: NFKC, case-folded, whitespace
    collapsed. Republished copies differ in markup and spacing, not in this form."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_hash(text: str) -> str:
    """128-bit hex digest of the normalised text (exact-copy identity)."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:32]


def sentence_hash(sentence: str) -> str:
    """Cache key of one sentence: its exact text, whitespace-trimmed (translation is
    case-sensitive, so no case folding here)."""
    return hashlib.sha256(sentence.strip().encode("utf-8")).hexdigest()[:32]


def paragraphs(text: str) -> list[str]:
    """Non-empty lines of an extracted text (extraction writes one paragraph a line)."""
    return [p.strip() for p in text.splitlines() if p.strip()]


def split_sentences(paragraph: str) -> list[str]:
    """Rule-based sentence split, for when no sentence-boundary model is available."""
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def cap_length(sentences: list[str], max_chars: int) -> list[str]:
    """Split any sentence longer than ``max_chars`` at whitespace, so no model input is cut
    off at the model's length limit: long run-on 'sentences' are translated piece by piece."""
    out = []
    for sentence in sentences:
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            if cut <= max_chars // 2:
                cut = max_chars
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out
