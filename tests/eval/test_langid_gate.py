"""Quality floors on lingua's test data (sentences, word pairs, single words): whole texts
keep their accuracy and fast path; short texts are identified at least as well as by lingua."""

import pytest

from pipeline.langid import SHORT_CHARS, LangIdStage, LinguaDetector
from tests.conftest import SHARED, needs_shared

LANGS = ["ru", "uk", "be", "bg", "sr", "mk", "kk", "en", "de", "fr", "pl"]
FLOOR = 0.990
WHOLE_FLOOR = 0.995
SAMPLE = 500  # the first lines per language and kind in the comparisons with lingua


def read_lines(kind: str, lang: str, limit: int | None = None) -> list[str]:
    data = needs_shared(SHARED / "data" / "langid" / kind)
    text = (data / f"{lang}.txt").read_text(encoding="utf-8")
    return [s for s in text.split("\n") if s.strip()][:limit]


def mean_accuracy(detect, samples: dict[str, list[str]]) -> tuple[float, dict[str, float]]:
    per_lang = {
        lang: sum(detect(s) == lang for s in texts) / len(texts) for lang, texts in samples.items()
    }
    print({k: round(v, 3) for k, v in per_lang.items()})
    return sum(per_lang.values()) / len(per_lang), per_lang


@pytest.fixture(scope="module")
def stage():
    return LangIdStage()


def test_langid_default_accuracy_floor(stage):
    samples = {lang: read_lines("sentences", lang) for lang in LANGS}
    mean, per_lang = mean_accuracy(lambda s: stage.detect(s)[0], samples)
    assert mean >= FLOOR
    assert min(per_lang.values()) >= 0.97


def test_whole_texts_are_right_and_never_take_the_short_path():
    stage = LangIdStage()  # its own: the short path's lingua must not have been built
    sentences = {lang: read_lines("sentences", lang) for lang in LANGS}
    samples = {
        lang: [" ".join(lines[i : i + 10]) for i in range(0, len(lines), 10)]
        for lang, lines in sentences.items()
    }
    mean, per_lang = mean_accuracy(lambda s: stage.detect(s)[0], samples)
    assert mean >= WHOLE_FLOOR and min(per_lang.values()) >= 0.98
    assert "_short" not in vars(stage.detector)  # py3langid (+ Cyrillic lingua) only


@pytest.mark.parametrize("kind", ["word-pairs", "single-words", "sentences"])
def test_short_texts_at_lingua_level_or_better(stage, kind):
    """Mean accuracy over the gate languages on the short texts the stage decides (under
    SHORT_CHARS characters, at least min_letters letters), against lingua alone over the
    same languages as the stage's short path, on the same lines."""
    samples = {
        lang: [
            s
            for s in read_lines(kind, lang, SAMPLE)
            if len(" ".join(s.split())) < SHORT_CHARS
            and sum(ch.isalpha() for ch in s) >= stage.min_letters
        ]
        for lang in LANGS
    }
    lingua = LinguaDetector(stage.detector.short_languages)
    ours, _ = mean_accuracy(lambda s: stage.detect(s)[0], samples)
    theirs, _ = mean_accuracy(lambda s: lingua.detect(s)[0], samples)
    print(kind, round(ours, 4), round(theirs, 4))
    assert ours >= theirs
