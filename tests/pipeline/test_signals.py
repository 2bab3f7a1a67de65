"""The signals rules and scoring on small texts in every language, the rules file format, the
seed page end to end through extract and signals, and the stage's writes in a real store."""

import duckdb
import pytest

from pipeline.config import ConfigError
from pipeline.extract import ExtractStage
from pipeline.signals import THRESHOLD, SignalsStage, load_rules, regions
from storage.db import migrate
from storage.outputs.signals import SignalResult
from storage.records import DocInput
from tests.conftest import seed_parts

STAGE = SignalsStage()
BODY = {
    "en": "The council approved the new budget on Tuesday after a long debate.\n"
    "Spending on roads rises by a tenth, the mayor said, and schools get two new buildings.\n"
    "The opposition voted against it, calling the plan unrealistic.",
    "ru": "Городской совет во вторник утвердил новый бюджет после долгих споров.\n"
    "Расходы на дороги вырастут на десятую часть, сообщил мэр, а школы получат два здания.\n"
    "Оппозиция голосовала против, назвав план нереалистичным.",
    "uk": "Міська рада у вівторок затвердила новий бюджет після довгих суперечок.\n"
    "Витрати на дороги зростуть на десяту частину, повідомив мер, а школи отримають дві будівлі.\n"
    "Опозиція голосувала проти, назвавши план нереалістичним.",
    "de": "Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt beschlossen.\n"
    "Die Ausgaben für Straßen steigen um ein Zehntel, sagte der Bürgermeister.\n"
    "Die Opposition stimmte dagegen und nannte den Plan unrealistisch.",
    "fr": "Le conseil municipal a adopté mardi le nouveau budget après un long débat.\n"
    "Les dépenses pour les routes augmentent d'un dixième, a indiqué le maire.\n"
    "L'opposition a voté contre, jugeant le plan irréaliste.",
    "es": "El ayuntamiento aprobó el martes el nuevo presupuesto tras un largo debate.\n"
    "El gasto en carreteras sube una décima parte, dijo el alcalde.\n"
    "La oposición votó en contra y calificó el plan de irrealista.",
}

# (language, family, where the leftover stands, the leftover): each must be found by the
# rule "<family>-<language>" (offer-en, as-an-ai-ru, ...) at that position, and decide
# machine_written on its own
POSITIVES = [
    ("en", "offer", "trailing", "Would you like me to tailor this piece to a specific audience "
     "(e.g., a regional newspaper or a radio editorial)?"),
    ("en", "offer", "trailing", "If you'd like, I can also add a few quotes from local experts."),
    ("en", "preamble", "lead", "Certainly! Here is a news article about the city budget:"),
    ("en", "placeholder", "trailing", "[Your Name], Staff Correspondent"),
    ("en", "placeholder", "body", "The plan was announced by [Insert mayor's name] at noon."),
    ("en", "prompt", "lead", "Rewrite the following article in your own words for a news site:"),
    ("en", "refusal", "trailing", "As an AI language model, I cannot verify these figures."),
    ("en", "cutoff", "lead", "As of my last knowledge update, the council had not met."),
    ("ru", "offer", "trailing", "Хотите, я адаптирую этот текст для регионального издания "
     "или сделаю его короче?"),
    ("ru", "offer", "trailing", "Если хотите, я могу добавить больше цитат и цифр."),
    ("ru", "preamble", "lead", "Конечно! Вот статья о городском бюджете:"),
    ("ru", "placeholder", "trailing", "[Ваше имя], корреспондент"),
    ("ru", "prompt", "lead", "Перепиши эту статью своими словами для новостного сайта."),
    ("ru", "refusal", "trailing", "Как языковая модель, я не могу проверить эти данные."),
    ("ru", "cutoff", "trailing", "На момент моего последнего обновления решения ещё не было."),
    ("uk", "offer", "trailing", "Хочете, я адаптую цей текст для іншої аудиторії?"),
    ("uk", "preamble", "lead", "Звісно! Ось стаття про міський бюджет:"),
    ("uk", "placeholder", "trailing", "[Ваше ім'я], кореспондент"),
    ("uk", "prompt", "lead", "Перепиши цю статтю своїми словами."),
    ("uk", "refusal", "lead", "Як мовна модель, я не маю власної думки щодо бюджету."),
    ("uk", "cutoff", "trailing", "Станом на моє останнє оновлення рішення ще не ухвалили."),
    ("de", "offer", "trailing", "Möchten Sie, dass ich den Text an eine bestimmte Zielgruppe "
     "anpasse oder kürze?"),
    ("de", "preamble", "lead", "Natürlich! Hier ist ein Artikel über den städtischen Haushalt:"),
    ("de", "placeholder", "trailing", "[Ihr Name], Redaktion"),
    ("de", "prompt", "lead", "Schreibe den folgenden Artikel in eigenen Worten um."),
    ("de", "refusal", "trailing", "Als KI-Sprachmodell kann ich diese Angaben nicht prüfen."),
    ("de", "cutoff", "trailing", "Mein Wissensstand reicht nur bis 2023."),
    ("fr", "offer", "trailing", "Souhaitez-vous que je développe davantage la partie sur les "
     "écoles ?"),
    ("fr", "preamble", "lead", "Bien sûr ! Voici un article sur le budget municipal :"),
    ("fr", "placeholder", "trailing", "[Votre nom], correspondant"),
    ("fr", "prompt", "lead", "Réécris l'article suivant avec tes propres mots."),
    ("fr", "refusal", "trailing", "En tant que modèle de langage, je ne peux pas vérifier ces "
     "chiffres."),
    ("fr", "cutoff", "trailing", "Mes connaissances s'arrêtent en 2023."),
    ("es", "offer", "trailing", "¿Quieres que adapte el artículo para un público más joven?"),
    ("es", "preamble", "lead", "¡Claro! Aquí tienes un artículo sobre el presupuesto municipal:"),
    ("es", "placeholder", "trailing", "[Tu nombre], corresponsal"),
    ("es", "prompt", "lead", "Reescribe el siguiente artículo con tus propias palabras."),
    ("es", "refusal", "trailing", "Como modelo de lenguaje, no puedo verificar estas cifras."),
    ("es", "cutoff", "trailing", "Hasta mi última actualización no había una decisión."),
    ("en", "offer", "trailing", "Want me to make it shorter?"),
    ("en", "preamble", "lead", "Here is an article about the council vote:"),
    ("en", "prompt", "trailing", "(Word count: 612)"),
    ("ru", "offer", "trailing", "Могу также подготовить краткую версию для соцсетей, если нужно."),
    ("de", "offer", "trailing", "Soll ich den Text noch kürzen?"),
    ("es", "offer", "trailing", "¿Te gustaría que lo adaptara para un público joven?"),
]  # fmt: skip

# (language, what a human text says there, where): no hit at all
NEAR_MISSES = [
    ("en", "trailing", "Would you like to subscribe to our newsletter?"),
    ("en", "trailing", "Do you want to know more? Write to us."),
    ("en", "trailing", "Would you like a free trial?"),
    ("en", "lead", "Here is what happened:"),
    ("de", "trailing", "Soll ich ehrlich sein? Ich weiß es nicht."),
    ("es", "trailing", "¿Quieres que te enviemos las noticias cada mañana?"),
    ("en", "lead", "Here is what we know about the budget so far."),
    ("en", "body", "The chatbot's knowledge cutoff is April 2023, the company said."),
    ("en", "body", "See the chart [1] and the photo [Reuters] below."),
    ("ru", "trailing", "Хотите подписаться на нашу рассылку?"),
    ("ru", "lead", "Вот что известно о бюджете на сегодня."),
    ("ru", "trailing", "Как заявил мэр, я не могу не отметить работу депутатов."),
    ("uk", "trailing", "Хочете підписатися на нашу розсилку?"),
    ("uk", "lead", "Ось що відомо про бюджет на сьогодні."),
    ("de", "trailing", "Möchten Sie unseren Newsletter abonnieren?"),
    ("de", "lead", "Hier ist, was wir über den Haushalt wissen."),
    ("fr", "trailing", "Souhaitez-vous recevoir notre newsletter ?"),
    ("fr", "lead", "Voici pourquoi le budget a été adopté."),
    ("es", "trailing", "¿Quieres recibir nuestro boletín?"),
    ("es", "lead", "Aquí está lo que sabemos sobre el presupuesto."),
]


def document(lang: str, position: str, line: str) -> str:
    """A three-paragraph article in ``lang`` with ``line`` as its lead, in its body or as
    its last paragraph (each paragraph over 100 characters: none is a short line)."""
    first, middle, last = (f"{p} {p}" for p in BODY[lang].split("\n"))
    if position == "lead":
        return "\n".join([line, first, middle, last])
    if position == "body":
        return "\n".join([first, line, middle, last])
    return "\n".join([first, middle, last, line])


def rule_of(lang: str, family: str) -> set[str]:
    """The rule ids a leftover of this family in this language may be found by."""
    if family == "refusal":
        return {f"as-an-ai-{lang}", f"refusal-{lang}"}
    return {r.id for r in load_rules() if r.family == family and lang in r.languages}


@pytest.mark.parametrize("lang,family,position,line", POSITIVES)
def test_leftovers_are_found_in_every_language(lang, family, position, line):
    hits = STAGE.find(document(lang, position, line))
    assert [h.position for h in hits] == [position], hits
    assert hits[0].rule_id in rule_of(lang, family) and lang in hits[0].lang.split(",")
    assert hits[0].family == family and not hits[0].quoted
    assert STAGE.score(hits) >= THRESHOLD


@pytest.mark.parametrize("lang,position,line", NEAR_MISSES)
def test_near_misses_are_not_hits(lang, position, line):
    assert STAGE.find(document(lang, position, line)) == []


def test_every_family_is_covered_in_six_languages():
    rules = load_rules()
    for family in ("offer", "refusal", "cutoff", "preamble", "placeholder", "prompt"):
        langs = {lang for r in rules if r.family == family for lang in r.languages}
        assert {"en", "ru", "uk", "de", "fr", "es"} <= langs, family
    assert {(lang, family) for lang, family, _, _ in POSITIVES} >= {
        (lang, f) for lang in BODY for f in ("offer", "refusal", "cutoff", "preamble",
                                             "placeholder", "prompt")
    }  # fmt: skip


def test_an_article_quoting_a_chatbot_is_not_machine_written():
    text = document(
        "en",
        "body",
        'Asked about the vote, the chatbot answered: "As an AI language model, I cannot '
        "take sides. I'm sorry, but I can't help with that request.\"",
    )
    hits = STAGE.find(text)
    assert {h.rule_id for h in hits} == {"as-an-ai-en", "refusal-en"}
    assert all(h.quoted and h.position == "body" for h in hits)
    assert STAGE.score(hits) < THRESHOLD
    # the same words as the article's own last paragraph decide it
    own = STAGE.find(document("en", "trailing", "As an AI language model, I cannot take sides."))
    assert STAGE.score(own) >= THRESHOLD


def test_an_offer_in_the_middle_is_not_a_hit_and_quotes_count_less():
    offer = "Would you like me to expand this article with more details?"
    assert STAGE.find(document("en", "body", offer)) == []
    # an offer the article quotes is not at the start of its paragraph
    said = f'The bot then asked: "{offer}"'
    assert STAGE.find(document("en", "trailing", said)) == []
    template = 'The flyer still read "[Your Name]" at the bottom, a reader noticed.'
    quoted = STAGE.find(document("en", "trailing", template))
    assert quoted[0].quoted and STAGE.score(quoted) == 0.5 < THRESHOLD


def test_positions_skip_short_lines_at_either_end():
    first, middle, last = (f"{word} paragraph, " * 12 for word in ("First", "Middle", "Last"))
    text = "\n".join(["MOSCOW, 3 October", first, middle, last, "Tags: peace", "Share"])
    lead_end, trailing_start = regions(text)
    assert text[:lead_end] == f"MOSCOW, 3 October\n{first}"  # a dateline: the lead goes on
    assert text[trailing_start:] == f"{last}\nTags: peace\nShare"  # tag and share lines
    offer = "Would you like me to expand this article?"
    tagged = document("en", "trailing", offer) + "\nTags: council, budget\nShare this article"
    assert [(h.rule_id, h.position) for h in STAGE.find(tagged)] == [("offer-en", "trailing")]
    one_line = (
        "Certainly! Here is the article. " + "Words " * 300 + "Would you like me to add more?"
    )
    hits = STAGE.find(one_line)
    assert [h.position for h in hits] == ["lead"]  # an offer in one long line is not trailing


def test_title_is_searched_and_the_matched_text_is_capped():
    hits = STAGE.find(BODY["en"], title="Certainly! Here is your article: Budget approved")
    assert [(h.rule_id, h.position) for h in hits] == [("preamble-en", "title")]
    hostile = STAGE.find(BODY["en"] + "\n[Insert " + "x" * 45 + "]")
    assert len(hostile) == 1 and len(hostile[0].matched) <= 200


def test_rules_file_extends_replaces_and_refuses_mistakes(tmp_path):
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[[rule]]\nid = "farm-signature"\nfamily = "prompt"\nlanguages = ["en"]\nweight = 1.0\n'
        "where = [\"trailing\"]\npattern = '''^generated by contentbot\\b'''\n\n"
        '[[rule]]\nid = "offer-en"\nfamily = "offer"\nlanguages = ["en"]\nweight = 0\n'
        "where = [\"trailing\"]\npattern = '''^would you like me to'''\n",
        encoding="utf-8",
    )
    stage = SignalsStage.from_settings({"rules": [str(extra)]})
    assert stage.version != STAGE.version  # a rules change rescores every document
    assert [
        h.rule_id for h in stage.find(document("en", "trailing", "Generated by ContentBot"))
    ] == ["farm-signature"]
    assert stage.find(document("en", "trailing", POSITIVES[0][3])) == []  # weight 0: off
    bad = tmp_path / "bad.toml"
    for body, message in [
        ('[[rule]]\nid = "x"\n', "missing"),
        ('[[rule]]\nid = "x"\nfamily = "offer"\nlanguages = ["en"]\nweight = 1\n'
         'where = ["middle"]\npattern = "a"\n', "where"),
        ('[[rule]]\nid = "x"\nfamily = "offer"\nlanguages = ["en"]\nweight = 1\n'
         'where = ["body"]\npattern = "(unclosed"\n', "bad pattern"),
        ('[[rule]]\nid = "x"\nfamily = "offer"\nlanguages = ["en"]\nweight = 1\n'
         'where = ["body"]\npattern = "a?"\n', "empty"),
        ('[[rule]]\nid = "x"\nfamily = "offer"\nlanguages = ["en"]\nweight = 1\n'
         'where = ["body"]\npattern = "a(?i)b"\n', "bad pattern"),
    ]:  # fmt: skip
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            SignalsStage.from_settings({"rules": [str(bad)]})
    with pytest.raises(ConfigError, match="no rules file"):
        SignalsStage.from_settings({"rules": [str(tmp_path / "absent.toml")]})
    with pytest.raises(ConfigError, match="unknown key"):
        SignalsStage.from_settings({"treshold": 2})


def test_seed_page_is_flagged_by_the_offer_at_the_trailing_position(seed_html):
    extracted = ExtractStage().process([DocInput("seed", 1, "https://example.ru/s/", "wp",
                                                 html=seed_html)])[0]  # fmt: skip
    doc = DocInput("seed", 1, "https://example.ru/s/", "wp", text=extracted.text,
                   title=extracted.title, lang="en")  # fmt: skip
    result = STAGE.process([doc])[0]
    assert result.machine_written and result.score >= THRESHOLD
    assert [(h.rule_id, h.position, h.quoted) for h in result.hits] == [
        ("offer-en", "trailing", False)
    ]
    assert result.hits[0].matched.startswith("Would you like me to tailor")
    last = seed_parts()[1][-1]
    assert extracted.text.endswith(last) and result.hits[0].char_start == len(extracted.text) - len(
        last
    )


def test_stage_writes_replace_a_documents_hits(tmp_path):
    from storage.stages import write_results

    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con)
    docs = [DocInput("a", 1, "u", "s", text=document("en", "trailing", POSITIVES[0][3])),
            DocInput("b", 1, "u", "s", text=BODY["en"])]  # fmt: skip
    for _ in range(2):  # idempotent: the second run replaces, never duplicates
        write_results(con, "signals", STAGE.version, STAGE.process(docs))
    rows = con.execute("SELECT doc_id, rule_id, position FROM signal_hits").fetchall()
    assert rows == [("a", "offer-en", "trailing")]
    scores = con.execute(
        "SELECT doc_id, hits, score, machine_written FROM signal_scores ORDER BY doc_id"
    ).fetchall()
    assert scores == [("a", 1, 1.0, True), ("b", 0, 0.0, False)]
    # a rules change that drops the rule leaves no stale hit behind
    write_results(con, "signals", "other", [SignalResult("a", 1)])
    assert con.execute("SELECT count(*) FROM signal_hits").fetchone()[0] == 0


def test_hostile_text_is_scanned_in_bounded_time():
    import time

    started = time.perf_counter()
    for chunk in ("[your " * 50, "Would you like me " * 40, "as an AI " * 60, '«“„"' * 100):
        STAGE.find((chunk + "\n") * 2000)
    assert time.perf_counter() - started < 30  # linear: about a second per megabyte here


# Leftovers in languages outside the six promised: placeholders in pt, it, pl, tr, and
# every family but cutoff and prompt in be and kk (rules written after the blind set's
# misses). Found in any article: every rule is searched whatever the text's language.
OTHER_LANGUAGES = [
    ("pt", "placeholder", "trailing", "[Seu nome], correspondente"),
    ("pt", "placeholder", "body", "A proposta foi apresentada por [Nome do vereador] na sessão."),
    ("it", "placeholder", "trailing", "[Il tuo nome], corrispondente"),
    ("pl", "placeholder", "trailing", "[Twoje imię], korespondent"),
    ("pl", "placeholder", "body", "Projekt przedstawił [imię i nazwisko radnego] na sesji."),
    ("tr", "placeholder", "trailing", "[Adınız], muhabir"),
    ("tr", "placeholder", "body", "Açıklamayı [Belediye başkanının adı] yaptı."),
    ("be", "offer", "trailing", "Калі хочаце, я магу скараціць тэкст або дадаць каментары."),
    ("be", "preamble", "lead", "Вядома! Вось навіна пра змены ў схеме руху аўтобусаў:"),
    ("be", "placeholder", "trailing", "[Імя аўтара], карэспандэнт"),
    ("be", "refusal", "trailing", "Як моўная мадэль, я не магу праверыць гэтыя лічбы."),
    ("kk", "offer", "trailing", "Қаласаңыз, мәтінді қысқарта аламын немесе пікірлер қоса аламын."),
    ("kk", "preamble", "lead", "Әрине! Міне, жаңа метро бекеттері туралы жаңалық мәтіні:"),
    ("kk", "placeholder", "trailing", "[Сіздің атыңыз], тілші"),
    ("kk", "refusal", "trailing", "Жасанды интеллект тілдік моделі ретінде менің жеке пікірім жоқ."),
]  # fmt: skip

# what journalists write in such brackets, and newsletter offers: no hit
OTHER_NEAR_MISSES = [
    ("body", "O morador, [nome alterado], não quis ser identificado."),
    ("body", "Mieszkanka [imię zmienione] nie chciała podać nazwiska."),
    ("body", "Rozmówca [imię i nazwisko do wiadomości redakcji] potwierdził."),
    ("body", "Il testimone [nome di fantasia] ha raccontato la notte."),
    ("trailing", "Хочаце падпісацца на нашу рассылку?"),
    ("trailing", "Жаңалықтарды алғыңыз келсе, арнамызға жазылыңыз."),
]


@pytest.mark.parametrize("lang,family,position,line", OTHER_LANGUAGES)
def test_leftovers_in_other_languages_are_found(lang, family, position, line):
    hits = STAGE.find(document("en", position, line))
    assert [h.position for h in hits] == [position], hits
    assert hits[0].rule_id in rule_of(lang, family) and lang in hits[0].lang.split(",")
    assert hits[0].family == family and STAGE.score(hits) >= THRESHOLD * (
        0.5 if position == "body" else 1  # a hit in the body counts half
    )


@pytest.mark.parametrize("position,line", OTHER_NEAR_MISSES)
def test_near_misses_in_other_languages_are_not_hits(position, line):
    assert STAGE.find(document("en", position, line)) == []
