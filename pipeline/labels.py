"""Narrative labels: the content words of a document, for c-TF-IDF keywords.

Function words come from the `stop-words` package: maintained lists for 33 languages, among
them every language narrascope's sources publish in but Belarusian, Serbian, Macedonian and
Kazakh. Its German, Russian, Ukrainian, Polish, Turkish and Arabic lists lack common function
words ("wegen", "mehr", "wurde"; "среди"; "olarak", "değil"; "إلى"): spaCy's lists for those
languages are added, and they are the only lists for Serbian and Macedonian (spaCy comes with
argostranslate; Serbian's is completed by spaCy's Croatian list, in both scripts: ``_serbian``).
Its French, Spanish, Italian, Portuguese and Bulgarian lists are not added: they hold content
words ("acuerdo", "casa", "città", "conselho", "кауза"). The lists are not pooled, because one
language's function word is another's content word: German "war" (was), Turkish "son" (last),
Spanish "los". A text's words are grouped by alphabet, and each group loses the function words
of the one language whose list covers most of it (Russian, Ukrainian or Bulgarian among
Cyrillic words; English, German, French, Polish, ... among Latin ones): a Russian article
quoting an English sentence loses the function words of both, and an English one keeps "war".
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

from stop_words import LANGUAGE_MAPPING, get_stop_words

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# an apostrophe between letters (ʼ, U+02BC, is a letter itself: "памʼять" is one word)
_APOSTROPHE = re.compile(r"(?<![^\W\d_])([^\W\d_]+)['’]([^\W\d_]+)")
# the ending after a number's apostrophe: Turkish "2009'dan", "KOVID-19'DAN"
_NUMBER_ENDING = re.compile(r"(?<=\d)['’][^\W\d_]+")

# languages whose `stop-words` list spaCy's completes (German "wegen", "mehr"; Turkish
# "olarak", "değil"; Arabic "إلى"), and those only spaCy has a list for
SPACY_ADDED = ("de", "ru", "uk", "pl", "tr", "ar")
SPACY_ONLY = ("sr", "mk")

# A tie between two languages goes to the earlier one here: the translation target first.
PREFERRED = ("en", "ru", "uk", "de", "fr", "es", "pl", "tr", "ar", "bg")


def terms(text: str, top: int = 30, lang: str | None = None) -> list[tuple[str, int]]:
    """The ``top`` most frequent content words of a text, for c-TF-IDF keywords; ``lang``:
    the text's identified language, if known (``function_words``)."""
    counts = Counter(words(text))
    for word in function_words(counts, lang):
        del counts[word]
    return counts.most_common(top)


def words(text: str) -> list[str]:
    """A text's words, lower-case: runs of at least 3 letters. Turkish capital İ becomes a
    plain i: ``str.lower`` makes it i and a combining dot, which is not a letter, and would
    cut "İstanbul" to "stanbul" and "İçişleri" to "çişleri". An apostrophe between letters
    joins a Cyrillic word and ends a name or a number before its ending (``_apostrophe``)."""
    text = _APOSTROPHE.sub(_apostrophe, unicodedata.normalize("NFC", text))
    text = _NUMBER_ENDING.sub("", text)
    return _WORD.findall(text.lower().replace("i\u0307", "i"))


def _apostrophe(m: re.Match) -> str:
    """Letters on both sides of an apostrophe: a Ukrainian word stays whole, joined by the
    letter apostrophe ʼ ("памʼять", "перемирʼя", not "пам" and "ять"); a name loses the
    ending that follows it in lower case (Turkish "Türkiye'nin", "İzmir'de", "AB'nin": not
    "nin", "de"; English "Russia's"); else the parts are words of their own ("l'Occident",
    French "L'armée", "Qu'elle": an elided word is one letter, or two not both capitals)."""
    before, after = m.group(1), m.group(2)
    if _alphabet(before) == "cyrillic":
        return before + "ʼ" + after
    elided = len(before) == 1 or (len(before) == 2 and not before.isupper())
    if before[0].isupper() and after.islower() and not elided:
        return before
    return before + " " + after


def function_words(counts: Counter, lang: str | None = None) -> list[str]:
    """The words of ``counts`` (lower-case words) that are function words of their alphabet's
    language: per alphabet, the language whose list holds most of the distinct words (not
    occurrences: "war, war and more war" is English). The text's identified language
    ``lang`` decides for its alphabet whenever its list holds any of the words: a short
    Turkish text's Latin words are otherwise often held more by the long English, Spanish
    or French list, which keeps "ile", "acaba" and drops Turkish "para" (money)."""
    index = _index()
    listed = [(word, index[word]) for word in counts if word in index]
    hits: Counter = Counter()
    for _, (alphabet, langs) in listed:
        for i in langs:
            hits[alphabet, i] += 1
    best: dict[str, int] = {}
    if lang in _codes():
        own = _codes().index(lang)
        best |= {alphabet: own for alphabet, i in hits if i == own}
    # most words first; a tie goes to the language earlier in PREFERRED
    for (alphabet, i), _ in sorted(hits.items(), key=lambda kv: (-kv[1], kv[0][1])):
        best.setdefault(alphabet, i)
    return [word for word, (alphabet, langs) in listed if best[alphabet] in langs]


@lru_cache(maxsize=1)
def _index() -> dict[str, tuple[str, tuple[int, ...]]]:
    """word -> (its alphabet, the languages it is a function word of), languages numbered
    PREFERRED first, then the package's others in code order. Built once per process."""
    langs: dict[str, list[int]] = {}
    for i, code in enumerate(_codes()):
        # through the tokenizer terms() uses: "didn't" -> "didn", '"אבל",' -> "אבל"
        for word in {w for entry in _stop_words(code) for w in words(entry)}:
            langs.setdefault(word, []).append(i)
    return {word: (_alphabet(word), tuple(ids)) for word, ids in langs.items()}


@lru_cache(maxsize=1)
def _codes() -> list[str]:
    """The languages with a list, PREFERRED first, then the package's others in code order."""
    listed = set(LANGUAGE_MAPPING) | set(SPACY_ONLY)
    codes = [c for c in PREFERRED if c in listed]
    return codes + sorted(c for c in listed if c not in PREFERRED)


def _stop_words(code: str) -> list[str]:
    """The package's list for a language. Its Turkish list was decoded as Windows-1252 rather
    than Windows-1254 ("bazý", "nasýl", "þey" for "bazı", "nasıl", "şey"): the 20 words with
    ı, ş or ğ are mended, the others are the same in both code pages. spaCy's list is added
    for the languages of ``SPACY_ADDED`` and is the only one for ``SPACY_ONLY``."""
    entries = [] if code in SPACY_ONLY else get_stop_words(code)
    if code == "tr":
        entries = [_cp1254(entry) for entry in entries]
    if code in SPACY_ADDED or code in SPACY_ONLY:
        entries = entries + sorted(_spacy_stop_words(code))
    if code == "sr":
        entries = sorted(_serbian(set(entries)))
    return entries


# Serbian Cyrillic and Latin letter for letter (Latin digraphs lj, nj, dž are one letter each)
_SR_LATIN = dict(zip("абвгдђежзијклмнопрстћуфхцчш", "abvgdđežzijklmnoprstćufhcčš", strict=True))
_SR_LATIN |= {"љ": "lj", "њ": "nj", "џ": "dž"}
_SR_CYRILLIC = re.compile("|".join(sorted({v: k for k, v in _SR_LATIN.items()}, key=len)[::-1]))


def _serbian(cyrillic: set[str]) -> set[str]:
    """Serbian function words in both of its scripts: spaCy's Serbian list (Cyrillic only,
    without "које", "који", "бити") with spaCy's Croatian list, which has them, each word
    written in the other script too. Before, a Serbian text in Latin script kept them all
    ("koje", "biti", "posle")."""
    latin = _spacy_stop_words("hr")
    by_letter = {v: k for k, v in _SR_LATIN.items()}
    to_latin = {"".join(_SR_LATIN.get(c, c) for c in word) for word in cyrillic}
    to_cyrillic = {_SR_CYRILLIC.sub(lambda m: by_letter[m.group()], word) for word in latin}
    return cyrillic | latin | to_latin | {w for w in to_cyrillic if _alphabet(w) == "cyrillic"
                                           and not re.search("[a-z]", w)}  # fmt: skip


def _spacy_stop_words(code: str) -> set[str]:
    """spaCy's function words for a language: the strings of ``STOP_WORDS`` in its
    ``spacy/lang/<code>/stop_words.py``, read as data. Importing the module would import
    spaCy, about 1.9 s in every process that clusters (the README's `process`, each test's);
    the file is read in about a millisecond. Where it is not that plain set of strings, the
    module is imported after all."""
    spec = importlib.util.find_spec("spacy")
    for root in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(root) / "lang" / code / "stop_words.py"
        if path.is_file():
            words = _assigned_strings(path.read_text(encoding="utf-8"), "STOP_WORDS")
            if words:
                return words
    return importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS


def _assigned_strings(source: str, name: str) -> set[str]:
    """The whitespace-separated words of the string literals assigned to ``name`` at the top
    of ``source`` (``STOP_WORDS = set("...".split())``); empty where the assignment holds
    anything but such literals and calls on them."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            name
        ]:
            parts = list(ast.walk(node.value))
            if all(isinstance(p, ast.Call | ast.Attribute | ast.Name | ast.Constant | ast.Load)
                   for p in parts):  # fmt: skip
                return {w for p in parts if isinstance(p, ast.Constant)
                        and isinstance(p.value, str) for w in p.value.split()}  # fmt: skip
    return set()


def _cp1254(entry: str) -> str:
    try:
        return entry.encode("cp1252").decode("cp1254")
    except UnicodeError:  # a letter outside Windows-1252: written right
        return entry


def _alphabet(word: str) -> str:
    """The alphabet of a word's first letter: 'latin', 'cyrillic', 'arabic', 'greek', ..."""
    return unicodedata.name(word[0], "").split(" ", 1)[0].lower()
