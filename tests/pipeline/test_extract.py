from pipeline.extract import ExtractStage, extract_html
from storage.outputs.extract import Extraction
from storage.records import DocInput, Rejection
from tests.conftest import seed_parts

CHROME = [
    "Добавить комментарий",
    "Ваш адрес email",
    "Обязательные поля",
    "Отправить комментарий",
    "Сохранить моё имя",
    "Свежие записи",
    "Рубрика",
]


def test_seed_page_body_is_the_whole_article_and_nothing_of_the_chrome(seed_html):
    title, paragraphs, chrome = seed_parts()
    result = extract_html(seed_html, "https://example.ru/2026/09/seed/")
    text = result["text"]
    assert result["title"] == title
    assert text.startswith(paragraphs[0][:80])
    for paragraph in paragraphs:
        assert paragraph in text
    # the leftover chatbot offer is part of what the site published: it ends the body
    assert text.rstrip().endswith(paragraphs[-1])
    assert paragraphs[-1].startswith("Would you like me to tailor this piece")
    for phrase in CHROME + chrome:
        assert phrase not in text


def test_comment_sections_named_in_other_languages_stay_out():
    html = """<html><body><article><h1>Rezept</h1>
    <p>Den Teig zwei Stunden ruhen lassen und dann bei 180 Grad goldbraun backen, bis der Kuchen fertig ist.</p>
    <p>Mit Puderzucker bestreuen und lauwarm servieren; er hält sich drei Tage in einer Dose frisch.</p>
    <p>Wer mag, gibt eine Handvoll Mandeln in den Teig, das macht ihn saftiger und aromatischer.</p>
    </article>
    <div class="ds-mb kommentar-item" id="kommentar_1"><p>Hallo, der Kuchen ist super geworden!
    LG steinchen71</p></div></body></html>"""
    text = extract_html(html)["text"]
    assert "Puderzucker" in text
    assert "steinchen71" not in text


def test_a_stray_nul_in_a_page_of_text_keeps_its_article(seed_html):
    """The seed page with a NUL inside its article (a CMS's bug, seen on real sites) is the
    same article; before, any NUL rejected the page as binary (`not_html`)."""
    title, paragraphs, _ = seed_parts()
    at = seed_html.index(paragraphs[1][:40]) + 10
    html = seed_html[:at] + "\x00" + seed_html[at:]
    [result] = ExtractStage().process([DocInput("a", 1, "https://example.ru/2026/09/seed/", "s",
                                                html=html)])  # fmt: skip
    assert isinstance(result, Extraction), result
    assert result.title == title and paragraphs[-1] in result.text and "\x00" not in result.text


def test_rejections_are_values_with_reasons():
    stage = ExtractStage()
    docs = [
        DocInput("a", 1, "https://x.example/a", "s", html="   "),
        DocInput("b", 1, "https://x.example/b", "s", html="%PDF-1.7\x00\x01binary"),
        DocInput(
            "c",
            1,
            "https://x.example/c",
            "s",
            html="<html><head><title>x</title></head><body><script>var a = 1;</script></body></html>",
        ),
        DocInput(
            "d", 1, "https://x.example/d", "s", raw_text="Imported plain text.", hint_title="T"
        ),
        DocInput("e", 1, "https://x.example/e", "s", raw_text="  "),
    ]
    results = stage.process(docs)
    reasons = [r.reason if isinstance(r, Rejection) else None for r in results]
    assert reasons == ["empty_body", "not_html", "no_main_text", None, "empty_body"]
    assert isinstance(results[3], Extraction) and results[3].text == "Imported plain text."
