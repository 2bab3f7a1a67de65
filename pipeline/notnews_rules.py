"""The rules file of pipeline/notnews.py (``pipeline/data/notnews.toml``, documented there):
read, checked (a malformed file names the rule and the key) and compiled."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass

from pipeline.stubshape import Shape
from pipeline.textnorm import normalize

# A page's kind, when several match with the same weight, is the first of these.
KINDS = ("challenge", "block", "error", "login", "paywall", "consent", "boilerplate")
# Kinds that make a page a stub when little else is left; boilerplate is only taken out.
STUB_KINDS = frozenset(KINDS) - {"boilerplate"}
STUB_KIND_ORDER = tuple(k for k in KINDS if k in STUB_KINDS)
RULE_KEYS = ("id", "kind", "languages", "phrases", "patterns", "titles", "urls")
LIMIT_KEYS = (
    "furniture_line_chars",
    "short_line_chars",
    "line_coverage",
    "prose_line_chars",
    "article_chars",
    "article_chars_stub_title",
    "paragraph_share",
    "teaser_chars",
    "paywall_chars",
    "title_alone_chars",
    "notice_alone_kinds",
    "post_urls",
)
_FOLD = str.maketrans({"ё": "е", "’": "'", "‘": "'", "ʼ": "'", "`": "'", "«": '"', "»": '"',
                       "„": '"', "“": '"', "”": '"', "–": "-", "—": "-"})  # fmt: skip
_DOTLESS = str.maketrans("ı", "i")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")


def fold(text: str) -> str:
    """What rules match against: NFKC (so "…" is "..."), case-folded, ё as е, straight quotes
    and apostrophes, plain hyphens, single spaces."""
    return normalize(text).translate(_FOLD)


class RulesError(ValueError):
    """The rules file is malformed; the message names the rule and the key."""


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    languages: tuple[str, ...]
    line: re.Pattern | None  # phrases and patterns, searched in each folded line
    title: re.Pattern | None  # matched against the whole folded title and each part of it
    url: re.Pattern | None  # searched in the final URL
    # What ``line`` needs to match at all, checked first (most lines of an article match no
    # rule, and ``line`` tries every phrase at every position): one of its phrases as plain
    # text, one of its patterns anchored with ^ matching at the start, or another pattern.
    phrases: tuple[str, ...] = ()
    anchored: re.Pattern | None = None
    unanchored: re.Pattern | None = None

    def may_match(self, folded: str, plain: str | None = None) -> bool:
        """False only when ``line`` cannot match the folded line: a cheap test first.
        ``plain`` is ``dotless(folded)``, when the caller has it for every rule."""
        plain = dotless(folded) if plain is None else plain
        return (
            any(p in plain for p in self.phrases)
            or (self.anchored is not None and self.anchored.match(folded) is not None)
            or (self.unanchored is not None and self.unanchored.search(folded) is not None)
        )


@dataclass(frozen=True)
class Limits:
    furniture_line_chars: int = 400
    short_line_chars: int = 80
    line_coverage: float = 0.2
    prose_line_chars: int = 30
    article_chars: int = 250
    article_chars_stub_title: int = 1000
    paragraph_share: float = 0.34
    teaser_chars: int = 1000
    paywall_chars: int = 600
    title_alone_chars: int = 100
    notice_alone_kinds: tuple[str, ...] = ("block",)
    #: addresses of channel posts (post_urls, joined): a post's title is its first line
    post_urls: re.Pattern | None = None


def _compile(rule_id: str, key: str, patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise RulesError(f"rule {rule_id!r}: {key} pattern {pattern!r}: {err}") from err
    return patterns


def _joined(patterns: list[str], full: bool = False) -> re.Pattern | None:
    if not patterns:
        return None
    body = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(f"(?:{body})$" if full else body, re.IGNORECASE)


def _rule(raw: dict, seen: set[str]) -> Rule:
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RulesError(f"a rule without an id: {sorted(raw)}")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise RulesError(f"rule {rule_id!r}: unknown key(s) {unknown}; known: {RULE_KEYS}")
    if rule_id in seen:
        raise RulesError(f"rule {rule_id!r} is defined twice")
    if raw.get("kind") not in KINDS:
        raise RulesError(f"rule {rule_id!r}: kind {raw.get('kind')!r} is not one of {KINDS}")
    lists = {}
    for key in ("languages", "phrases", "patterns", "titles", "urls"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise RulesError(f"rule {rule_id!r}: {key} must be a list of non-empty strings")
        lists[key] = value
    if not any(lists[k] for k in ("phrases", "patterns", "titles", "urls")):
        raise RulesError(f"rule {rule_id!r} has no phrases, patterns, titles or urls")
    # a phrase matches as whole words, in the folded text (so folded here too)
    literals = tuple(dict.fromkeys(fold(p) for p in lists["phrases"]))
    phrases = [rf"(?<!\w){re.escape(p)}(?!\w)" for p in literals]
    patterns = _compile(rule_id, "patterns", lists["patterns"])
    line = _joined(phrases + patterns)
    # a backreference's number would change apart from the other patterns: no quick test then
    referring = any(_BACKREFERENCE.search(p) for p in patterns)
    anchored = [] if referring else [p for p in patterns if _anchored(p)]
    return Rule(
        id=rule_id,
        kind=raw["kind"],
        languages=tuple(lists["languages"]),
        line=line,
        title=_joined(_compile(rule_id, "titles", lists["titles"]), full=True),
        url=_joined(_compile(rule_id, "urls", lists["urls"])),
        # IGNORECASE matches "ı" as "i", which folding keeps apart
        phrases=tuple(p.translate(_DOTLESS) for p in literals),
        anchored=_joined(anchored),
        unanchored=line if referring else _joined([p for p in patterns if p not in anchored]),
    )


def dotless(folded: str) -> str:
    """What a rule's phrases are looked for in: IGNORECASE matches "ı" as "i"."""
    return folded.translate(_DOTLESS) if "ı" in folded else folded


def _anchored(pattern: str) -> bool:
    """Whether every match of ``pattern`` starts at the start of the line (it begins with ^
    outside any group or alternative), as Python's own parser reads it."""
    from re import _constants, _parser

    parsed = _parser.parse(pattern)
    return len(parsed) > 0 and parsed[0] == (_constants.AT, _constants.AT_BEGINNING)


def read_rules(text: str) -> tuple[tuple[Rule, ...], Limits, str, Shape | None]:
    """A rules file's text, checked and compiled: its rules, limits, digest and shape."""
    data = tomllib.loads(text)
    unknown = sorted(set(data) - {"limits", "rule", "shape"})
    if unknown:
        raise RulesError(
            f"unknown table(s) {unknown}; a rules file has [limits], [[rule]], [shape]"
        )
    limits = data.get("limits", {})
    bad = sorted(set(limits) - set(LIMIT_KEYS))
    if bad:
        raise RulesError(f"unknown limit(s) {bad}; known: {LIMIT_KEYS}")
    seen: set[str] = set()
    rules = []
    for raw in data.get("rule", []):
        rules.append(_rule(raw, seen))
        seen.add(rules[-1].id)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    shape = (
        Shape.from_table(data["shape"], STUB_KIND_ORDER, RulesError) if "shape" in data else None
    )
    if "notice_alone_kinds" in limits:
        kinds = limits["notice_alone_kinds"]
        if not isinstance(kinds, list) or not set(kinds) <= STUB_KINDS:
            raise RulesError(f"notice_alone_kinds: a list of {sorted(STUB_KINDS)}")
        limits = {**limits, "notice_alone_kinds": tuple(kinds)}
    if "post_urls" in limits:
        urls = limits["post_urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise RulesError("post_urls: a list of regular expressions")
        for pattern in urls:
            try:
                re.compile(pattern)
            except re.error as err:
                raise RulesError(f"[limits] post_urls: pattern {pattern!r}: {err}") from err
        limits = {**limits, "post_urls": _joined(urls)}
    return tuple(rules), Limits(**limits), digest, shape
