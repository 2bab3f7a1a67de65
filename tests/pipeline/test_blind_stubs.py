"""Sets of pages written blind by helper sessions (they saw neither the rules nor the example
stubs), through the rules and then the embed stage, held to what was measured on them
(docs/notnews.md). Where wording was added after reading a set, the count
is the one after it, and docs/notnews.md says so."""

import json
from pathlib import Path

import pytest

from bench.block_notice_probe import read
from pipeline.embed import EmbedStage
from pipeline.extract import extract_html
from pipeline.notnews import default_rules
from storage.records import DocInput, Rejection
from tests.pipeline.test_stubvectors import doc, probe

# 24 block pages titled as an article or as the site or provider is, and 20 briefs on blocked
# sites ("A block notice alone")
BLIND_PAGES, BLIND_BRIEFS = probe("block-blind-pages.tsv"), probe("block-blind-briefs.tsv")
# 40 stub pages: 8 each of bot checks, consent walls, paywalls, error pages and login walls
STUBS = probe("stub-blind-pages.tsv")
# 30 Telegram posts that open with a block notice, titled and addressed as the channel
# crawler gives them: (title, text, address)
POSTS = read(Path(__file__).parents[2] / "bench" / "data" / "block-blind-posts.tsv")


@pytest.fixture(scope="module")
def stage():
    return EmbedStage()


def rejected(stage, texts) -> int:
    """How many of the (title, text)s the rules reject, or the embed stage after them."""
    rules = default_rules()
    kept = [(t, x) for t, x in texts if rules.judge(x, t).kind is None]
    late = stage.process([doc(f"k{i}", t, x) for i, (t, x) in enumerate(kept)])
    return len(texts) - len(kept) + sum(isinstance(r, Rejection) for r in late)


def test_the_blind_block_pages_and_briefs_keep_their_measured_verdicts(stage):
    """Before the rule, the two stages rejected 15 of the 24 pages and 5 of the 20 briefs;
    with it, 14 and 1, and with the misses' wording added afterwards, 23 and 1
    (bench/block_notice_probe.py)."""
    assert len(BLIND_PAGES) == 24 and len(BLIND_BRIEFS) == 20
    assert rejected(stage, BLIND_PAGES) >= 23
    assert rejected(stage, BLIND_BRIEFS) <= 1


def test_the_blind_stub_pages_are_all_rejected(stage):
    """Blind, the rules rejected 27 of the 40 and the embed stage 11 more; the two left were
    Russian paywall teasers whose wall lines joined the rules afterwards."""
    assert len(STUBS) == 40
    assert rejected(stage, STUBS) == 40


def test_the_blind_posts_that_open_with_a_block_notice_are_kept(stage):
    """Titled with its first line, the notice, a post was weighed as a page titled as its
    notice: the rules rejected 9 of the 30. Known by its address, none; the embed stage
    rejects 1, a post that opens with a hosting provider's suspension notice, by its shape
    and lead (bench/block_notice_probe.py)."""
    rules = default_rules()
    assert len(POSTS) == 30 and all(u.startswith("https://t.me/") for _, _, u in POSTS)
    assert [t for t, x, u in POSTS if rules.judge(x, t, u).kind] == []
    docs = [DocInput(f"p{i}", 1, u, "s", text=x, title=t) for i, (t, x, u) in enumerate(POSTS)]
    assert sum(isinstance(r, Rejection) for r in stage.process(docs)) <= 1


# Set 12 (bench/data/notnews-set12: 44 stubs and 16 articles, pages) let 11 stubs through both
# checks blind (33 of 44 rejected, every article kept whole); their wording joined the rules
# afterwards, so this is not a blind count
SET12 = Path(__file__).parents[2] / "bench" / "data" / "notnews-set12"
SET12_MISSES = (
    "ar-recaptcha-challenge", "de-plus-paywall-teaser", "hu-paywall-teaser", "it-seized-site",
    "pl-hazard-block-siteA", "pl-hazard-block-siteB", "ru-search-nothing-found",
    "tr-btk-block", "uk-empty-category", "uk-paywall-teaser", "zh-slider-verify",
)  # fmt: skip


def blind_verdict(name: str, folder: Path = SET12):
    """The rules' verdict on a page of set 12 (or of ``folder``), extracted as the extract
    stage extracts it."""
    html = (folder / name).read_text(encoding="utf-8")
    page = extract_html(html, "https://site.example/news/1")
    return default_rules().judge(page["text"], page["title"], "https://site.example/news/1"), page


@pytest.mark.parametrize("name", SET12_MISSES)
def test_the_stubs_that_set12_let_through_are_rejected_by_the_rules(name):
    verdict, _ = blind_verdict(f"stub-{name}.html")
    labels = json.loads((SET12 / "labels.json").read_text(encoding="utf-8"))
    assert verdict.kind == labels[f"stub-{name}.html"]["kind"], verdict


def test_the_articles_of_set12_are_kept_whole_by_the_rules():
    names = sorted(p.name for p in SET12.glob("article-*.html"))
    assert len(names) == 16
    for name in names:
        verdict, page = blind_verdict(name)
        assert (verdict.kind, verdict.removed, verdict.hint) == (None, (), None), name
        assert verdict.text == page["text"]


# Set 13 (bench/data/notnews-set13: 44 stubs and 16 articles, pages) let 10 stubs through both
# checks blind (34 of 44 rejected, every article kept whole); their wording joined the rules
# afterwards, so this is not a blind count. The Polish hosting page is one vendor's page at
# three sites: the embed stage caught it at two by its title alone (lead 0.90 and 0.89 like an
# example stub, margins 0.030 and 0.021), and missed it at the third by 0.0009 of margin (its
# domain name, the page's first line, moved the lead towards a Polish news example); the rules
# now know its text line, so all three are rejected at extraction
SET13 = Path(__file__).parents[2] / "bench" / "data" / "notnews-set13"
SET13_MISSES = {
    "en-telegram-channel-unavailable": "block", "es-age-gate": "consent",
    "fi-500-error": "error", "he-paywall": "paywall", "hu-empty-category": "error",
    "ja-javascript-required": "challenge", "ka-joomla-offline": "error",
    "pl-hosting-suspended-siteA": "error", "pl-hosting-suspended-siteB": "error",
    "pl-hosting-suspended-siteC": "error", "pt-wp-no-results": "error",
    "sv-parked-domain": "error",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SET13_MISSES))
def test_the_stubs_that_set13_let_through_are_rejected_by_the_rules(name):
    verdict, _ = blind_verdict(f"stub-{name}.html", SET13)
    assert verdict.kind == SET13_MISSES[name], verdict


def test_the_articles_of_set13_are_kept_whole_by_the_rules():
    names = sorted(p.name for p in SET13.glob("article-*.html"))
    assert len(names) == 16
    for name in names:
        verdict, page = blind_verdict(name, SET13)
        assert (verdict.kind, verdict.removed, verdict.hint) == (None, (), None), name
        assert verdict.text == page["text"]
