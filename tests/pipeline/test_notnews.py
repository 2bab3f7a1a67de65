"""Pages that are not news: the rules file, the stored stub and article pages, screen()."""

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from pipeline import notnews
from pipeline.dedup import DedupStage, jaccard, signature
from pipeline.extract import ExtractStage, extract_html
from pipeline.notnews import KINDS, STUB_KINDS, Rules, RulesError, default_rules, screen
from storage.records import DocInput, Rejection

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notnews"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
LANGS = ("ru", "uk", "en", "de", "pl", "fr")
ARTICLE = (
    "The regional council approved the new tram line on Tuesday after two years of debate. "
    "Construction will start in spring and the first trams should run through the old town "
    "by the end of next year, the mayor said. Opponents had argued that the money would be "
    "better spent on buses, which can be rerouted when the city grows in other directions."
)
# two short unrelated articles (over article_chars: articles, not stubs)
TRAM = ARTICLE[: ARTICLE.index(" Opponents")] + " Tickets will cost the same as on buses."
BAKERY = (
    "A new bakery opened next to the central station on Friday morning, and by noon the queue "
    "reached the tram stop. The owners, two sisters who trained in Lyon, plan to bake rye bread "
    "from a local mill and to open a second shop in the harbour district in autumn."
)


def page(name: str) -> dict:
    return extract_html((FIXTURES / name).read_text(encoding="utf-8"), f"https://x.example/{name}")


def test_every_stub_kind_has_wording_in_six_languages():
    data = tomllib.loads(
        resources.files("pipeline").joinpath("data/notnews.toml").read_text("utf-8")
    )
    covered = {(r["kind"], lang) for r in data["rule"] for lang in r["languages"]}
    # block pages are worded apart from challenges in some languages, with them in others
    missing = [
        (kind, lang)
        for kind in ("consent", "paywall", "error", "login")
        for lang in LANGS
        if (kind, lang) not in covered
    ] + [
        ("challenge/block", lang)
        for lang in LANGS
        if ("challenge", lang) not in covered and ("block", lang) not in covered
    ]
    assert missing == []
    assert {r["kind"] for r in data["rule"]} == set(KINDS)


def test_the_fixture_set_has_each_stub_kind_in_ru_en_de_pl():
    found = {
        tuple(n.removesuffix(".html").split("-")[:2]) for n, e in EXPECTED.items() if e["kind"]
    }
    for kind in STUB_KINDS:
        assert {"ru", "en", "de", "pl"} <= {lang for k, lang in found if k == kind}, kind
    assert sum(e["kind"] is None for e in EXPECTED.values()) >= 4  # articles that stay


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_pages_get_their_expected_verdict(name):
    expected = EXPECTED[name]
    result = page(name)
    assert result is not None, f"{name}: trafilatura found no text"
    got = screen(result, f"https://x.example/{name}")
    if expected.get("stage") == "embed":  # a stub by its shape: the embed stage judges it
        assert isinstance(got, dict), f"{name} was rejected at extraction: {got}"
        shaped = default_rules().shaped(got["text"], got.get("title"))
        assert shaped is not None, f"{name} has no stub's shape"
        return
    if expected["kind"] is not None:
        assert isinstance(got, tuple), f"{name} was kept: {result['text'][:200]!r}"
        reason, detail = got
        assert reason == "not_news"
        assert detail.split(":")[0] == expected["kind"], detail
        return
    assert isinstance(got, dict), f"{name} was rejected: {got}"
    for snippet in expected["kept"]:
        assert snippet in got["text"]
    html = (FIXTURES / name).read_text(encoding="utf-8")
    for snippet in expected["removed"]:  # by screen(), or already by the extraction's filters
        assert snippet in html and snippet not in got["text"]
    if not expected["removed"]:
        assert got is result  # nothing to take out: the extraction goes on untouched


def test_the_extract_stage_rejects_a_stub_with_its_kind_and_rule():
    html = (FIXTURES / "challenge-ru-ddosguard.html").read_text(encoding="utf-8")
    [rejection] = ExtractStage().process([DocInput("d", 1, "https://x.example/", "s", html=html)])
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "not_news"
    assert rejection.detail.startswith("challenge: rule ddos-guard-ru, ")


def test_the_polish_block_page_of_the_issue_in_its_shapes():
    lines = (
        "Przykro nam, ale z adresu IP, z którego się łączy, odnotowaliśmy ogromną liczbę połączeń.",
        "Podejrzewamy, że ktoś nadużył adresu IP, z którego korzystasz.",
        'Jeśli chcesz połączyć się z nami, zaznacz "NIE JESTEM ROBOTEM".',
        "Twój adres IP: 192.0.2.7",
    )
    for text in ("\n\n".join(lines), "".join(lines) + " " + " ".join(lines)):  # flattened too
        reason, detail = screen({"text": text, "title": None})
        assert (reason, detail.split(",")[0]) == ("not_news", "block: rule blocked-pl")


def test_a_long_article_keeps_its_text_and_loses_the_notice():
    notice = "We use cookies to improve your experience. By continuing to browse, you agree."
    result = {"text": f"{notice}\n{ARTICLE}\nAccept all", "title": "Tram line approved"}
    kept = screen(result)
    assert kept["text"] == ARTICLE and kept["title"] == "Tram line approved"


def test_an_article_quoting_a_notice_in_its_own_sentences_is_untouched():
    quote = (
        'Since Monday readers of the paper see the line "This article is for subscribers '
        'only" under the second paragraph of most stories. ' + ARTICLE
    )
    result = {"text": quote, "title": "A paywall for the Courier"}
    assert screen(result) is result
    short = {"text": "Access denied, said the guard, and the reporters were turned away.\n"}
    assert screen(short) is short  # anchored wording: only a line that says nothing else


# News briefs whose headline or sentences use a stub's words about something else: the rules
# must take the whole title or line as a notice, never a headline or a sentence that says more.
BRIEFS = [
    (
        "Аккаунт Трампа в Twitter приостановлен",
        "Социальная сеть Twitter приостановила аккаунт бывшего президента США Дональда Трампа. "
        "В компании заявили, что решение принято после проверки его последних публикаций. "
        "Представители Трампа назвали решение цензурой и пообещали обратиться в суд.",
    ),
    (
        "Account von Donald Trump gesperrt - tagesschau.de",
        "Twitter hat das Konto des früheren US-Präsidenten Donald Trump dauerhaft gesperrt. "
        "Das Unternehmen begründete den Schritt mit der Gefahr weiterer Aufrufe zur Gewalt. "
        "Trumps Sprecher kündigte an, rechtlich gegen die Entscheidung vorzugehen.",
    ),
    (
        "Konto ministra na Twitterze zawieszone",
        "Twitter zawiesił konto ministra po serii wpisów, które według serwisu naruszały "
        "regulamin. Rzecznik ministerstwa poinformował, że resort odwoła się od tej decyzji "
        "i do tego czasu komunikaty będą publikowane na stronie internetowej.",
    ),
    (
        "Dordogne : un domaine de 300 hectares à vendre",
        "Un domaine viticole de 300 hectares est mis en vente près de Bergerac. Le château, "
        "construit au XVIIe siècle, compte douze chambres et un chai moderne. Les propriétaires "
        "espèrent trouver un acquéreur avant les prochaines vendanges, selon l'agence.",
    ),
    (
        "Quelque chose s'est mal passé à Marseille",
        "Quelque chose s'est mal passé ce soir-là au stade Vélodrome, raconte un supporter.\n"
        "Les secours sont intervenus après un mouvement de foule à l'entrée du virage nord. "
        "La préfecture a ouvert une enquête pour comprendre pourquoi les portes sont restées "
        "fermées si longtemps.",
    ),
    (
        "Fatal Error | Netflix review",
        "The new thriller follows a programmer who finds a bug that could bring down the stock "
        "exchange. The first episodes are tense, but the series loses its way in the middle "
        "and the final twist can be seen coming from the second episode.",
    ),
    (
        "Critical error - BBC News",
        "A critical error in the air traffic control system grounded flights across the "
        "country on Monday. Engineers restored the system after four hours, and the regulator "
        "said it would review why the backup did not take over.",
    ),
    (
        "ANAF: probleme la depunerea declarațiilor",
        "A apărut o eroare critică pe site-ul ANAF.\nContribuabilii nu au putut depune "
        "declarațiile timp de câteva ore. Agenția a anunțat că termenul va fi prelungit cu "
        "o săptămână pentru cei afectați.",
    ),
    (
        "Awaria systemu bankowego",
        "Wystąpił błąd krytyczny w systemie banku.\nKlienci jednego z największych banków "
        "w kraju przez kilka godzin nie mogli wykonywać przelewów. Bank zapowiedział "
        "rekompensaty dla poszkodowanych.",
    ),
    (
        "Роскомнадзор ограничил доступ к сервисам",
        "Роскомнадзор заблокировал доступ с IP-адресов Amazon к ряду российских сервисов.\n"
        "Новый сайт пока в разработке.\nРабота крупного хостинга в Москве была приостановлена "
        "после пожара в дата-центре, сообщили в компании, и клиенты переносят сайты.",
    ),
    (
        "Pożar centrum danych",
        "Usługi hostingowe firmy OVH zostały zawieszone po pożarze centrum danych w Strasburgu. "
        "Tysiące stron internetowych przestały działać, a firma zapowiedziała przeniesienie "
        "klientów do innych serwerowni.",
    ),
    (  # a headline that quotes a notice, repeated as the text's first line
        "Panne géante : des dizaines de sites affichent « 502 Bad Gateway »",
        "Panne géante : des dizaines de sites affichent « 502 Bad Gateway »\n"
        "Des dizaines de sites de médias régionaux sont restés inaccessibles mardi matin après "
        "une panne chez un hébergeur lyonnais, qui évoque une mise à jour défectueuse.",
    ),
    (  # English headlines quote in single marks (blind set 14: this line was cut as a notice)
        "Tax portal crashes on filing deadline day, showing '503 Service Unavailable' to millions",
        "Tax portal crashes on filing deadline day, showing '503 Service Unavailable' to millions\n"
        "The revenue service's website failed for six hours on Monday as taxpayers rushed to "
        "file before midnight, and officials extended the deadline by a week.",
    ),
    (
        "Readers see ‘Access denied’ as the paper’s site blocks VPN users",
        "Readers see ‘Access denied’ as the paper’s site blocks VPN users\n"
        "The newspaper said its provider had switched on a filter by mistake, and that readers "
        "abroad can use the app until the fix arrives later this week.",
    ),
    (
        "Il quotidiano di Bergamo introduce il paywall: «Abbonati per continuare a leggere»",
        "Il quotidiano di Bergamo introduce il paywall: «Abbonati per continuare a leggere»\n"
        "Da lunedì gli articoli del sito saranno gratuiti solo per i primi paragrafi. "
        "L'editore spiega che la pubblicità non basta più a pagare la redazione.",
    ),
    (
        "Staatsanwaltschaft ermittelt",
        "Ungewöhnlich viele Anfragen\n"
        "Die Behörde meldete Anträge auf Akteneinsicht in dem Verfahren. "
        "Die Staatsanwaltschaft prüft nun, ob die Anfragen koordiniert wurden, und will "
        "bis Ende des Monats entscheiden.",
    ),
]


@pytest.mark.parametrize(
    "line",
    [
        "Click 'Accept all cookies' to continue.",
        "To continue, click ‘Accept all cookies’",
        "Hit 'Start your free trial' to read on",
        "Please click 'Enable JavaScript to continue'",
    ],
)
def test_a_button_named_in_single_quotation_marks_is_still_the_stubs_own_line(line):
    """English interfaces name their buttons in single marks: on a line a button's length,
    single marks are no quotation (a review of the single-quote rule: these four stubs were
    kept as articles by its first version)."""
    assert screen({"text": line, "title": "Local news"})[0] == "not_news"


@pytest.mark.parametrize(("title", "text"), BRIEFS, ids=[t[:24] for t, _ in BRIEFS])
def test_a_brief_using_a_stubs_words_about_something_else_is_kept_whole(title, text):
    result = {"text": text, "title": title}
    assert screen(result) is result


# A second review's briefs: headlines that begin with a stub title's words or put a block
# page's title before the site's name, and briefs quoting a message that addresses the reader
REVIEWED = [
    (
        "Salon de l'auto",
        "Déjà abonné au Pass Navigo ? Votre forfait sera remboursé.\n"
        "La région a annoncé mardi le remboursement d'un mois de forfait après les grèves de "
        "septembre. Les usagers devront faire leur demande en ligne avant la fin de l'année, "
        "a précisé Île-de-France Mobilités, qui estime le coût de la mesure à 80 millions "
        "d'euros.",
    ),
    (
        "Qrator Labs: число DDoS-атак выросло вдвое | РБК",
        "Qrator Labs: число DDoS-атак выросло вдвое\n"
        "Во втором квартале компании зафиксировали вдвое больше атак, чем годом ранее, "
        "говорится в отчёте. Чаще всего атаковали банки и интернет-магазины, а самая "
        "длинная атака продолжалась почти трое суток, отмечают аналитики.",
    ),
    (
        "Rate limit exceeded: X limits how many posts users can read",
        "Rate limit exceeded: X limits how many posts users can read\n"
        "The platform said on Saturday that unverified accounts would be able to read 600 "
        "posts a day, and new accounts 300, to fight data scraping. Users reported error "
        "messages across the site within hours of the change.",
    ),
    (
        "Технические работы на сайте Госуслуг продлятся до утра",
        "Минцифры предупредило о плановых работах на портале государственных услуг. С 23:00 пятницы до 6:00 субботы часть сервисов, включая запись к врачу и подачу заявлений, будет работать с перебоями.\nВ ведомстве объяснили, что обновление серверного оборудования необходимо для повышения стабильности портала. Пользователям рекомендовали заранее скачать нужные документы.\nВ прошлый раз подобные работы заняли около пяти часов.",
    ),
    (
        "Sicherheitsüberprüfung für Flughafenpersonal verschärft",
        "Das Bundesinnenministerium hat die Regeln für die Zuverlässigkeitsprüfung von Beschäftigten an deutschen Flughäfen verschärft. Künftig sollen auch Reinigungskräfte und Lieferanten regelmäßig überprüft werden.\nHintergrund sind mehrere Vorfälle, bei denen Unbefugte in den Sicherheitsbereich gelangt waren. Die Flughafenbetreiber kritisierten den zusätzlichen Aufwand.",
    ),
    (
        "Ваш запрос отклонен: суд отказал в иске к Минфину",
        "Арбитражный суд Москвы отказал компании в иске к Министерству финансов на сумму 2 млрд рублей. Истец требовал компенсировать убытки от изменения налоговых правил.\nПредставители компании заявили, что обжалуют решение в апелляционной инстанции.",
    ),
    (
        "Доступ запрещен - Коммерсантъ",
        "Роскомнадзор начал блокировать популярные VPN-сервисы, которыми пользуются миллионы россиян. По данным источников, под ограничения попали протоколы OpenVPN и WireGuard.\nЭксперты отмечают, что блокировки затронули и корпоративные сети, которые используют те же протоколы для удалённой работы сотрудников. В ведомстве ситуацию не комментируют.",
    ),
    (
        "Access denied | The Economist",
        "Palestinians in the West Bank face new restrictions on entering Jerusalem for Friday prayers. Israel's security cabinet decided on Sunday that only men over 55 and women over 50 would receive permits.\nHuman-rights groups said the move would raise tensions during Ramadan.",
    ),
    (
        "Acceso denegado | El País",
        "Cientos de migrantes esperan en la frontera sur de Estados Unidos tras el cierre de la aplicación de citas de asilo. La administración anunció el cambio sin previo aviso el lunes.\nOrganizaciones humanitarias denuncian que muchas familias llevaban meses esperando su cita.",
    ),
    (
        "Data breach: 2 million customer passwords leaked",
        'Hackers have stolen the login details of two million customers of the online retailer, the company said on Friday. Email addresses and passwords were posted on a hacking forum.\n"If you have an account with us, please change your password," the company said. It said payment data was not affected and that the website and server had been secured.',
    ),
    (
        "Госуслуги: сайт временно недоступен",
        "Портал Госуслуг с утра работает с перебоями. Пользователи жалуются на ошибку при входе в личный кабинет и на то, что страница не загружается.\nВ Минцифры сообщили, что сбой связан с DDoS-атакой на серверы. «Если вы не можете войти в аккаунт, повторите попытку позже», — говорится в сообщении ведомства.",
    ),
]


@pytest.mark.parametrize(("title", "text"), REVIEWED, ids=[t[:24] for t, _ in REVIEWED])
def test_a_headline_that_starts_like_a_stubs_title_or_quotes_one_keeps_its_brief(title, text):
    result = {"text": text, "title": title}
    assert screen(result) is result


# A review of the wording added after blind set 12 (bench/data/set12-review-*.tsv): news on the
# same subjects in ar, zh, de, hu, it, pl, ru, tr and uk (a court blocked a site, the gambling
# register grew, a site was seized, a search found nothing, a paywall launched, a captcha
# vendor), quoting the pages' wording as a journalist would. Lines go into a brief of their
# language, above and below it. The rules before that wording kept all of them whole too.
def review(name: str, blind: int = 12) -> list[list[str]]:
    path = Path(__file__).resolve().parents[2] / "bench" / "data" / f"set{blind}-review-{name}.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.replace("\\n", "\n").split("\t") for line in lines if line.strip()]


REVIEW_BRIEFS, REVIEW_LINES = review("briefs"), review("lines")


# The same review for the wording added after blind set 13 (bench/data/set13-review-*.tsv): news
# in en, es, fi, he, hu, ja, ka, pl, pt and sv on its misses' subjects (Telegram took down a
# channel, an age-check law, a server error, a paywall launched, a search or archive found
# nothing, a site went offline, a hosting account was suspended, a domain was parked or sold),
# quoting the pages' wording in quotation marks, or unquoted inside a sentence of its own, as
# a journalist would. The rules before that wording kept all of them whole too; the same
# wording without its anchors would have rejected 12 of the briefs and cut 17 of the lines.
REVIEW13_BRIEFS, REVIEW13_LINES = review("briefs", 13), review("lines", 13)
BRIEFS = [(12, *b) for b in REVIEW_BRIEFS] + [(13, *b) for b in REVIEW13_BRIEFS]
LINES = [(12, *x) for x in REVIEW_LINES] + [(13, *x) for x in REVIEW13_LINES]


@pytest.mark.parametrize(("set_", "lang", "title", "text"), BRIEFS,
                         ids=[f"set{n}-{lang}-{t[:24]}" for n, lang, t, _ in BRIEFS])  # fmt: skip
def test_a_brief_on_a_blind_sets_stubs_subject_is_kept_whole(set_, lang, title, text):
    result = {"text": text, "title": title}
    assert screen(result) is result
    assert default_rules().weak(text, title) is None


@pytest.mark.parametrize(("set_", "lang", "line"), LINES,
                         ids=[f"set{n}-{lang}-{x[:24]}" for n, lang, x in LINES])  # fmt: skip
def test_a_news_line_on_a_blind_sets_stubs_subject_is_never_cut(set_, lang, line):
    assert all(sum(n == k for n, *_ in rows) >= 30 for rows in (BRIEFS, LINES) for k in (12, 13))
    title, brief = next((t, x) for n, lg, t, x in BRIEFS if (n, lg) == (set_, lang))
    for text in (f"{brief}\n{line}", f"{line}\n{brief}"):
        result = {"text": text, "title": title}
        assert screen(result) is result


def test_a_stubs_title_with_the_sites_name_still_makes_a_stub_beside_a_notice():
    text = "Access denied\nYou don't have permission to access this server.\nReference #18.4f2"
    reason, detail = screen({"text": text, "title": "Access denied | example.com"})
    assert reason == "not_news" and detail.startswith("block:")


def test_a_stub_url_needs_less_text_and_a_stub_title_alone_is_a_weak_sign():
    text = "Please wait while we prepare the page for you. " * 8  # no wording of any rule
    rules = default_rules()
    assert screen({"text": text, "title": "Breaking news"}) == {
        "text": text,
        "title": "Breaking news",
    }
    assert rules.weak(text, "Breaking news") is None
    login = screen({"text": text, "title": "Account"}, "https://x.example/login?next=/a/1")
    assert login[1].startswith("login:")
    # a stub's title over prose with no notice: kept, with a hint that the embed stage weighs
    # with the lead vector (tests/pipeline/test_stubvectors.py)
    page = {"text": text, "title": "Just a moment..."}
    assert screen(page) is page
    assert rules.weak(text, "Just a moment...") == (
        "challenge", "cloudflare, title alone", "Just a moment...")  # fmt: skip
    # ... but over no prose at all, or beside a notice, the title makes it a stub
    bare = screen({"text": "Reference #18.4f2", "title": "Access denied"})
    assert bare[1].startswith("block: rule blocked-en")
    noticed = screen(
        {"text": f"{text}\nCloudflare Ray ID: 8f2c1d9a7b3e4f01", "title": "Just a moment..."}
    )
    assert noticed[1].startswith("challenge:")
    # a long text is an article whatever its title: no hint
    assert isinstance(screen({"text": ARTICLE * 3, "title": "Just a moment..."}), dict)
    assert rules.weak(ARTICLE * 3, "Just a moment...") is None


# Briefs titled exactly as a stub is (a film, an episode, an app): kept by the rules, and by
# the embed stage (tests/pipeline/test_stubvectors.py), where they once were rejected.
TITLED = [
    ("Access Denied", "The new thriller Access Denied opens this week in cinemas across the "
     "country. Directed by a first-time filmmaker, the film follows a hacker who breaks into a "
     "bank's network and finds more than money. Critics praised the lead performance but found "
     "the plot thin."),
    ("Error 404", "The fourth episode of the series, titled Error 404, aired on Sunday. In it "
     "the detectives trace a missing programmer through a chain of deleted websites. Ratings "
     "rose by a tenth against the week before, the channel said."),
    ("Login", "Login, a new Ukrainian comedy about a family that loses its bank password, "
     "premiered in Kyiv on Friday. The director said the story was inspired by his parents."),
]  # fmt: skip


@pytest.mark.parametrize(("title", "text"), TITLED, ids=[t for t, _ in TITLED])
def test_a_brief_titled_exactly_as_a_stub_is_kept_with_a_hint(title, text):
    result = {"text": text, "title": title}
    assert screen(result) is result
    kind, rule, evidence = default_rules().weak(text, title)
    assert rule.endswith(", title alone") and evidence == title
    # the headline kept as the text's first line (an <h1> inside <article>) is the title's
    # line, not a notice of the text; a cookie bar is a notice of another kind than the title's
    # (on a text of article_chars or more: a shorter one with a cookie bar is a consent wall)
    framings = [f"{title}\n{text}"] + [f"{text}\nWe use cookies\nAccept all"] * (len(text) > 250)
    for framed in framings:
        got = screen({"text": framed, "title": title})
        assert isinstance(got, dict) and got["text"].startswith(framed.split("\nWe use")[0])
        assert default_rules().weak(framed, title)[1].endswith(", title alone")


def test_a_stubs_title_over_a_line_or_two_is_still_a_stub():
    """Under title_alone_chars of prose the title still counts: a one-line challenge page."""
    line = "Please wait while the page loads for you."  # 41 characters, no rule's wording
    assert screen({"text": line, "title": "Just a moment..."})[1].startswith("challenge:")
    assert isinstance(screen({"text": line, "title": "Harbour news"}), dict)


def test_a_title_worded_as_a_notice_counts_as_a_stub_title_only_beside_a_notice():
    text = f"HTTP 503 · Service Temporarily Unavailable\n{ARTICLE}"  # 430 chars besides the notice
    reason, detail = screen({"text": text, "title": "На сайте ведутся технические работы"})
    assert reason == "not_news" and detail.startswith("error:")
    kept = screen({"text": text, "title": "Tram line approved"})
    assert kept["text"] == ARTICLE  # the same text under an article's title
    # a news brief titled with the wording, but with no notice in its text, stays whole
    brief = {"text": ARTICLE, "title": "На сайте ведутся технические работы"}
    assert screen(brief) is brief


def test_a_teaser_that_a_wall_ends_is_a_stub_and_a_footer_line_is_not():
    wall = "This article is for subscribers only\nAlready a subscriber? Log in"
    teaser = {"text": f"{ARTICLE}\n{wall}", "title": "Tram line approved"}
    reason, detail = screen(teaser)  # 430 characters of prose: over article_chars
    assert reason == "not_news" and detail.startswith("paywall:")
    # one wall line at the foot of an article is furniture, as before
    footer = screen({"text": f"{ARTICLE}\nAlready a subscriber? Log in", "title": None})
    assert footer["text"] == ARTICLE
    # the article goes on after the wall, or the teaser is as long as an article
    assert (
        screen({"text": f"{TRAM}\n{wall}\n{BAKERY}", "title": None})["text"] == f"{TRAM}\n{BAKERY}"
    )
    assert screen({"text": f"{ARTICLE * 3}\n{wall}", "title": None})["text"] == ARTICLE * 3


def test_a_short_teaser_under_a_paywall_label_is_a_stub():
    # the extraction kept the "Premium" label and the teaser, not the wall itself
    reason, detail = screen({"text": f"Premium\n{ARTICLE}", "title": "Tram line approved"})
    assert reason == "not_news" and detail.startswith("paywall:")
    longer = screen({"text": f"Premium\n{ARTICLE}\n{BAKERY}", "title": "Tram line approved"})
    assert longer["text"] == f"{ARTICLE}\n{BAKERY}"  # 700 characters: an article, label cut
    # below the text it is furniture, as a login notice above it is
    assert screen({"text": f"{ARTICLE}\nPremium", "title": None})["text"] == ARTICLE
    assert screen({"text": f"Log in\n{ARTICLE}", "title": None})["text"] == ARTICLE


def test_boilerplate_alone_is_taken_out_but_never_makes_a_stub():
    result = {"text": "Все права защищены.\n" + ARTICLE[:200], "title": None}
    assert screen(result)["text"] == ARTICLE[:200]
    reason, detail = screen({"text": "All rights reserved.\nShare", "title": None})
    assert reason == "not_news" and detail.startswith("boilerplate:")


def test_a_notice_repeated_on_every_page_no_longer_makes_two_pieces_near_copies():
    notice = (
        "We use cookies to improve your experience on our site. By continuing to browse, you "
        "agree to our use of cookies.\nWe and our partners store and/or access information on "
        "a device, such as cookies, and process personal data, such as unique identifiers and "
        "standard information sent by a device, for personalised advertising and content, "
        "advertising and content measurement, audience research and services development.\n"
        "You may click to consent to our and our 842 partners' processing as described above. "
        "You can change your preferences at any time by returning to this site.\n"
        "TAKE A FREE TRIAL\nGet unlimited access to the Harbour Gazette. Cancel anytime.\n"
        "Sign up for our newsletter to get the morning briefing in your inbox every day."
    )
    a, b = f"{notice}\nAlready a subscriber? Sign in\n{TRAM}", f"{notice}\n{BAKERY}"
    dedup = DedupStage(translated=False)
    sig = lambda t: signature(t, dedup.num_perm, dedup.seed, dedup.shingle)  # noqa: E731
    before = jaccard(sig(a), sig(b))
    kept_a, kept_b = screen({"text": a}), screen({"text": b})
    assert (kept_a["text"], kept_b["text"]) == (TRAM, BAKERY)
    assert before >= dedup.threshold > jaccard(sig(kept_a["text"]), sig(kept_b["text"]))


@pytest.mark.parametrize(
    "rules, message",
    [
        ('[[rule]]\nid = "x"\nkind = "spam"\nphrases = ["a"]\n', "kind 'spam'"),
        ('[[rule]]\nid = "x"\nkind = "error"\nphrase = ["a"]\n', "unknown key(s) ['phrase']"),
        ('[[rule]]\nid = "x"\nkind = "error"\npatterns = ["(a"]\n', "rule 'x': patterns"),
        ('[[rule]]\nid = "x"\nkind = "error"\n', "rule 'x' has no phrases"),
        ("[limits]\narticle_char = 3\n", "unknown limit(s) ['article_char']"),
        ('[limits]\nnotice_alone_kinds = ["news"]\n', "notice_alone_kinds: a list of"),
        ('[limits]\npost_urls = "t.me"\n', "post_urls: a list of"),
        ('[limits]\npost_urls = ["(t.me"]\n', "[limits] post_urls: pattern '(t.me'"),
        ('[[rule]]\nid = "x"\nkind = "error"\nphrases = ["a"]\n' * 2, "defined twice"),
    ],
)
def test_a_malformed_rules_file_names_the_rule_and_key(rules, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        Rules.from_toml(rules)


def test_the_quick_test_before_each_rule_never_hides_a_match():
    """Rule.may_match skips a rule's full search on lines it cannot match (an article's prose,
    mostly); it must be False only where the search finds nothing: a phrase inside a longer
    line or in capitals (IGNORECASE takes "ı" for "i"), patterns anchored or not, a pattern
    whose ^ holds for one alternative only, a backreference numbered across patterns."""
    rules = Rules.from_toml(
        "[[rule]]\nid = 'x'\nkind = 'paywall'\nlanguages = ['en', 'tr']\n"
        "phrases = ['Subscribe to read', 'tüm hakları saklıdır']\n"
        "patterns = ['^only (members|subscribers)$', '^never|still \\d+ left', 'a(?=b)']\n"
        "[[rule]]\nid = 'y'\nkind = 'error'\nlanguages = ['en']\n"
        "patterns = ['(z)', '^(o)(k)\\2']\n"
    )
    lines = ["Please subscribe to read the rest.", "only subscribers", "only members here",
             "you have still 3 left", "never", "sometimes never", "ab", "a b", "prose, no match",
             "TÜM HAKLARI SAKLIDIR", "oko", *(line for name in EXPECTED for line in
               (FIXTURES / name).read_text(encoding="utf-8").splitlines())]  # fmt: skip
    for rule in (*rules.rules, *notnews.default_rules().rules):
        if rule.line is None:
            continue
        for line in lines:
            folded = notnews.fold(line)
            if rule.line.search(folded):
                assert rule.may_match(folded), (rule.id, line)
    assert rules.rules[1].line.search("oko")  # the \2 of the joined patterns is (o)
    hits = [line for line in lines[:10] if rules.rules[0].may_match(notnews.fold(line))]
    # and it does skip: "only members here" fails the $, ^ binds "never" to the start
    assert hits == [lines[0], lines[1], lines[3], lines[4], "ab", "TÜM HAKLARI SAKLIDIR"]


def test_the_bundled_rules_load_and_every_stub_kind_is_used():
    rules = notnews.default_rules()
    assert {r.kind for r in rules.rules} >= STUB_KINDS
    assert len({r.id for r in rules.rules}) == len(rules.rules)


# -- through the pipeline ----------------------------------------------------------------------

NOTICES = (
    "<p>We use cookies to improve your experience on our site. By continuing to browse, you "
    "agree to our use of cookies.</p><p>We and our partners store and/or access information on "
    "a device, such as cookies, and process personal data, such as unique identifiers and "
    "standard information sent by a device, for personalised advertising and content, "
    "advertising and content measurement, audience research and services development.</p>"
    "<p>You may click to consent to our and our 842 partners' processing as described above. "
    "You can change your preferences at any time by returning to this site.</p>"
    "<p>TAKE A FREE TRIAL</p><p>Get unlimited access to the Harbour Gazette. Cancel anytime.</p>"
    "<p>Sign up for our newsletter to get the morning briefing in your inbox every day.</p>"
    "<p>Already a subscriber? Sign in to read the Harbour Gazette on all your devices.</p>"
    "<p>This site is protected by reCAPTCHA and the Google Privacy Policy and Terms of Service "
    "apply.</p>"
)


def noticed_page(title: str, body: str) -> str:
    """An article whose site puts its notices at the top of every article body."""
    return (
        f"<html><head><title>{title} | Harbour Gazette</title></head><body><article>"
        f"<h1>{title}</h1>{NOTICES}<p>{body}</p></article></body></html>"
    )


def store_html(db, html: dict[str, str]) -> None:
    """Store ``html`` (url -> page) as imported pages, each under its host as source."""
    from datetime import UTC, datetime

    from storage import connect
    from storage.documents import store_pages
    from storage.records import PageRecord

    now = datetime(2026, 10, 1, tzinfo=UTC)
    with connect(db) as con:
        store_pages(con, [PageRecord(url=u, source=u.split("/")[2], origin="import",
                                     fetched_at=now, html=h) for u, h in html.items()])  # fmt: skip


def grouped_urls(con) -> set[str]:
    """The URLs of the documents in a copy group or a narrative."""
    return {url for (url,) in con.execute(
        "SELECT canonical_url FROM documents WHERE doc_id IN (SELECT doc_id FROM "
        "copy_members UNION ALL SELECT doc_id FROM narrative_members)").fetchall()}  # fmt: skip


def test_stubs_never_reach_copies_or_narratives_while_articles_still_cluster(tmp_path):
    from crawlers.demo.render import mirror_page
    from crawlers.demo.server import load_articles, paragraphs
    from pipeline.runner import run_stages
    from pipeline.stages import build_stages
    from storage import connect

    articles = {a["slug"]: a for a in load_articles()}
    real = {
        f"https://news.example/{slug}": mirror_page(
            title=a["title"], paragraphs=paragraphs(a), date=a["date"], lang=a["lang"]
        )
        for slug, a in articles.items()
        if slug.startswith(("the-ceasefire", "ceasefire-nobody", "peremirie", "sankcii-i-golod"))
    }
    real["https://gazette.example/tram"] = noticed_page("Tram line approved", TRAM)
    real["https://gazette.example/bakery"] = noticed_page("A bakery by the station", BAKERY)
    stubs = {f"https://stubs.example/{n}" for n, e in EXPECTED.items() if e["kind"]}
    # a site that answers every request with the same block page (the issue's Polish one)
    stubs |= {f"https://stubs.example/{i}/block-pl-ip.html" for i in range(3)}
    kept = {f"https://stubs.example/{n}" for n, e in EXPECTED.items() if not e["kind"]}
    html = {
        **real,
        **{u: (FIXTURES / u.rsplit("/", 1)[1]).read_text("utf-8") for u in stubs | kept},
    }
    db = tmp_path / "n.duckdb"
    store_html(db, html)
    stages = build_stages(["extract", "langid", "embed", "dedup", "cluster"], {})
    run_stages(db, stages, run_id="r1")
    with connect(db, read_only=True) as con:
        rejected = dict(con.execute("SELECT url, stage FROM rejections").fetchall())
        reasons = {r for (r,) in con.execute("SELECT DISTINCT reason FROM rejections").fetchall()}
        docs = {
            url: (group, narrative)
            for url, group, narrative in con.execute(
                "SELECT url, copy_group_id, narrative_id FROM v_documents"
            ).fetchall()
        }
        grouped = grouped_urls(con)
    # by the rules at extraction, or by their shape where their lead vector agrees
    stage = {f"https://stubs.example/{n}": e.get("stage", "extract") for n, e in EXPECTED.items()}
    assert rejected == {u: stage.get(u, "extract") for u in stubs}
    assert reasons == {"not_news"}
    assert not grouped & stubs
    assert grouped >= set(real) | kept  # every article is in a narrative
    # a republished copy still joins its original, in one copy group and one narrative
    copy = [v for u, v in docs.items() if "ceasefire" in u]
    assert len(copy) == 2 and copy[0] == copy[1] and None not in copy[0]
    # the notices a site puts on every article no longer join two unrelated pieces
    tram, bakery = docs["https://gazette.example/tram"], docs["https://gazette.example/bakery"]
    assert tram[1] != bakery[1] and (tram[0] is None or tram[0] != bakery[0])
