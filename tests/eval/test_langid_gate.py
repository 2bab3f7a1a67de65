"""Quality floor: mean per-language accuracy on lingua's sentence test data."""

from pipeline.langid import LangIdStage
from tests.conftest import SHARED, needs_shared

LANGS = ["ru", "uk", "be", "bg", "sr", "mk", "kk", "en", "de", "fr", "pl"]
FLOOR = 0.990


def test_langid_default_accuracy_floor():
    data = needs_shared(SHARED / "data" / "langid" / "sentences")
    stage = LangIdStage()
    per_lang = {}
    for lang in LANGS:
        lines = [
            s for s in (data / f"{lang}.txt").read_text(encoding="utf-8").split("\n") if s.strip()
        ]
        per_lang[lang] = sum(stage.detect(s)[0] == lang for s in lines) / len(lines)
    mean = sum(per_lang.values()) / len(per_lang)
    print({k: round(v, 3) for k, v in per_lang.items()}, round(mean, 4))
    assert mean >= FLOOR
    assert min(per_lang.values()) >= 0.97
