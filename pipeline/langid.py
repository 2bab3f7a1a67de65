"""Language identification stage: deterministic, on extracted text, with 'und' for short texts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from pipeline.config import stage_options
from pipeline.contract import Stage
from storage.outputs.langid import LanguageResult
from storage.records import DocInput, Rejection

UNDETERMINED = "und"
_URL = re.compile(r"https?://\S+|www\.\S+")
_CYRILLIC = re.compile("[\u0400-\u04ff]")

# Lower-case Cyrillic letters of each language's alphabet. A letter outside a language's
# alphabet is strong evidence against it; the statistical models confuse these languages
# on short texts (lingua calls Ukrainian sentences Kazakh because both use "і").
CYRILLIC_ALPHABETS = {
    "ru": set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя"),
    "uk": set("абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"),
    "be": set("абвгдеёжзійклмнопрстуўфхцчшыьэюя"),
    "bg": set("абвгдежзийклмнопрстуфхцчшщъьюя"),
    "sr": set("абвгдђежзијклљмнњопрстћуфхцчџш"),
    "mk": set("абвгдѓежзѕијклљмнњопрстќуфхцчџш"),
    "kk": set("абвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюяә"),
    "mn": set("абвгдеёжзийклмноөпрстуүфхцчшщъыьэюя"),
}
# Languages whose alphabet is a superset of others' need one of their own letters.
CYRILLIC_REQUIRED = {"kk": set("әғқңөұүһ"), "mn": set("өү")}


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


class Py3LangidDetector:
    """py3langid (langid.py's model, 97 languages): fast, weak inside the Cyrillic family."""

    name = "py3langid"

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def detect(self, text: str) -> tuple[str, float]:
        lang, prob = self._ident.classify(text)
        return lang, float(prob)


class LinguaDetector:
    """lingua over a set of languages (all of them by default): accurate, slower."""

    name = "lingua"

    def __init__(self, languages: list[str] | None = None, preload: bool = False) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        if languages:
            langs = [
                Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                for code in languages
            ]
            builder = LanguageDetectorBuilder.from_languages(*langs)
        else:
            builder = LanguageDetectorBuilder.from_all_languages()
        if preload:
            builder = builder.with_preloaded_language_models()
        self._detector = builder.build()

    def confidences(self, text: str) -> dict[str, float]:
        return {
            c.language.iso_code_639_1.name.lower(): c.value
            for c in self._detector.compute_language_confidence_values(text)
        }

    def detect(self, text: str) -> tuple[str, float]:
        conf = self.confidences(text)
        if not conf:
            return UNDETERMINED, 0.0
        best = max(conf, key=conf.get)
        return best, float(conf[best])


class LangdetectDetector:
    """langdetect (the design card's choice), seeded so that it answers the same every run."""

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.seed = seed  # read by every Detector the factory creates

    def detect(self, text: str) -> tuple[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        detector.append(text)
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return UNDETERMINED, 0.0
        return best.lang.split("-")[0], float(best.prob)


class EnsembleDetector:
    """py3langid for the language overall; for Cyrillic text, the candidates whose alphabet
    covers the text's letters, decided between by lingua restricted to Cyrillic languages."""

    name = "ensemble"

    def __init__(self) -> None:
        self._py = Py3LangidDetector()
        self._cyrillic = LinguaDetector(list(CYRILLIC_ALPHABETS), preload=True)

    def detect(self, text: str) -> tuple[str, float]:
        lang, prob = self._py.detect(text)
        cyrillic = _CYRILLIC.findall(text.lower())
        if not cyrillic or len(cyrillic) < 0.5 * _letters(text):
            return lang, prob
        present = set(cyrillic)
        misses = {code: len(present - alphabet) for code, alphabet in CYRILLIC_ALPHABETS.items()}
        for code, required in CYRILLIC_REQUIRED.items():
            if not present & required:
                misses[code] += 1
        fewest = min(misses.values())
        candidates = [code for code, miss in misses.items() if miss == fewest]
        if len(candidates) == 1:
            return candidates[0], 1.0
        conf = self._cyrillic.confidences(text)
        total = sum(conf.get(c, 0.0) for c in candidates)
        best = max(candidates, key=lambda c: (conf.get(c, 0.0), c == lang))
        return best, (conf.get(best, 0.0) / total) if total else 1.0 / len(candidates)


DETECTORS = {
    "ensemble": EnsembleDetector,
    "py3langid": Py3LangidDetector,
    "lingua": LinguaDetector,
    "langdetect": LangdetectDetector,
}


@dataclass
class LangIdStage(Stage):
    """Language of the extracted text (never of the page chrome or its lang attribute).

    Texts with fewer than ``min_letters`` letters are ``und``. Detection reads the first
    ``max_chars`` characters with URLs removed. A language given at import wins, with
    method ``provided``.
    """

    name: str = "langid"
    version: str = "1"
    requires: tuple[str, ...] = ("extract",)
    needs_html: bool = False
    method: str = "ensemble"
    min_letters: int = 6
    max_chars: int = 4000

    def __post_init__(self) -> None:
        if self.method not in DETECTORS:
            raise ValueError(
                f"unknown langid method {self.method!r}; choose one of {sorted(DETECTORS)}"
            )

    @classmethod
    def from_settings(cls, settings: dict) -> LangIdStage:
        return cls(**stage_options("langid", settings, ("method", "min_letters", "max_chars")))

    @cached_property
    def detector(self):
        return DETECTORS[self.method]()

    def detect(self, text: str) -> tuple[str, float]:
        sample = _URL.sub(" ", text[: self.max_chars])
        if _letters(sample) < self.min_letters:
            return UNDETERMINED, 0.0
        lang, confidence = self.detector.detect(sample)
        # rounded: lingua's last digits vary with summation order between runs
        return lang, round(confidence, 4)

    def process(self, batch: list[DocInput], found=None, prepared=None) -> list:
        results: list[LanguageResult | Rejection] = []
        for doc in batch:
            if doc.hint_lang:
                lang, conf, method = doc.hint_lang.strip().lower(), 1.0, "provided"
            else:
                lang, conf = self.detect(doc.text or "")
                method = self.method
            results.append(LanguageResult(doc.doc_id, doc.version, lang, conf, method))
        return results
