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
# what a provided language must look like to be taken: "ru", "pt-br", "sr_latn" (lower-cased;
# stored as its primary subtag, ``language_of``)
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{1,8}){0,3}")


#: ISO 639 codes that name no language: undetermined, several, no linguistic content, none
#: coded. An exporter writes them for "unknown": given at import, the language is detected.
NO_LANGUAGE = {"und", "mul", "zxx", "mis"}


def is_language_tag(hint: str | None) -> bool:
    """Whether ``hint`` has the shape of a language code: "ru", "pt-BR", "und" (as `--lang`
    takes one: "und" is what the stage stores for a text too short to tell)."""
    return bool(_LANGUAGE_TAG.fullmatch((hint or "").strip().lower()))


def names_a_language(hint: str | None) -> bool:
    """Whether a given language (an import's ``lang``) is taken as the document's: a code
    such as "ru" or "pt-BR"; anything else, "und" and the other NO_LANGUAGE codes among
    them, is ignored and the language detected."""
    return is_language_tag(hint) and language_of(hint) not in NO_LANGUAGE


def language_of(tag: str) -> str:
    """The language a tag names, as the stages store it: its primary subtag, lower case
    ("en-US", "en_GB" and "EN" are en; "pt-BR" is pt). Kept whole, a regional tag made a
    language of its own: English documents waited for an "en-us" translation model, and
    `--lang en` missed them."""
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]


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
# Languages whose alphabet is a superset of others' need one of their own letters, once the
# text has enough Cyrillic letters that the language would almost surely show one: these
# letters are 9.6% of Kazakh and 5.3% of Mongolian letters in lingua's sentence data, so a
# text of 30 (55) letters lacks them all with ~5% probability. Below that, absence is no
# evidence: "бар жоқ" is Kazakh, "тілі бар" too, though neither has a letter of its own.
CYRILLIC_REQUIRED = {"kk": set("әғқңөұүһ"), "mn": set("өү")}
CYRILLIC_REQUIRED_FROM = {"kk": 30, "mn": 55}
# A text under SHORT_CHARS characters (whitespace collapsed) is decided by lingua, right on
# 93.9% of lingua's word pairs where py3langid is right on 83.1%, unless py3langid is at least
# SHORT_TRUST sure of a language lingua knows: on the short lines of all 71 languages, lingua
# disagreed with such an answer 36 times, never rightly; it spares lingua 76% of the sentences.
SHORT_CHARS = 100
SHORT_TRUST = 0.9


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def cyrillic_candidates(text: str) -> list[str] | None:
    """The Cyrillic languages whose alphabets miss the fewest of the text's letters (none,
    where one covers them all), or None when fewer than half of the letters are Cyrillic."""
    cyrillic = _CYRILLIC.findall(text.lower())
    if not cyrillic or len(cyrillic) < 0.5 * _letters(text):
        return None
    present = set(cyrillic)
    misses = {code: len(present - alphabet) for code, alphabet in CYRILLIC_ALPHABETS.items()}
    for code, required in CYRILLIC_REQUIRED.items():
        if len(cyrillic) >= CYRILLIC_REQUIRED_FROM[code] and not present & required:
            misses[code] += 1
    fewest = min(misses.values())
    return [code for code, miss in misses.items() if miss == fewest]


class Py3LangidDetector:
    """py3langid (langid.py's model, 140 languages): fast, weak on short texts and inside the
    Cyrillic family."""

    name = "py3langid"

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    @property
    def languages(self) -> set[str]:
        return set(self._ident.nb_classes)

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

    @staticmethod
    def all_languages() -> set[str]:
        from lingua import Language

        return {language.iso_code_639_1.name.lower() for language in Language.all()}

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
    """For Cyrillic text, the candidates whose alphabet covers the text's letters, decided
    between by lingua restricted to Cyrillic languages; for other text, py3langid, but for a
    text under ``short_chars`` characters that py3langid is less than ``short_trust`` sure
    of, lingua over ``short_languages`` (default: the 71 languages both libraries know)."""

    name = "ensemble"

    def __init__(
        self,
        short_chars: int = SHORT_CHARS,
        short_trust: float = SHORT_TRUST,
        short_languages: list[str] | None = None,
    ) -> None:
        self._py = Py3LangidDetector()
        self._cyrillic = LinguaDetector(list(CYRILLIC_ALPHABETS), preload=True)
        self.short_chars = short_chars
        self.short_trust = short_trust
        self.short_languages = short_languages or sorted(
            LinguaDetector.all_languages() & self._py.languages
        )

    @cached_property
    def _short(self) -> LinguaDetector:
        # not preloaded: the first Latin-script text loads ~40 models (about 1 GB)
        return LinguaDetector(self.short_languages)

    def detect(self, text: str) -> tuple[str, float]:
        lang, prob = self._py.detect(text)
        candidates = cyrillic_candidates(text)
        if candidates is None:
            unsure = prob < self.short_trust or lang not in self.short_languages
            if unsure and len(" ".join(text.split())) < self.short_chars:
                answer = self._short.detect(text)
                if answer[0] != UNDETERMINED:
                    return answer
            return lang, prob
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
    method ``provided``, when it looks like a language code ("ru", "pt-BR"); anything else
    given there (a name, an empty string, a sentence) is ignored and the text decides.
    """

    name: str = "langid"
    version: str = "4"  # 3: a regional tag given at import is stored as its language; 4: a
    # code naming no language ("und", "mul") given at import is detected, not taken
    requires: tuple[str, ...] = ("extract",)
    needs_html: bool = False
    method: str = "ensemble"
    min_letters: int = 6
    max_chars: int = 4000

    # about 2 ms a document or less: batches of 8 x [pipeline] batch_size (pipeline/contract.py)
    batch_factor = 8

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
            if names_a_language(doc.hint_lang):
                lang, conf, method = language_of(doc.hint_lang), 1.0, "provided"
            else:
                lang, conf = self.detect(doc.text or "")
                method = self.method
            results.append(LanguageResult(doc.doc_id, doc.version, lang, conf, method))
        return results
