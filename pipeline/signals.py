"""Machine-written-text signals: a chatbot's leftovers (offers, preambles, refusals, cutoff
remarks, placeholders, prompt echoes) in a document's extracted text, found by the rules of
pipeline/data/signals.toml, scored by where they stand, and a decision per document."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

from pipeline.config import ConfigError, stage_options
from pipeline.contract import Stage
from storage.outputs.signals import SignalHit, SignalResult
from storage.records import DocInput

POSITIONS = ("title", "lead", "body", "trailing")
#: what a hit adds, as a share of its rule's weight, by where it stands
POSITION_FACTOR = {"title": 1.0, "lead": 1.0, "body": 0.5, "trailing": 1.0}
#: a hit inside quotation marks (an article quoting a chatbot) counts this much of it
QUOTED_FACTOR = 0.25
#: score at which a document is decided machine-written (README: the calibration curve)
THRESHOLD = 1.0
LEAD_CHARS = 400  # the lead ends at most this far into its paragraph
TRAILING_CHARS = 1000  # the trailing part is at most this many characters
SHORT_CHARS = 100  # short lines at the start or end that count with the paragraph beyond
MATCHED_CHARS = 200  # matched text stored per hit, at most

FAMILIES = ("offer", "refusal", "cutoff", "preamble", "placeholder", "prompt", "interface")
_FIELDS = {"id", "family", "languages", "weight", "where", "pattern"}
# quotation marks: symmetric ones count by parity, paired ones by opening minus closing
_PAIRS = (("«", "»"), ("„", "“"), ("‹", "›"))
# a match starts at a word, "[", "(", "¿" or "¡", never inside a word: the engine then tries the
# rules at word starts only (2.7 times faster for the rules that count anywhere, on the 314
# evaluation pages)
_START = r"(?<!\w)(?=[\w\[(¿¡])"
_QUOTE_BEFORE = re.compile(r"[\"'«„“‹‚‘]")  # just before a hit, spaces between


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    languages: tuple[str, ...]
    weight: float
    where: frozenset[str]
    pattern: str


def parse_rules(text: str, origin: str) -> list[Rule]:
    """The rules of one rules file; a ConfigError naming the file and rule on any mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{origin}: {err}") from err
    rules = []
    for i, raw in enumerate(data.get("rule", [])):
        name = f"{origin}: rule {raw.get('id', f'#{i + 1}')!r}"
        if set(raw) != _FIELDS:
            missing, extra = sorted(_FIELDS - set(raw)), sorted(set(raw) - _FIELDS)
            raise ConfigError(f"{name}: missing {missing}, unknown {extra}")
        where = set(raw["where"])
        if "anywhere" in where:
            where = (where - {"anywhere"}) | set(POSITIONS)
        if not where or where - set(POSITIONS):
            raise ConfigError(f"{name}: where must name {POSITIONS} or 'anywhere'")
        if raw["family"] not in FAMILIES:
            raise ConfigError(f"{name}: family must be one of {FAMILIES}")
        if not isinstance(raw["weight"], int | float) or raw["weight"] < 0:
            raise ConfigError(f"{name}: weight must be a number >= 0")
        if not isinstance(raw["pattern"], str) or not isinstance(raw["languages"], list):
            raise ConfigError(f"{name}: pattern must be a string, languages a list")
        try:  # as it stands in the alternation of all rules (no global flags inside it)
            compiled = re.compile(f"{_START}(?:{raw['pattern']})", re.IGNORECASE | re.MULTILINE)
        except re.error as err:
            raise ConfigError(f"{name}: bad pattern: {err}") from err
        if compiled.groupindex:
            raise ConfigError(f"{name}: the pattern must not use named groups")
        if re.search(raw["pattern"], "", re.IGNORECASE | re.MULTILINE):
            raise ConfigError(f"{name}: the pattern matches empty text")
        if any(r.id == str(raw["id"]) for r in rules):
            raise ConfigError(f"{name}: the id is used twice in the file")
        rules.append(
            Rule(str(raw["id"]), raw["family"], tuple(raw["languages"]), float(raw["weight"]),
                 frozenset(where), raw["pattern"])
        )  # fmt: skip
    return rules


def load_rules(extra: list[str | Path] = ()) -> list[Rule]:
    """The bundled rules, then each extra file's: a rule with a known id replaces it."""
    bundled = resources.files("pipeline").joinpath("data/signals.toml").read_text("utf-8")
    by_id = {r.id: r for r in parse_rules(bundled, "signals.toml")}
    for path in [extra] if isinstance(extra, str | Path) else extra:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"[signals] rules: no rules file at {path}")
        by_id.update((r.id, r) for r in parse_rules(path.read_text("utf-8"), str(path)))
    return [r for r in by_id.values() if r.weight > 0]


def _paragraph_bounds(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for line in text.split("\n"):
        if line.strip():
            bounds.append((start, start + len(line)))
        start += len(line) + 1
    return bounds


def regions(text: str) -> tuple[int, int]:
    """(lead_end, trailing_start): offsets before which a match is in the lead and from
    which it is in the trailing part (they overlap in a short text). Short lines at either
    end (a dateline, a repeated headline, a sign-off, a tag line: under SHORT_CHARS
    together) do not count as the first or last paragraph: the paragraph beyond them does."""
    paras = _paragraph_bounds(text)
    if not paras:
        return 0, 0
    sizes = [end - start for start, end in paras]
    first, short = 0, 0
    while first < len(paras) - 1 and short + sizes[first] < SHORT_CHARS:
        short, first = short + sizes[first], first + 1
    last, short = len(paras) - 1, 0
    while last > 0 and short + sizes[last] < SHORT_CHARS:
        short, last = short + sizes[last], last - 1
    lead_end = min(paras[first][1], paras[first][0] + LEAD_CHARS)
    return lead_end, max(paras[last][0], paras[-1][1] - TRAILING_CHARS)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def quoted(text: str, start: int) -> bool:
    """Whether offset ``start`` stands inside quotation marks of its paragraph."""
    return _Quotes(text).quoted(start)


class _Quotes:
    """``quoted`` for offsets asked in increasing order, counting the marks of the paragraph
    as it goes: rescanning the paragraph for every hit is quadratic on one long line full of
    hits (a 0.9 MB line with 20,000 hits took 146 s)."""

    MARKS = ('"', "”", *(mark for pair in _PAIRS for mark in pair))

    def __init__(self, text: str):
        self.text, self.line_start, self.pos = text, 0, 0
        self.counts = dict.fromkeys(self.MARKS, 0)

    def quoted(self, start: int) -> bool:
        text, counts = self.text, self.counts
        if start < self.pos:  # asked out of order: count this paragraph again
            self.pos = self.line_start = text.rfind("\n", 0, start) + 1
            counts.update(dict.fromkeys(self.MARKS, 0))
        newline = text.rfind("\n", self.pos, start)
        if newline >= 0:  # a new paragraph
            self.pos = self.line_start = newline + 1
            counts.update(dict.fromkeys(self.MARKS, 0))
        for mark in self.MARKS:
            counts[mark] += text.count(mark, self.pos, start)
        self.pos = start
        last = start  # a quotation mark, then only spaces, right before the hit
        while last > self.line_start and text[last - 1].isspace():
            last -= 1
        if last > self.line_start and _QUOTE_BEFORE.match(text[last - 1]):
            return True
        if counts['"'] % 2 or any(counts[o] > counts[c] for o, c in _PAIRS):
            return True
        # English and Ukrainian pairs “…”; German „…“ is handled above
        return not counts["„"] and counts["“"] > counts["”"]


@dataclass
class SignalsStage(Stage):
    """Rule hits of machine-written text in the extracted title and text, and a decision.

    score = sum over hits of weight x POSITION_FACTOR[position] x (QUOTED_FACTOR if the hit
    is inside quotation marks); ``machine_written`` = score >= ``threshold``. ``rules``:
    extra rules files, read after the bundled pipeline/data/signals.toml.
    """

    name: str = "signals"
    base_version: str = "1"
    requires: tuple[str, ...] = ("extract", "langid")
    needs_html: bool = False
    threshold: float = THRESHOLD
    rules: list[str] = field(default_factory=list)

    # about 2 ms a document or less: batches of 8 x [pipeline] batch_size (pipeline/contract.py)
    batch_factor = 8

    def __post_init__(self) -> None:
        self.loaded = load_rules(self.rules)
        # the rules that count in the same positions, in one alternation: one pass over the
        # parts of the text where they count (the whole text only for those that count in
        # the body)
        self._index = {f"r{i}": rule for i, rule in enumerate(self.loaded)}
        groups: dict[frozenset[str], list[str]] = {}
        for name, rule in self._index.items():
            groups.setdefault(rule.where, []).append(f"(?P<{name}>{rule.pattern})")
        self._groups = [
            (
                where,
                re.compile(_START + "(?:" + "|".join(parts) + ")", re.IGNORECASE | re.MULTILINE),
            )
            for where, parts in groups.items()
        ]

    @classmethod
    def from_settings(cls, settings: dict) -> SignalsStage:
        return cls(**stage_options("signals", settings, ("threshold", "rules")))

    @cached_property
    def version(self) -> str:  # type: ignore[override]
        """The base version and a digest of the rules and scoring: a change rescores."""
        digest = hashlib.sha256(
            repr(
                (sorted((r.id, r.family, r.languages, r.weight, sorted(r.where), r.pattern)
                        for r in self.loaded),
                 self.threshold, sorted(POSITION_FACTOR.items()), QUOTED_FACTOR,
                 LEAD_CHARS, TRAILING_CHARS, SHORT_CHARS)
            ).encode()
        ).hexdigest()[:10]  # fmt: skip
        return f"{self.base_version}.{digest}"

    def find(self, text: str, title: str | None = None) -> list[SignalHit]:
        """The hits in one document (``doc_id`` and ``version`` left empty)."""
        return self._scan(title or "", title=True) + self._scan(text or "", title=False)

    def _scan(self, text: str, *, title: bool) -> list[SignalHit]:
        if not text:
            return []
        lead_end, trailing_start = regions(text)
        first_end = text.find("\n", lead_end)
        first_end = len(text) if first_end < 0 else first_end
        matches: list[re.Match] = []
        for where, pattern in self._groups:
            if title:
                if "title" not in where:
                    continue
                spans = [(0, len(text))]
            elif "body" in where:
                spans = [(0, len(text))]
            else:
                spans = [(0, first_end)] if "lead" in where else []
                if "trailing" in where:
                    spans = _merge([*spans, (trailing_start, len(text))])
            for pos, endpos in spans:
                matches.extend(pattern.finditer(text, pos, endpos))
        quotes = _Quotes(text)
        hits = (
            self._hit(text, match, title, lead_end, trailing_start, quotes)
            for match in sorted(matches, key=lambda m: m.start())
        )
        return [hit for hit in hits if hit is not None]

    def _hit(self, text, match, title, lead_end, trailing_start, quotes) -> SignalHit | None:
        rule = self._index[match.lastgroup]
        start = match.start()
        if title:
            where = ["title"]
        else:
            inside = (("trailing", start >= trailing_start), ("lead", start < lead_end))
            where = [p for p, yes in inside if yes] or ["body"]
        position = next((p for p in where if p in rule.where), None)
        if position is None:
            return None
        is_quoted = quotes.quoted(start)
        score = rule.weight * POSITION_FACTOR[position] * (QUOTED_FACTOR if is_quoted else 1)
        return SignalHit(
            "", 0, rule.id, rule.family, ",".join(rule.languages), position, is_quoted, start,
            match.group()[:MATCHED_CHARS], rule.weight, round(score, 4),
        )  # fmt: skip

    def score(self, hits: list[SignalHit]) -> float:
        return round(sum(h.score for h in hits), 4)

    def process(self, batch: list[DocInput], found=None, prepared=None) -> list:
        results = []
        for doc in batch:
            hits = self.find(doc.text or "", doc.title or doc.hint_title)
            for hit in hits:
                hit.doc_id, hit.version = doc.doc_id, doc.version
            score = self.score(hits)
            results.append(
                SignalResult(doc.doc_id, doc.version, hits, score, self.threshold,
                             score >= self.threshold)
            )  # fmt: skip
        return results
