"""One line of a block notice under a news headline: a weak sign, not a stub
(docs/notnews.md, "A block notice alone")."""

import pytest

from crawlers.entries.telegram import post_title
from pipeline.embed import EmbedStage
from pipeline.notnews import default_rules, screen
from storage.records import Rejection
from tests.pipeline.test_stubvectors import doc, probe, rejected_before, set8_stub

# news briefs on blocked sites that state the block page's words, one sentence a line (as
# Telegram channels write them), in ru, uk, en, de and pl; written by a helper session that
# saw neither the rules nor the example stubs
BLOCKED = probe("block-probe-briefs.tsv")
BRIEF = (
    "Генпрокуратура потребовала заблокировать портал «КамНовости 24»",
    "Доступ к сайту ограничен по требованию Генпрокуратуры.\n"
    "С утра понедельника такое уведомление видят читатели портала kamnews24.ru.\n"
    "Редакция утверждает, что никаких претензий заранее не получала.",
)


@pytest.fixture(scope="module")
def stage():
    return EmbedStage()


def test_a_brief_opening_with_a_block_notice_is_kept_whole_with_a_hint():
    title, text = BRIEF
    result = {"text": text, "title": title}
    assert screen(result) is result  # the notice line is the brief's news: never cut out
    kind, rule, evidence = default_rules().weak(text, title)
    assert (kind, rule) == ("block", "blocked-ru, notice alone")
    assert evidence.startswith("Доступ к сайту ограничен")


@pytest.mark.parametrize(
    ("title", "text", "why"),
    [
        ("Доступ к сайту ограничен", BRIEF[1], "titled as its notice, as block pages are"),
        (BRIEF[0], "Доступ к сайту ограничен по требованию Генпрокуратуры.\nПодробнее на сайте.",
         "too little prose besides the notice"),
        (BRIEF[0], "Доступ к сайту ограничен.\nВаш IP-адрес заблокирован.\n" + BRIEF[1].split("\n", 1)[1],
         "two notices"),
        ("Почему в Нижнем Новгороде дорожает аренда", "Материал для подписчиков\n"
         + BRIEF[1].split("\n", 1)[1], "a paywall's notice: not a kind news states in its words"),
        (None, BRIEF[1], "untitled: no headline to tell it by"),
        ("Мэр Екатеринбурга ушёл в отставку", "Материал недоступен в вашем регионе.\nК сожалению, "
         "по требованию правообладателя этот материал не может быть показан читателям.\nВы можете "
         "прочитать другие новости на главной странице.", "a geo-block page that keeps the "
         "article's headline and addresses its reader"),
        ("City council approves $40 million budget for new bridge", "This content is not "
         "available in your country.\nWe are sorry, but due to legal restrictions our journalism "
         "cannot currently be accessed by readers in the European Economic Area.",
         "one that speaks as the site"),
        ("Ростелеком", "Доступ к информационному ресурсу ограничен на основании Федерального "
         "закона от 27 июля 2006 г. № 149-ФЗ «Об информации, информационных технологиях и о "
         "защите информации».", "the notice alone, however long its line"),
    ],
    ids=["stub-title", "short", "two-notices", "paywall", "untitled", "reader", "we", "only"],
)  # fmt: skip
def test_a_block_notice_still_makes_a_stub(title, text, why):
    assert default_rules().judge(text, title).kind is not None, why


def test_a_page_kept_on_its_block_notice_keeps_every_line_but_furniture():
    """A long boilerplate line (over furniture_line_chars) stays, as on any kept page, and
    its "our newsletter" is not the site speaking in the prose; a "Share" line is cut."""
    long = ("All rights reserved by the Valley Herald Media Group and its licensors, including "
            "every text, photograph, graphic and video in this edition. Sign up for our "
            "newsletter to receive the morning briefing in your inbox each weekday before seven "
            "o'clock. Subscribe to our newsletter for the weekend edition, with puzzles, recipes "
            "and the week's best letters from our readers. The Valley Herald has covered the "
            "towns of the Fox River valley since 1889.")  # fmt: skip
    assert len(long) > 400
    text = ("This content is not available in your country.\nThe council voted 7-2 on Tuesday "
            f"to fund the bridge, which engineers say will open in 2027 after two years of work.\n"
            f"{long}\nShare")  # fmt: skip
    kept = screen({"text": text, "title": "Fox River bridge approved"})
    assert kept["text"] == text.removesuffix("\nShare")
    assert default_rules().weak(text, "Fox River bridge approved")[1] == "blocked-en, notice alone"


def test_briefs_on_blocked_sites_are_kept_and_stubs_are_still_rejected(stage):
    """The rules took 9 of these 20 briefs for block pages; they are now weak signs that
    the embed stage weighs, and it keeps all 20. Set 8's Roskomnadzor block page, whose notice
    line the rules find under a title worded as a notice, is still rejected at extraction."""
    rules = default_rules()
    assert len(BLOCKED) == 20 and [t for t, x in BLOCKED if rules.judge(x, t).kind] == []
    alone = [t for t, x in BLOCKED if (rules.weak(x, t) or ("", ""))[1].endswith("notice alone")]
    assert len(alone) == 9
    out = stage.process([doc(f"b{i}", t, x) for i, (t, x) in enumerate(BLOCKED)])
    assert [r.detail for r in out if isinstance(r, Rejection)] == []
    title, text = set8_stub("ru-rkn-block")
    assert rules.judge(text, title).kind == "block"


def test_an_upgrade_extracts_again_a_brief_the_notice_alone_rejected(tmp_path):
    """Schema 25: a brief rejected at extraction for its one line of a block notice is kept
    after the upgrade; a block page titled as its notice stays rejected."""
    title, text = BRIEF
    pages = {"brief": (title, text, "block: rule blocked-ru, 124 chars of other text"),
             "stub": ("Доступ к сайту ограничен", text, "block: rule blocked-ru, 124 chars")}  # fmt: skip
    states, embed, health = rejected_before(tmp_path, 24, pages)
    assert states["brief extract"] == states["brief embed"] == "done"
    assert states["stub extract"] == "rejected" and "stub embed" not in states
    assert embed == [] and health == [(2, 1)]


# a Telegram post is titled with its first line (crawlers/spiders/channels.py)
POST_URL = "https://t.me/kamnews24/101"
POST_TITLE = post_title(BRIEF[1])


def test_a_post_opening_with_a_block_notice_is_kept_whole_with_a_hint():
    """A post titled with its first line, the notice: a weak sign at a post's address, where
    the same text so titled at a site's address is a block page titled as its notice."""
    rules = default_rules()
    result = {"text": BRIEF[1], "title": POST_TITLE}
    assert screen(result, POST_URL) is result
    kind, rule, _ = rules.weak(BRIEF[1], POST_TITLE, POST_URL)
    assert (kind, rule) == ("block", "blocked-ru, notice alone")
    assert rules.judge(BRIEF[1], POST_TITLE, "https://kamnews24.ru/news/101").kind == "block"
    assert rules.judge(BRIEF[1], None, "https://kamnews24.ru/news/101").kind == "block"


MORE = (" Накануне ведомство внесло в реестр ещё 12 доменов, связанных с изданием; жалобу "
        "юристы подадут в Мосгорсуд на этой неделе.")  # fmt: skip


def test_a_post_keeps_its_block_notices_and_loses_only_furniture():
    """Over 250 characters of other prose a notice line is furniture on a site's page, cut
    out of the article; in a post a block notice is the channel's news and stays, while a
    paywall's line and a "subscribe" line are cut as on any page."""
    text = (
        BRIEF[1] + MORE + "\nЭтот материал доступен только подписчикам\nПодписывайтесь на наш канал"
    )
    kept = screen({"text": text, "title": post_title(text)}, POST_URL)
    assert kept["text"] == BRIEF[1] + MORE
    page = screen({"text": text, "title": BRIEF[0]}, "https://kamnews24.ru/news/101")
    assert page["text"] == (BRIEF[1] + MORE).split("\n", 1)[1]


@pytest.mark.parametrize(
    "first",
    ["Доступ к сайту ограничен — что известно", "Срочно | Доступ к сайту ограничен",
     "Доступ к сайту ограничен.\nДоступ к сайту ограничен по требованию Генпрокуратуры."],
    ids=["dash", "bar", "two-lines"],
)  # fmt: skip
def test_a_posts_first_line_is_weighed_once_as_a_line(first):
    """A first line that a rule's titles match in part or whole, titling the post, is no
    stub's headline: over 250 characters of other prose the post is kept, notices and all."""
    text = first + "\n" + BRIEF[1].split("\n", 1)[1] + MORE + MORE
    kept = screen({"text": text, "title": post_title(text)}, POST_URL)
    assert kept["text"] == text
    page = screen({"text": text, "title": post_title(text)}, "https://kamnews24.ru/news/101")
    assert page[0] == "not_news"


def test_a_post_is_known_by_its_address_whatever_its_title():
    """Any title a post was given (here its first line, decomposed as NFD where the text is
    NFC, as the extract stage leaves a crawled title) is no headline: the post keeps its hint."""
    import unicodedata

    title = unicodedata.normalize("NFD", POST_TITLE)
    assert title != POST_TITLE
    kind, rule, _ = default_rules().weak(BRIEF[1], title, POST_URL)
    assert (kind, rule) == ("block", "blocked-ru, notice alone")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Доступ к сайту ограничен по требованию Генпрокуратуры.\nПодробнее на сайте.",
         "too little prose besides the notice"),
        ("Доступ к сайту ограничен.\nВаш IP-адрес заблокирован.\n" + BRIEF[1].split("\n", 1)[1],
         "two notices"),
        ("Материал недоступен в вашем регионе.\nК сожалению, по требованию правообладателя этот "
         "материал не может быть показан читателям.\nВы можете прочитать другие новости на "
         "главной странице.", "it addresses its reader"),
    ],
    ids=["short", "two-notices", "reader"],
)  # fmt: skip
def test_a_post_of_a_block_notice_is_still_a_stub(text, why):
    assert default_rules().judge(text, post_title(text), POST_URL).kind == "block", why


def test_an_upgrade_extracts_again_a_post_that_opens_with_a_block_notice(tmp_path):
    """Schema 26: a post rejected at extraction because its title, its first line, is the
    notice is kept after the upgrade, and a post rejected by other rules is judged again and
    rejected again. A page at a site's address keeps its verdict, even one today's rules
    would keep (a brief under a news headline, rejected here as by the rules before 25)."""
    text = BRIEF[1]
    detail = "block: rule blocked-ru, 124 chars of other text"
    pages = {"101": (POST_TITLE, text, detail), "page": (BRIEF[0], text, detail),
             "102": ("Доступ к сайту ограничен.", "Доступ к сайту ограничен.\nВаш IP-адрес "
                     "заблокирован.\n" + text.split("\n", 1)[1], detail)}  # fmt: skip
    assert screen({"text": text, "title": BRIEF[0]}, "https://t.example/page")["text"] == text
    urls = {"101": POST_URL, "102": "https://t.me/kamnews24/102"}
    states, embed, _ = rejected_before(tmp_path, 25, pages, urls)
    assert states["101 extract"] == states["101 embed"] == "done"
    assert states["page extract"] == "rejected" and "page embed" not in states
    assert states["102 extract"] == "rejected" and embed == []
