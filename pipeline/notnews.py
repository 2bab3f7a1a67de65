"""Pages that are not news: block and challenge pages, consent walls, paywall stubs, error and
login pages. Called by the extract stage on each extracted page.

The rules are data (``pipeline/data/notnews.toml``, documented there). A page is rejected
only when it is a stub: a rule matched and little text is left once the matched lines are
taken out. On any other page the matched lines are furniture (a cookie notice, a "Subscribe
now" box, a copyright line): they are taken out and the article is kept, so a notice that a
site repeats on every page cannot join its articles into one copy group or narrative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from pipeline.notnews_lines import Lines, quoting, sentences
from pipeline.notnews_rules import (
    KINDS,
    STUB_KIND_ORDER,
    STUB_KINDS,
    Limits,
    Rule,
    RulesError,
    dotless,
    fold,
    read_rules,
)
from pipeline.stubshape import Shape

__all__ = ["KINDS", "REASON", "STUB_KINDS", "STUB_KIND_ORDER", "Rules", "RulesError",
           "Verdict", "default_rules", "fold", "screen", "sentences"]  # fmt: skip

REASON = "not_news"
# Notices of these kinds are walls: what follows them on a page is the wall, not the article.
WALL_KINDS = frozenset({"paywall", "login"})
_TITLE_PARTS = re.compile(r"\s+(?:\||-|::|·|»)\s+")


@dataclass(frozen=True)
class Verdict:
    """What the rules found on one page. ``kind`` is None for a page that is news; ``text`` is
    then the text to keep (without the ``removed`` furniture lines)."""

    kind: str | None
    rule: str | None
    text: str
    removed: tuple[str, ...] = ()
    other_chars: int = 0
    evidence: str = ""
    #: (kind, rule, evidence) of a weak sign on a page that is kept: a stub's title over prose
    #: with no notice of its kind, which the embed stage weighs with the lead vector (``weak``)
    hint: tuple[str, str, str] | None = None

    @property
    def detail(self) -> str:
        """The rejection detail: the kind first (v_source_health reads it), then the rule, how
        much other text the page had, and the first line that matched."""
        return (
            f"{self.kind}: rule {self.rule}, {self.other_chars} chars of other text; "
            f"matched {self.evidence!r}"
        )


@dataclass(frozen=True)
class Rules:
    """A rules file, compiled: ``judge`` a page with it."""

    rules: tuple[Rule, ...]
    limits: Limits = field(default_factory=Limits)
    # the first 12 hex digits of SHA-256 of the rules file: what a stage version can record,
    # since changing the rules changes what the extract stage keeps
    digest: str = ""
    shape: Shape | None = None  # [shape]: stubs worded as no rule knows (pipeline/stubshape.py)

    @classmethod
    def from_toml(cls, text: str) -> Rules:
        return cls(*read_rules(text))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Rules:
        """The rules in ``path``; by default the bundled ``pipeline/data/notnews.toml``."""
        if path is None:
            text = resources.files("pipeline").joinpath("data/notnews.toml").read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls.from_toml(text)

    def title_rule(self, title: str | None) -> tuple[Rule | None, bool]:
        """The first rule whose title pattern matches the whole title or one part of it, and
        whether a rule's pattern matches the whole title ("Access denied" is a block page's
        title; "Access denied | The Economist" may be a headline, a stub's only beside a
        notice in its text)."""
        if not title:
            return None, False
        folded = fold(title)
        whole = folded.strip(" .!")
        parts = [folded, *(p.strip(" .!") for p in _TITLE_PARTS.split(folded))]
        first, entire = None, False
        for rule in self.rules:
            if rule.title is None:
                continue
            if first is None and any(rule.title.match(p) for p in parts):
                first = rule
            entire = entire or rule.title.match(whole) is not None
        return first, entire

    def notice(self, line: str) -> Rule | None:
        """The rule that makes a line a notice (furniture to take out), or None for prose.

        A matched line is a notice when it is short (a button, a heading), when the matched
        wording covers line_coverage of it, or when two or more of its sentences matched and
        make up paragraph_share of it. One matched sentence in a paragraph of prose (an
        article quoting "This article is for subscribers only") leaves it prose, and so does
        a line that quotes the wording in quotation marks (a headline: Panne géante : des
        dizaines de sites affichent « 502 Bad Gateway »; a quotation on a line of its own)."""
        folded = fold(line)
        rule, covered, spans = self._covered(folded)
        limits = self.limits
        if rule is None or quoting(folded, spans, single=len(folded) > limits.short_line_chars):
            return None
        if len(folded) <= limits.short_line_chars or covered >= limits.line_coverage * len(folded):
            return rule
        matched = [s for s in sentences(line) if self._covered(fold(s))[0] is not None]
        if len(matched) >= 2 and sum(map(len, matched)) >= limits.paragraph_share * len(line):
            return rule
        return None

    def _covered(self, folded: str) -> tuple[Rule | None, int, list[tuple[int, int]]]:
        """The rule whose wording covers most of a folded line, how many of its characters
        all rules' wording covers, and where."""
        spans, best, most = [], None, 0
        plain = dotless(folded)
        for rule in self.rules:
            if rule.line is None or not rule.may_match(folded, plain):
                continue
            found = [m.span() for m in rule.line.finditer(folded) if m.end() > m.start()]
            length = sum(end - start for start, end in found)
            if length > most:
                best, most = rule, length
            spans += found
        covered, reach = 0, 0
        for start, end in sorted(spans):
            covered += max(0, end - max(start, reach))
            reach = max(reach, end)
        return best, covered, spans

    def judge(self, text: str, title: str | None = None, url: str | None = None) -> Verdict:
        """Whether a page is a stub, and if not, its text without furniture lines."""
        limits = self.limits
        # A channel post (an address of post_urls) is the channel's own words, never a page a
        # site served in place of its article, and has no headline: the title it was given is
        # its first line (crawlers/entries/telegram.py), judged as a line of the text only.
        # Its block notices are its news, never cut out of it.
        post = _matches(limits.post_urls, url)
        title = None if post else title
        titled, entire = self.title_rule(title)
        parted = titled is not None and not entire
        # a stub's title that the extraction kept as a line of the text (the headline of a
        # brief on the film "Access Denied") is weighed as the title, not as a notice of the text
        heading = fold(title).strip(" .!") if entire else None
        found = self._scan(text, heading, limits.notice_alone_kinds if post else ())
        by_id = {r.id: r for r in self.rules}
        by_url = self._url_rule(url)
        alone = not parted and self._title_alone(titled, found, by_url, by_id)
        hint = None
        if alone and found.other < limits.article_chars_stub_title:
            hint = (titled.kind, f"{titled.id}, title alone", _short(title or ""))
        stub_address = False  # the title or the URL is a stub's
        for extra, source in ((None if parted or alone else titled, title), (by_url, url)):
            if extra is not None and extra.kind in STUB_KINDS:
                found.weigh(extra.id, source or "")
                stub_address = True
        stub = {k: w for k, w in found.weights.items() if by_id[k].kind in STUB_KINDS}
        # a title worded as a stub's notice ("Доступ к ресурсу ограничен") is weighed as a stub
        # title, but only on a page whose text has a stub's notice too
        worded = stub and title and not (stub_address or alone)
        headline = self.notice(title) if worded else None
        headline = titled if parted and stub and headline is None else headline
        stub_title = stub_address or (headline is not None and headline.kind in STUB_KINDS)
        limit = limits.article_chars_stub_title if stub_title else limits.article_chars
        other = found.other
        # a headline and a teaser, then a wall of two notices or more with little after it
        teaser = (
            found.walls >= 2 and found.past_wall < limits.article_chars
            and other < limits.teaser_chars
        ) or (found.labelled and other < limits.paywall_chars)  # fmt: skip
        # a lone notice under a headline that is no stub's (or in a post): see _notice_alone
        if (
            stub
            and 0 < other < limit
            and (post or (title or "").strip())
            and titled is None
            and not (stub_title or teaser)
        ):
            verdict = self._notice_alone(found, by_id[next(iter(stub))])
            if verdict is not None:
                return verdict
        nothing_else = found.removed and not any(x.strip() for x in found.kept)  # furniture only
        if (stub and (other < limit or teaser)) or nothing_else:
            rule = _heaviest([(by_id[k], w) for k, w in (stub or found.weights).items()])
            return Verdict(rule.kind, rule.id, text, tuple(found.removed), other,
                           _short(found.evidence[rule.id]))  # fmt: skip
        if not found.removed:
            return Verdict(None, None, text, hint=hint)
        kept = "\n".join(found.kept).strip()
        return Verdict(None, None, kept, tuple(found.removed), other, hint=hint)

    def _scan(self, text: str, heading: str | None, keep: tuple[str, ...] = ()) -> Lines:
        """The notices and prose of a text, line by line; a line that is the folded
        ``heading`` (the title, where it is a stub's) is kept and weighed with the title, and
        a notice of a ``keep`` kind is weighed but never cut out (a post's block notice)."""
        limits, found = self.limits, Lines()
        lines = 0  # non-empty lines so far
        for line in text.split("\n"):
            stripped = line.strip()
            if heading and stripped and fold(stripped).strip(" .!") == heading:
                found.kept.append(line)
                found.with_notices.append(line)
                continue
            rule = self.notice(stripped) if stripped else None
            lines += bool(stripped)
            if (
                rule is None
                or rule.kind in STUB_KINDS
                or len(stripped) > limits.furniture_line_chars
            ):
                found.with_notices.append(line)
            if rule is None:
                found.kept.append(line)
                prose = len(stripped) if len(stripped) >= limits.prose_line_chars else 0
                if prose:
                    found.plain.append(line)
                found.other += prose
                found.past_wall += prose if found.walls else 0
                continue
            found.walls += rule.kind in WALL_KINDS
            found.labelled = found.labelled or (
                rule.kind == "paywall" and lines <= 2 and not found.other
            )
            found.weigh(rule.id, stripped)
            if rule.kind in STUB_KINDS:
                found.stub_lines.append(stripped)
            if len(stripped) <= limits.furniture_line_chars and rule.kind not in keep:
                found.removed.append(stripped)
            else:  # a long notice is weighed, but never cut out of a page that is kept
                found.kept.append(line)
        return found

    def _title_alone(self, titled: Rule | None, found: Lines, by_url: Rule | None,
                     by_id: dict[str, Rule]) -> bool:  # fmt: skip
        """A stub's title, and no notice of its kind, over prose: a film called "Access
        Denied", an episode called "Error 404", a brief called "Login" -- or a stub worded as
        no rule knows. The title alone is a weak sign: it is not weighed, and the embed stage
        rejects such a text only where its lead vector agrees (``Verdict.hint``;
        pipeline/stubvectors.py). Over less prose than title_alone_chars, or beside a stub's
        URL, the title still counts."""
        if titled is None or titled.kind not in STUB_KINDS:
            return False
        # a notice in the text of the title's own kind (any wall, for a wall's title): a cookie
        # bar on the page of a brief titled "Access Denied" says nothing about the title
        noticed = any(
            by_id[k].kind == titled.kind
            or (by_id[k].kind in WALL_KINDS and titled.kind in WALL_KINDS)
            for k in found.weights
        )
        return (
            not noticed
            and found.other >= self.limits.title_alone_chars
            and (by_url is None or by_url.kind not in STUB_KINDS)
        )

    def _notice_alone(self, found: Lines, rule: Rule) -> Verdict | None:
        """The page kept whole with a weak sign, where its one stub notice is a line of a
        notice_alone_kinds rule over prose that neither addresses the reader nor speaks as the
        site ("we"); else None. The notice's wording is what news of a blocked site says
        ("Доступ к сайту ограничен по требованию Генпрокуратуры." opening a brief), where a
        block page is titled as its notice, or keeps the article's headline and speaks to its
        reader ("Вы можете прочитать другие новости", "We are sorry"). A weak sign, as a
        stub's title alone is: the embed stage weighs its lead vector. The caller asks only
        under a headline that is no stub's, or in a channel post, which a site never serves in
        place of an article: an untitled text has no headline to tell it by. Prose counts the
        notice line's words besides its wording, and needs a line of its own."""
        if len(found.stub_lines) != 1 or rule.kind not in self.limits.notice_alone_kinds:
            return None
        line = found.stub_lines[0]
        besides = found.other + len(line) - self._covered(fold(line))[1]
        voiced = self.shape is not None and self.shape.voiced("\n".join(found.plain), fold)
        if besides < self.limits.title_alone_chars or voiced:
            return None
        hint = (rule.kind, f"{rule.id}, notice alone", _short(found.evidence[rule.id]))
        cut = tuple(x for x in found.removed if x != line)
        text = "\n".join(found.with_notices).strip()
        return Verdict(None, None, text, cut, found.other, hint=hint)

    def weak(
        self, text: str, title: str | None = None, url: str | None = None
    ) -> tuple[str, str, str] | None:
        """(kind, rule, evidence) of a weak sign that a kept text is a stub: a stub's title
        over prose with no notice of its kind (``Verdict.hint``), or a stub's shape
        (``shaped``).
        News has such signs too, so the embed stage rejects a text by one only where its
        lead vector agrees (pipeline/stubvectors.py)."""
        judged = self.title_rule(title)[0] is not None or self._may_be_alone(text)
        hint = self.judge(text, title, url).hint if judged else None
        if hint is not None:
            return hint
        shaped = self.shaped(text, title)
        return None if shaped is None else (shaped[0], "shape", shaped[1])

    def _may_be_alone(self, text: str) -> bool:
        """False only when no line of ``text`` can match a rule of notice_alone_kinds (the
        rules' cheap test): ``weak`` judges the text only where it may hold a lone notice."""
        kinds = self.limits.notice_alone_kinds
        rules = [r for r in self.rules if r.kind in kinds and r.line is not None]
        for line in text.split("\n"):
            folded = fold(line.strip())
            plain = dotless(folded)
            if folded and any(r.may_match(folded, plain) for r in rules):
                return True
        return False

    def shaped(self, text: str, title: str | None = None) -> tuple[str, str] | None:
        """(kind, evidence) when a text has a stub's shape (pipeline/stubshape.py). The shape
        is a weak sign: short news posts that address their reader have it too, so the embed
        stage rejects a page by its shape only when its lead vector agrees
        (pipeline/stubvectors.py), and ``judge`` leaves it out."""
        if self.shape is None:
            return None
        shaped = self.shape.judge(f"{title or ''}\n{text}", fold)
        return None if shaped is None else (shaped[0], _short(shaped[1]))

    def _url_rule(self, url: str | None) -> Rule | None:
        if not url:
            return None
        return next((r for r in self.rules if r.url is not None and r.url.search(url)), None)


def _matches(pattern: re.Pattern | None, url: str | None) -> bool:
    return pattern is not None and url is not None and pattern.search(url) is not None


def _heaviest(matched: list[tuple[Rule, int]]) -> Rule:
    """The page's kind is the one whose rules matched the most characters (ties: the kind
    listed first in KINDS); its rule, the one of that kind that matched the most."""
    kinds: dict[str, int] = {}
    for rule, weight in matched:
        kinds[rule.kind] = kinds.get(rule.kind, 0) + weight
    kind = min(kinds, key=lambda k: (-kinds[k], KINDS.index(k)))
    return max((m for m in matched if m[0].kind == kind), key=lambda m: m[1])[0]


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@cache
def default_rules() -> Rules:
    return Rules.load()


def screen(
    result: dict, url: str | None = None, rules: Rules | None = None
) -> dict | tuple[str, str]:
    """The extraction ``result`` (text, title, ...) to keep, possibly with furniture removed,
    or (reason, detail) when the page is not news. ``rules`` default to the bundled file."""
    verdict = (rules or default_rules()).judge(result["text"], result.get("title"), url)
    if verdict.kind is not None:
        return REASON, verdict.detail
    if verdict.removed:
        return {**result, "text": verdict.text}
    return result
