"""The shape of a stub page, for wording no rule of ``pipeline/data/notnews.toml`` knows: a
short text that talks mostly about the site itself (its pages, access, browser checks,
cookies, subscriptions, accounts) and addresses the reader.

Rules match a stub's exact wording, and each bot check, ISP block notice, hosting provider
and consent platform words its page its own way. This check needs no wording: it counts the
words of a text that belong to the lexicon of one stub kind or another (``[shape.words]``,
word beginnings in many languages) and the words that address the reader (``you``). A text
of ``min_words`` to ``max_words`` words with at least ``density`` of them in the lexicon and
``you`` words addressing the reader is a stub, of the kind whose words it has most. Articles
are longer; a short news post about a website does not address its reader, and headlines are
shorter than ``min_words``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

WORD = re.compile(r"\w+(?:[-']\w+)*")
# quotations in the raw text (notnews_lines.QUOTED reads folded text; the cased "Sie" needs the raw)
QUOTED = re.compile(r'"[^"\n]{1,400}"|«[^»\n]{1,400}»|„[^“”\n]{1,400}[“”]|“[^”\n]{1,400}”')
SETTINGS = (
    "min_words",
    "max_words",
    "density",
    "you",
    "you_words",
    "you_cased",
    "we_words",
    "words",
)


@dataclass(frozen=True)
class Shape:
    min_words: int
    max_words: int
    density: float
    you: int
    you_words: frozenset[str]
    exact: dict[str, str]  # whole word -> kind
    prefixes: tuple[tuple[str, str], ...]  # (word beginning, kind), longest first
    order: tuple[str, ...] = ()  # the kinds in the file's order, for ties
    # words addressing the reader only where capitalised in mid-sentence (German "Sie")
    cased: re.Pattern | None = None
    # words of a site speaking of itself ("we", "our"): only ``voiced`` reads them
    we_words: frozenset[str] = frozenset()

    @classmethod
    def from_table(cls, table: dict, kinds: tuple[str, ...], error: type[Exception]) -> Shape:
        """The ``[shape]`` table of a rules file, checked; ``error`` names what is wrong."""
        unknown = sorted(set(table) - set(SETTINGS))
        if unknown:
            raise error(f"[shape]: unknown key(s) {unknown}; known: {SETTINGS}")
        words = table.get("words", {})
        bad = sorted(set(words) - set(kinds))
        if bad:
            raise error(f"[shape.words]: {bad} are not kinds; kinds are {kinds}")
        exact, prefixes = {}, []
        for kind, stems in words.items():
            if not isinstance(stems, list) or not all(isinstance(s, str) and s for s in stems):
                raise error(f"[shape.words] {kind}: a list of non-empty strings")
            for stem in stems:
                if stem.startswith("="):
                    exact[stem[1:]] = kind
                else:
                    prefixes.append((stem, kind))
        try:
            return cls(
                min_words=int(table.get("min_words", 15)),
                max_words=int(table.get("max_words", 160)),
                density=float(table.get("density", 0.12)),
                you=int(table.get("you", 1)),
                you_words=frozenset(table.get("you_words", [])),
                we_words=frozenset(table.get("we_words", [])),
                exact=exact,
                prefixes=tuple(sorted(prefixes, key=lambda p: -len(p[0]))),
                order=tuple(words),
                cased=re.compile(rf"(?<=[^\W\d_] )(?:{'|'.join(map(re.escape, cased))})\b")
                if (cased := table.get("you_cased"))
                else None,
            )
        except (TypeError, ValueError) as err:
            raise error(f"[shape]: {err}") from err

    def kind_of(self, word: str) -> str | None:
        if word in self.exact:
            return self.exact[word]
        return next((kind for stem, kind in self.prefixes if word.startswith(stem)), None)

    def addresses(self, text: str, fold: Callable[[str], str]) -> bool:
        """Whether the text addresses its reader (``you`` words or more), outside quotation
        marks: a reader addressed inside them is someone quoted (news), not the page."""
        unquoted = QUOTED.sub(" ", text)
        you = sum(w in self.you_words for w in WORD.findall(fold(unquoted)))
        if self.cased is not None and you < self.you:
            you += len(self.cased.findall(unquoted))
        return you >= self.you

    def voiced(self, text: str, fold: Callable[[str], str]) -> bool:
        """Whether the text addresses its reader or speaks as the site ("we", "our"), outside
        quotation marks: a site's own notice does, a news report about a site does not."""
        if self.addresses(text, fold):
            return True
        return any(w in self.we_words for w in WORD.findall(fold(QUOTED.sub(" ", text))))

    def judge(self, text: str, fold: Callable[[str], str]) -> tuple[str, str] | None:
        """(kind, evidence) when the text has a stub's shape; ``fold`` folds it as the rules
        fold what they match (pipeline.notnews.fold)."""
        # an article is over max_words: counted without reading (or folding) all of it
        if len(list(islice(WORD.finditer(text), self.max_words + 1))) > self.max_words:
            return None
        words = WORD.findall(fold(text))
        if not self.min_words <= len(words) <= self.max_words:
            return None
        if not self.addresses(text, fold):
            return None
        counts: dict[str, int] = {}
        found: list[str] = []
        for word in words:
            kind = self.kind_of(word)
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + 1
                found.append(word)
        share = sum(counts.values()) / len(words)
        if share < self.density:
            return None
        kind = min(counts, key=lambda k: (-counts[k], self.order.index(k)))
        shown = ", ".join(dict.fromkeys(found))
        return kind, f"{share:.2f} of {len(words)} words: {shown}"
