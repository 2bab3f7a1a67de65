"""Page furniture (teasers, captions, tag lists, prompts) stays out of the extracted body."""

import pytest
from lxml.html import fromstring

from pipeline.extract import ExtractStage, extract_html
from pipeline.furniture import drop_furniture_lines, furniture_kind, is_prompt

ARTICLE = [
    "The regional council approved the new tram line on Tuesday after two years of debate in "
    "the chamber and in the neighbourhoods along the planned route.",
    "Construction will start in spring and the first trams should run through the old town by "
    "the end of next year, the mayor said at a press conference.",
    "Opponents had argued that the money would be better spent on buses, which can be "
    "rerouted when the city grows in other directions.",
]


def drop(body: str, text_lines: list[str]) -> list[str]:
    """What the filter keeps of ``text_lines``, an extractor's text of the page ``body``."""
    tree = fromstring(f"<html><body>{body}</body></html>")
    text, _ = drop_furniture_lines("\n".join(text_lines), tree)
    return text.split("\n")


def test_lines_that_stand_only_in_furniture_markup_are_removed():
    teaser = "Harbour bridge closed for repairs until the summer"
    caption = "The planned route runs past the cathedral."
    widget = "Bus fares rise again in January, the transport authority says"
    tags = "tram, council, budget"
    body = f"""<article><h1>Council approves tram line</h1>
      <p>{ARTICLE[0]}</p>
      <figure><img src="a.jpg"><figcaption>{caption}</figcaption></figure>
      <p>{ARTICLE[1]}</p>
      <div class="vce-related-box"><h3>More</h3><a href="/b">{teaser}</a></div>
      <p>{ARTICLE[2]}</p>
      <div class="entry-tags">{tags}</div></article>
      <div class="widget widget_recent_entries"><a href="/c">{widget}</a></div>"""
    assert drop(body, [ARTICLE[0], caption, ARTICLE[1], teaser, ARTICLE[2], tags, widget]) == (
        ARTICLE
    )


def test_a_furniture_line_that_also_stands_in_the_article_stays():
    quote = "The money would be better spent on buses."
    body = f"""<article><h1>Tram</h1><p>{ARTICLE[0]}</p><p>{quote} {ARTICLE[1]}</p>
      <aside class="pullquote">{quote}</aside></article>"""
    lines = [ARTICLE[0], quote, ARTICLE[1]]
    assert drop(body, lines) == lines


def test_an_article_wrapper_named_like_furniture_keeps_the_article():
    # themes name the article's own container after the sidebar next to it
    promo = "Get our daily edition by email"
    body = f"""<div class="article-content sticky-sidebar-relative">
      <p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p><p>{ARTICLE[2]}</p>
      <div class="newsletter-promo"><a href="/nl">{promo}</a></div></div>"""
    assert drop(body, [*ARTICLE, promo]) == ARTICLE


def test_a_lead_called_teaser_stays_unless_it_links_to_another_article():
    lead = "The tram is coming: the council said yes after two years."
    other = "Harbour bridge closed for repairs until the summer"
    body = f"""<article><h1>Tram</h1><p class="article-teaser">{lead}</p>
      <p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p>
      <div class="teaser"><a href="/other">{other}</a></div></article>"""
    assert drop(body, [lead, ARTICLE[0], ARTICLE[1], other]) == [lead, ARTICLE[0], ARTICLE[1]]


def test_a_gallery_whose_captions_are_the_story_keeps_them():
    captions = [
        f"Look {i}: a bowler hat, false lashes and a cane make the costume." for i in range(8)
    ]
    figures = "".join(
        f'<figure><img src="{i}.jpg"><figcaption>{c}</figcaption></figure>'
        for i, c in enumerate(captions)
    )
    body = f"<article><h1>Halloween costumes</h1><p>Eight ideas.</p>{figures}</article>"
    lines = ["Eight ideas.", *captions]
    assert drop(body, lines) == lines


def test_wordpress_taxonomy_classes_do_not_make_the_article_furniture():
    el = fromstring('<article class="post type-post tag-social category-share-news">x</article>')
    assert furniture_kind(el) is None
    assert (
        furniture_kind(fromstring('<div class="sharedaddy sd-sharing-enabled">x</div>')) == "share"
    )
    assert furniture_kind(fromstring('<ul class="related_post wp_rp">x</ul>')) == "teaser"
    assert furniture_kind(fromstring('<div id="navBreadcrumbs">x</div>')) == "navigation"


@pytest.mark.parametrize(
    "line",
    [
        "Read also: Bus fares rise again in January",
        "Auch interessant:",
        "Читайте также:",
        "Czytaj także: Rolnicy blokują drogi",
        "Tags: tram, council",
        "Теги: выборы, Киев",
        "Share this:",
        "Partager sur Facebook",
        "Поделиться",
        "Subscribe now to our print edition for the full story.",
        "Abonnieren Sie jetzt unseren Newsletter!",
        "Подписывайтесь на наш канал в Telegram",
        "Follow us on Twitter and Instagram",
        "© 2024 City Times. All rights reserved.",
        "Перепечатка материалов без письменного разрешения запрещена.",
        "Anzeige: Dieser Beitrag entstand in Zusammenarbeit mit einem Hersteller.",
        "Foto: dpa",
    ],
)
def test_prompt_lines_in_several_languages(line):
    assert is_prompt(line)


@pytest.mark.parametrize(
    "line",
    [
        "Share prices fell sharply on Tuesday.",
        "Werbung für Tabak ist seit 2007 verboten.",
        "Melden Sie sich bei der Polizei, wenn Sie etwas gesehen haben.",
        "Like many parents, she posts photos on Facebook.",
        "Follow-up talks with Twitter are planned for next week.",
        "Related to this, the council approved the budget.",
        "Users can download the app for free from Tuesday.",
        "The company asked readers to subscribe to its newsletter.",
        "По теме выборов высказался председатель комиссии.",
        "Would you like me to tailor this piece for a specific outlet?",
    ],
)
def test_article_sentences_that_share_the_prompts_words_stay(line):
    assert not is_prompt(line)


PAGE = f"""<html><head><title>Council approves tram line</title></head><body><article>
<h1>Council approves tram line</h1><p>{ARTICLE[0]}</p><p>{ARTICLE[1]}</p><p>{ARTICLE[2]}</p>
<p>Sign up for our daily newsletter to get the latest city news in your inbox.</p>
<p>© 2024 City Times. All rights reserved.</p></article></body></html>"""


def test_extraction_drops_prompts_and_can_keep_them():
    text = extract_html(PAGE, "https://x.example/tram")["text"]
    assert all(paragraph in text for paragraph in ARTICLE)
    assert "newsletter" not in text and "rights reserved" not in text

    kept = extract_html(PAGE, "https://x.example/tram", furniture=False)["text"]
    assert "newsletter" in kept and "rights reserved" in kept
    assert ExtractStage.from_settings({"furniture": False}).furniture is False
