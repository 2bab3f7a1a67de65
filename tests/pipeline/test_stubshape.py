"""The shape of a stub (pipeline/stubshape.py): stubs worded as no rule knows."""

import re

import pytest

from pipeline.notnews import Rules, RulesError, default_rules, screen

# a hosting provider's page for a domain not yet linked to a site: no rule has its wording
UNLINKED = (
    "Домен novosti-regiona.ru направлен на серверы нашего хостинга, но пока не связан ни с "
    "одним сайтом. Если вы владелец домена, войдите в панель управления и привяжите домен к "
    "сайту в разделе «Сайты». Изменения вступят в силу в течение 15 минут."
)
# the same subject as a news post: it tells what happened and does not address the reader
OUTAGE = (
    "Сайт министерства обороны третий час недоступен. Хакерская группировка заявила в своём "
    "канале об атаке на серверы ведомства; в министерстве сбой пока не прокомментировали. "
    "По данным мониторинга, перебои начались в 9:40 по московскому времени."
)


def test_a_stub_worded_as_no_rule_knows_has_a_stubs_shape():
    """The shape is a weak sign: the extract stage keeps such a text, and the embed stage
    rejects it where its lead vector agrees (tests/pipeline/test_stubvectors.py)."""
    rules = default_rules()
    assert rules.notice(UNLINKED.split(". ")[0]) is None  # no rule matches it
    page = {"text": UNLINKED, "title": "novosti-regiona.ru"}
    assert screen(page) is page
    kind, evidence = rules.shaped(UNLINKED, "novosti-regiona.ru")
    assert kind == "error" and "домен" in evidence


def test_news_about_a_website_has_no_stubs_shape():
    rules = default_rules()
    assert rules.shaped(OUTAGE) is None
    # the same stub's words as part of a long text: an article, not a stub
    assert rules.shaped("\n".join([UNLINKED, OUTAGE * 6])) is None


def test_german_formal_you_counts_in_mid_sentence_only():
    shape = default_rules().shape
    stub = (
        "Bitte aktivieren Sie JavaScript und Cookies in Ihrem Browser. Die Anfrage wird "
        "überprüft, danach werden Sie automatisch weitergeleitet. Die Überprüfung dauert "
        "nur wenige Sekunden."
    )
    assert shape.judge(stub, str.lower)[0] == "challenge"
    # "Sie" opening a sentence is "she" or "they" as often as "you": not counted
    told = (
        stub.replace("Bitte aktivieren Sie", "Sie aktivierte")
        .replace("werden Sie automatisch", "wurde sie automatisch")
        .replace(" Ihrem", " ihrem")
    )
    assert shape.judge(told, str.lower) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[shape]\nsize = 3\n", "unknown key(s) ['size']"),
        ("[shape.words]\nnews = ['x']\n", "['news'] are not kinds"),
        ("[shape.words]\nerror = ['']\n", "error: a list of non-empty strings"),
        ("[shape]\ndensity = 'high'\n", "[shape]: could not convert"),
    ],
)
def test_a_malformed_shape_table_says_what_is_wrong(table, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        Rules.from_toml(table)


def test_without_a_shape_table_only_the_rules_judge():
    rules = Rules.from_toml('[[rule]]\nid = "x"\nkind = "error"\nphrases = ["page not found"]\n')
    assert rules.shape is None
    assert rules.shaped(UNLINKED) is None
