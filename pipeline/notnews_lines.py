"""A text's lines as the not-news rules (pipeline/notnews.py) read them: its sentences,
whether a line quotes the wording a rule matched, and what a scan of a page's lines found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A sentence ends at . ! ? … (and closing quotes or brackets); the next one starts with a
# capital, a digit or an opening quote, after a space or none ("połączeń.Zauważmy": pages
# flattened by a scraper lose the space).
# A quotation, once folded (« », „ “, “ ” are "; ‘ ’ are '): in double quotes; or in single
# ones that open after no letter and close before none, an apostrophe inside a word ("don't",
# "п'ять") being no quote mark, on a line longer than a button's (``quoting``): English
# headlines quote in single marks (Tax portal shows '503 Service Unavailable' to millions,
# cut from its article as a notice), and English buttons are named in them (Click 'Accept
# all cookies' to continue, a consent wall's own line). At most 400 characters: an opening
# mark never closed (Afrikaans 'n, Dutch 's) made each one scan to the end of a long line.
QUOTED = re.compile(r'"[^"]*"')
SINGLE_QUOTED = re.compile(r"(?<!\w)'(?:[^'\n]|'(?=\w)){1,400}?'(?!\w)")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”)\]]*\s*")


def quoting(folded: str, spans: list[tuple[int, int]], single: bool = False) -> bool:
    """Whether a folded line quotes what the rules matched: every match lies inside quotation
    marks ("..." once folded; '...' too where ``single``). A page's own notice is not in
    quotation marks; an article quotes one, in a headline or as a line of its own."""
    quotes = [m.span() for m in QUOTED.finditer(folded)]
    if single:
        quotes += [m.span() for m in SINGLE_QUOTED.finditer(folded)]
    return bool(quotes) and all(any(a <= s and e <= b for a, b in quotes) for s, e in spans)


def sentences(paragraph: str) -> list[str]:
    """A paragraph cut after . ! ? … where a capital, digit or quote follows."""
    out, start = [], 0
    for end in _SENTENCE_END.finditer(paragraph):
        following = paragraph[end.end() : end.end() + 1]
        if following and (following.isupper() or following.isdigit() or following in "\"'«„“("):
            out.append(paragraph[start : end.end()].strip())
            start = end.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


@dataclass
class Lines:
    """What ``Rules._scan`` found in a text, line by line."""

    weights: dict[str, int] = field(default_factory=dict)  # rule id -> characters of notices
    evidence: dict[str, str] = field(default_factory=dict)  # rule id -> its first line
    kept: list[str] = field(default_factory=list)  # the text without furniture lines
    removed: list[str] = field(default_factory=list)  # the furniture lines
    with_notices: list[str] = field(default_factory=list)  # what a page kept whole keeps
    stub_lines: list[str] = field(default_factory=list)  # notices of stub kinds
    plain: list[str] = field(default_factory=list)  # lines of prose
    other: int = 0  # characters of prose: lines of prose_line_chars or more that are no notice
    walls: int = 0  # wall notices
    past_wall: int = 0  # prose after the first wall notice
    labelled: bool = False  # a paywall label ("Premium") heads the text: a teaser may be longer

    def weigh(self, rule_id: str, source: str) -> None:
        self.weights[rule_id] = self.weights.get(rule_id, 0) + len(source)
        self.evidence.setdefault(rule_id, source)
