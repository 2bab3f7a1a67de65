"""Hostile and malformed documents through the extract, langid and signals stages (issue 14).

Each batch holds one generated hostile document beside the seed article, as the runner hands
them over: the stage returns one result per input, the seed's as it is alone, and for the
hostile one a result or a rejection with a reason, never an exception, with every string in
it storable. The named extremes (a 20 MB line, markup nested 100,000 deep, truncated UTF-8,
mixed encodings, empty documents, zero-width and right-to-left characters) are plain tests.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from w3lib.encoding import html_to_unicode

from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.signals import POSITIONS, SignalsStage, _Quotes
from storage.outputs.extract import Extraction
from storage.outputs.langid import LanguageResult
from storage.outputs.signals import SignalResult
from storage.records import DocInput, Rejection
from tests.support.strategies import INVISIBLE, assert_storable, hostile_text, nested, pages, within

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SEED_URL = "https://example.ru/2026/09/seed/"
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{1,8}){0,3}")


def hostile(**fields) -> DocInput:
    return DocInput("hostile", 1, "https://hostile.example/page", "hostile", **fields)


@pytest.fixture(scope="module")
def extract() -> ExtractStage:
    return ExtractStage()


@pytest.fixture(scope="module")
def seed(seed_html, extract) -> tuple[DocInput, Extraction]:
    """The seed article as a stage input, and what the extract stage makes of it alone."""
    doc = DocInput("seed", 1, SEED_URL, "wp", html=seed_html)
    [alone] = extract.process([doc])
    assert isinstance(alone, Extraction)
    return doc, alone


def beside_seed(stage, doc: DocInput, normal: DocInput, alone, kind: type):
    """Process [doc, normal] as one batch: the normal result is the one it gets alone, and
    doc's is a ``kind`` or a rejection with a reason, storable either way."""
    results = stage.process([doc, normal])
    assert len(results) == 2
    assert results[1] == alone
    result = results[0]
    assert isinstance(result, kind | Rejection), result
    if isinstance(result, Rejection):
        assert result.reason and result.detail and result.doc_id == doc.doc_id
    assert_storable(result)
    return result


def check_extraction(result, limit: int = ExtractStage.max_chars) -> None:
    """An extraction has a character that shows, within the size limit, in NFC."""
    if isinstance(result, Extraction):
        assert len(result.text) <= limit
        assert any(unicodedata.category(ch)[0] not in "CZ" for ch in result.text)
        assert result.text == unicodedata.normalize("NFC", result.text)


# --- extract ----------------------------------------------------------------------------


@SETTINGS
@given(html=pages)
@example(html="<html><body><p>x\ud800y</p></body></html>")  # a lone surrogate, stored as is
def test_extract_survives_generated_markup(extract, seed, html):
    check_extraction(beside_seed(extract, hostile(html=html), *seed, Extraction))


def _mutate(data: bytes, edits: list[tuple[float, bytes]], cut: float) -> bytes:
    for where, inserted in edits:
        at = int(where * len(data))
        data = data[:at] + inserted + data[at:]
    return data[: max(1, int(cut * len(data)))]


@SETTINGS
@given(
    body=st.binary(max_size=3000) | st.binary(max_size=200).map(lambda b: b"<html><body>" + b),
    edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=8)), max_size=4),
    cut=st.floats(0, 1),
    mutate_seed=st.booleans(),
    content_type=st.sampled_from(
        [
            None,
            "text/html; charset=utf-8",
            "text/html; charset=windows-1251",
            "text/html; charset=x-garbage",
            "text/html; charset=utf-16",
        ]
    ),  # fmt: skip
)
def test_extract_survives_arbitrary_bytes(extract, seed, body, edits, cut, mutate_seed,
                                          content_type):  # fmt: skip
    """Bytes decoded as crawled and archived pages are (w3lib), random or the seed page with
    bytes inserted and its end cut off (truncated UTF-8 among them)."""
    if mutate_seed:
        body = _mutate(seed[0].html.encode(), edits, cut)
    _, html = html_to_unicode(content_type, body)
    check_extraction(beside_seed(extract, hostile(html=html), *seed, Extraction))


@SETTINGS
@given(text=hostile_text, title=st.none() | hostile_text)
@example(text="", title=None)
@example(text="\u200b\u200f\u202e \u2066\ufeff", title="\u202e")
def test_extract_survives_imported_text(extract, seed, text, title):
    doc = hostile(raw_text=text, hint_title=title)
    result = beside_seed(extract, doc, *seed, Extraction)
    check_extraction(result)
    if all(unicodedata.category(ch)[0] in "CZ" for ch in text):  # nothing that shows
        assert isinstance(result, Rejection) and result.reason == "empty_body"


def _seed_bytes(seed_doc: DocInput) -> bytes:
    return seed_doc.html.encode("utf-8")


EXTREMES = {
    # one line of 20 MB: a paragraph (libxml2 refuses a text node over 10 MB), a minified page
    # of a million links, and an imported text
    "20 MB paragraph": lambda: hostile(html="<html><body><p>" + "word " * 4_000_000),
    "20 MB of links": lambda: hostile(html="<html><body>" + '<a href="/x">x</a> ' * 1_050_000),
    "20 MB imported text": lambda: hostile(raw_text="Слово " * 1_700_000),
    "100,000 nested divs": lambda: hostile(html=nested("<div>", "</div>", inner="<p>deep</p>")),
    "100,000 unclosed <b>": lambda: hostile(html="<html><body>" + "<b>" * 100_000 + "text"),
    "100,000 nested tables": lambda: hostile(html=nested("<table><tr><td>", "</td></tr></table>")),
    "100,000 comment divs": lambda: hostile(html=nested('<div class="comment">', "</div>")),
    "100,000 <p>": lambda: hostile(html="<p>" * 100_000),
    "empty page": lambda: hostile(html=""),
    "blank page": lambda: hostile(html=" \n\t\r "),
    "page without a body": lambda: hostile(html="<!DOCTYPE html><html></html>"),
    "nothing at all": lambda: hostile(),
    "invisible text only": lambda: hostile(raw_text="".join(INVISIBLE[:9]) * 50),
    "NUL bytes": lambda: hostile(html="<html>\x00<body><p>binary</p></body></html>"),
}


@pytest.mark.parametrize("case", EXTREMES)
def test_extract_extremes_are_rejected_or_extracted_in_bounded_time(extract, seed, case):
    doc = EXTREMES[case]()
    with within(30):
        result = beside_seed(extract, doc, *seed, Extraction)
    check_extraction(result)
    if case.startswith("20 MB") or case == "100,000 <p>":
        assert isinstance(result, Rejection)
    if case in ("20 MB of links", "20 MB imported text", "100,000 <p>"):
        assert result.reason == "too_large" and "> limit" in result.detail
    if case == "invisible text only":
        assert (result.reason, result.detail) == (
            "empty_body", "imported text has only invisible characters"
        )  # fmt: skip


@pytest.mark.parametrize("where", ["in the article", "in the comment form below it"])
def test_truncated_utf8_extracts_what_came_before(extract, seed, where):
    """The page cut inside a character: in the middle of the article's last paragraph, or
    inside the first Cyrillic letter of the comment form below it."""
    doc, alone = seed
    data = _seed_bytes(doc)
    last = alone.text.split("\n")[-1]
    if where == "in the article":
        at = data.index(last[:60].encode()) + len(last.encode()) // 2
        data = data[:at] + "ü".encode()[:1]
    else:
        data = data[: data.index("Добавить".encode()) + 1]
    _, html = html_to_unicode("text/html; charset=utf-8", data)
    assert "\ufffd" in html[-2:]
    result = beside_seed(extract, hostile(html=html), *seed, Extraction)
    assert isinstance(result, Extraction)
    if where == "in the article":
        assert result.text.startswith(alone.text.split("\n")[0])
        assert last[:60] in result.text and last not in result.text
    else:
        assert result.text == alone.text


def test_mixed_encodings_keep_the_utf8_article(extract, seed):
    """A UTF-8 page with a paragraph in windows-1251 and another in latin-1 (copied from
    elsewhere): the page decodes as UTF-8 with replacement characters, the article is kept."""
    doc, alone = seed
    data = _seed_bytes(doc)
    at = data.index(b"</p>") + 4
    inserted = ("<p>" + "Правительство объявило о новых мерах. " * 3 + "</p>").encode("cp1251")
    inserted += "<p>Café crème à la française.</p>".encode("latin-1")
    for content_type in ("text/html; charset=utf-8", None):
        _, html = html_to_unicode(content_type, data[:at] + inserted + data[at:])
        result = beside_seed(extract, hostile(html=html), *seed, Extraction)
        assert isinstance(result, Extraction)
        for paragraph in alone.text.split("\n"):
            assert paragraph in result.text


def test_zero_width_and_rtl_characters_are_dropped_from_a_page(extract, seed, langid):
    """Zero-width spaces between words and right-to-left overrides and isolates at paragraph
    starts: the extracted text is the seed article's, character for character (so its hash
    and copy detection agree), and the language of the text with them is still found."""
    doc, alone = seed
    html = doc.html.replace(" the ", " the\u200b ").replace("<p>", "<p>\u202e\u2067", 3)
    assert html.count("\u200b") > 10
    result = beside_seed(extract, hostile(html=html), *seed, Extraction)
    assert isinstance(result, Extraction) and result.text == alone.text
    text = alone.text.replace(" the ", " the\u200b ").replace("\n", "\n\u202e\u2067")
    assert langid.process([hostile(text=text)])[0].lang == "en"


# --- langid -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def langid() -> LangIdStage:
    return LangIdStage()


@pytest.fixture(scope="module")
def seed_text(seed, langid) -> tuple[DocInput, LanguageResult]:
    doc = DocInput("seed", 1, SEED_URL, "wp", text=seed[1].text)
    [alone] = langid.process([doc])
    assert alone.lang == "en"
    return doc, alone


def check_language(result, hint: str | None) -> None:
    assert isinstance(result, LanguageResult)
    assert result.lang == "und" or LANGUAGE_CODE.fullmatch(result.lang), result.lang
    assert 0.0 <= result.confidence <= 1.0
    given_code = LANGUAGE_CODE.fullmatch((hint or "").strip().lower())
    assert (result.method == "provided") == bool(given_code)


@SETTINGS
@given(
    text=hostile_text,
    hint=st.none() | hostile_text | st.sampled_from(["ru", " EN ", "pt-BR", "english", "", "r"]),
)
@example(text="\u202eThe government announced new measures\u202c", hint=None)
@example(text="\u200b".join("Правительство объявило о новых мерах"), hint="   ")
def test_langid_gives_a_language_code_for_any_text(langid, seed_text, text, hint):
    doc = hostile(text=text, hint_lang=hint)
    check_language(beside_seed(langid, doc, *seed_text, LanguageResult), hint)


@pytest.mark.parametrize(
    "text",
    ["word " * 4_000_000, "\u200b" * 100_000, "", "\u202e" + "السلام عليكم " * 1000, "😀" * 1000],
    ids=["20 MB line", "100,000 zero-width spaces", "empty", "right-to-left", "emoji"],
)
def test_langid_extremes(langid, seed_text, text):
    with within(30):
        result = beside_seed(langid, hostile(text=text), *seed_text, LanguageResult)
    check_language(result, None)
    if not any(ch.isalpha() for ch in text):
        assert result.lang == "und"


# --- signals ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signals() -> SignalsStage:
    return SignalsStage()


@pytest.fixture(scope="module")
def seed_signals(seed, signals) -> tuple[DocInput, SignalResult]:
    doc = DocInput("seed", 1, SEED_URL, "wp", text=seed[1].text, title=seed[1].title)
    [alone] = signals.process([doc])
    assert alone.hits  # the seed ends with a chatbot's offer
    return doc, alone


def check_signals(stage: SignalsStage, result, text: str, title: str | None) -> None:
    assert isinstance(result, SignalResult)
    for hit in result.hits:
        where = title if hit.position == "title" else text
        assert where[hit.char_start :].startswith(hit.matched)
        assert hit.position in POSITIONS and hit.score >= 0
    assert result.score == stage.score(result.hits)
    assert result.machine_written == (result.score >= result.threshold)


@SETTINGS
@given(text=hostile_text, title=st.none() | hostile_text)
@example(text='"As an AI language model"\n\u202eAs an AI language model', title=None)
def test_signals_score_any_text(signals, seed_signals, text, title):
    doc = hostile(text=text, title=title)
    result = beside_seed(signals, doc, *seed_signals, SignalResult)
    check_signals(signals, result, text, title)


def _quoted_by_rescan(text: str, start: int) -> bool:
    """pipeline.signals.quoted as it was: the paragraph rescanned for every offset."""
    before = text[text.rfind("\n", 0, start) + 1 : start]
    if re.search(r"[\"'«„“‹‚‘]\s*$", before) or before.count('"') % 2:
        return True
    if any(before.count(o) > before.count(c) for o, c in (("«", "»"), ("„", "“"), ("‹", "›"))):
        return True
    return "„" not in before and before.count("“") > before.count("”")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.sampled_from("\"«»„“”‹›‚‘' \n\tab\u2028\xa0"), max_size=60),
    offsets=st.lists(st.integers(0, 60), max_size=12),
)
def test_quote_counting_as_it_goes_agrees_with_rescanning(text, offsets):
    quotes = _Quotes(text)
    for start in sorted(min(o, len(text)) for o in offsets) + [len(text) // 2]:
        assert quotes.quoted(start) == _quoted_by_rescan(text, start), (text, start)


def test_a_long_line_full_of_hits_costs_linear_time(signals, seed_signals):
    """45,000 hits on one 2 MB line: rescanning the line for each hit took ~13 minutes."""
    text = "As an AI language model, I cannot do that. " * 45_000
    with within(30):
        result = beside_seed(signals, hostile(text=text), *seed_signals, SignalResult)
    assert len(result.hits) == 45_000 and result.machine_written
    assert [h.quoted for h in result.hits[:2]] == [False, False]


@pytest.mark.parametrize(
    "text",
    ['"' * 2_000_000, "word " * 4_000_000, "\u200b" * 100_000, "", "\n" * 100_000],
    ids=["2 MB of quotes", "20 MB line", "100,000 zero-width spaces", "empty", "100,000 newlines"],
)
def test_signals_extremes(signals, seed_signals, text):
    with within(30):
        result = beside_seed(signals, hostile(text=text), *seed_signals, SignalResult)
    check_signals(signals, result, text, None)
