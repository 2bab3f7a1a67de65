import pytest

from pipeline.extract import extract_html
from pipeline.langid import DETECTORS, EnsembleDetector, LangIdStage
from storage.records import DocInput

SAMPLES = {
    "ru": "Правительство объявило о новых мерах поддержки фермеров в этом году.",
    "uk": "Уряд оголосив про нові заходи підтримки фермерів цього року, повідомляє агентство.",
    "de": "Die Regierung hat neue Maßnahmen zur Unterstützung der Landwirte angekündigt.",
    "en": "The government announced new measures to support farmers this year.",
}


def test_seed_article_is_english_although_the_page_says_ru(seed_html):
    assert 'lang="ru-RU"' in seed_html
    text = extract_html(seed_html)["text"]
    lang, confidence = LangIdStage().detect(text)
    assert lang == "en" and confidence > 0.9


@pytest.mark.parametrize("method", sorted(DETECTORS))
def test_every_method_is_selectable_and_deterministic(method):
    stage = LangIdStage.from_settings({"method": method})
    first = [stage.detect(t) for t in SAMPLES.values()]
    again = [LangIdStage.from_settings({"method": method}).detect(t) for t in SAMPLES.values()]
    assert first == again
    langs = dict(zip(SAMPLES, (lang for lang, _ in first), strict=True))
    assert (langs["ru"], langs["de"], langs["en"]) == ("ru", "de", "en")


def test_too_short_is_und_and_provided_language_wins():
    stage = LangIdStage()
    results = stage.process(
        [
            DocInput("a", 1, "u", None, text="ok 42"),
            DocInput("b", 1, "u", None, text=SAMPLES["de"], hint_lang="EN"),
            DocInput("c", 1, "u", None, text=SAMPLES["uk"]),
            # codes that name no language are no language given (before, stored as given:
            # an exporter's "und" kept the document out of translation and every --lang)
            DocInput("d", 1, "u", None, text=SAMPLES["de"], hint_lang="und"),
            DocInput("e", 1, "u", None, text=SAMPLES["ru"], hint_lang="MUL"),
        ]
    )
    assert [(r.lang, r.method) for r in results] == [
        ("und", "ensemble"),
        ("en", "provided"),
        ("uk", "ensemble"),
        ("de", "ensemble"),
        ("ru", "ensemble"),
    ]


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown langid method 'cld9'"):
        LangIdStage.from_settings({"method": "cld9"})


@pytest.fixture(scope="module")
def ensemble():
    # three short-text languages: loading lingua's models for all 71 takes half a minute
    return EnsembleDetector(short_languages=["de", "en", "fr"])


def test_long_and_confident_texts_keep_py3langid(ensemble):
    ensemble.__dict__.pop("_short", None)
    long_text = " ".join([SAMPLES["en"]] * 3)
    assert ensemble.detect(long_text)[0] == "en"
    assert ensemble.detect(SAMPLES["de"])[0] == "de"  # short, but py3langid is sure
    assert "_short" not in vars(ensemble)


def test_short_text_py3langid_is_unsure_of_goes_to_lingua(ensemble):
    assert ensemble._py.detect("water parks")[0] != "en"
    assert ensemble.detect("water parks")[0] == "en"


def test_kazakh_needs_its_own_letters_only_in_longer_texts(ensemble):
    # no Kazakh letter in a word pair is no evidence; in a sentence of 30+ letters it is
    assert ensemble.detect("тілі бар")[0] == "kk"
    uk = "Гадаю, що це тобі відомо, бо ми про це говорили вчора."
    assert ensemble.detect(uk) == ("uk", 1.0)
