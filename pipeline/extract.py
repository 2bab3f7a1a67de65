"""Extraction stage: main text and metadata from stored HTML, without comments or page furniture."""

from __future__ import annotations

import copy
import re
import unicodedata
from dataclasses import dataclass

from pipeline import notnews
from pipeline.comments import comment_sections, drop_comment_lines
from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.furniture import drop_furniture_lines, drop_prompt_lines
from pipeline.textnorm import without_stray_nuls
from storage.dates import parse_date
from storage.outputs.extract import Extraction
from storage.records import DocInput, Rejection

FOCUS = ("balanced", "precision", "recall")
# Pages past these limits are refused as too_large, so a hostile or broken page costs bounded
# time: trafilatura spends ~35 us an element (a 20 MB page of a million links held it for
# minutes and 5 GB), the not-news screen ~23 us a character of text. The largest of the 314
# evaluation pages has 9,751 elements and 104,503 characters of text.
MAX_ELEMENTS = 100_000
MAX_CHARS = 1_000_000  # about 150,000 words: long rulings and reports pass
# Unpaired UTF-16 surrogates: a stored page may hold them (pages are stored with surrogatepass),
# but lxml cannot parse a page that does, and DuckDB cannot store them in a text
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class ExtractStage(Stage):
    """trafilatura on the stored HTML, then multilingual comment-line and furniture filters.

    ``favor`` is trafilatura's focus: "balanced", "precision" or "recall". ``furniture=False``
    keeps the lines the furniture filter would remove (teasers, captions, tag lists, prompts).
    A page of more than ``max_elements`` elements, or a text (extracted or imported) of more
    than ``max_chars`` characters, is rejected as ``too_large``.
    """

    name: str = "extract"
    # 2: page furniture removed (pipeline/furniture.py); pages that are not news rejected
    # and notices cut (pipeline/notnews.py), imported text included
    version: str = "2"
    requires: tuple[str, ...] = ()
    needs_html: bool = True
    favor: str = "balanced"
    min_chars: int = 1
    furniture: bool = True
    max_elements: int = MAX_ELEMENTS
    max_chars: int = MAX_CHARS

    def __post_init__(self) -> None:
        if self.favor not in FOCUS:
            raise ValueError(f"unknown extract favor {self.favor!r}; choose one of {FOCUS}")

    @classmethod
    def from_settings(cls, settings: dict) -> ExtractStage:
        return cls(
            **stage_options(
                "extract",
                settings,
                ("favor", "min_chars", "furniture", "max_elements", "max_chars"),
            )
        )

    def process(self, batch: list[DocInput], found=None, prepared=None) -> list:
        return [self.extract_one(doc) for doc in batch]

    def extract_one(self, doc: DocInput) -> Extraction | Rejection:
        def reject(reason: str, detail: str = "") -> Rejection:
            return Rejection.of(self.name, doc, reason, detail)

        if doc.html is None:
            text = unicodedata.normalize("NFC", (doc.raw_text or "").strip())
            if len(text) < self.min_chars:
                return reject("empty_body", "imported text is empty")
            if len(text) > self.max_chars:
                return reject(
                    "too_large", f"{len(text)} characters of text > limit {self.max_chars}"
                )
            if not _visible(text):
                return reject("empty_body", "imported text has only invisible characters")
            # imported text and channel posts are screened like pages
            screened = notnews.screen({"text": text, "title": doc.hint_title}, doc.url)
            if isinstance(screened, tuple):
                return reject(*screened)
            return Extraction(doc.doc_id, doc.version, screened["text"], title=doc.hint_title)
        if not doc.html.strip():
            return reject("empty_body", "page body is empty")
        html = without_stray_nuls(doc.html)
        if html is None:
            return reject("not_html", "page contains NUL bytes (binary content)")
        html = _SURROGATE.sub("\ufffd", html)
        result = extract_html(html, doc.url, favor=self.favor, furniture=self.furniture,
                              max_elements=self.max_elements, max_chars=self.max_chars)  # fmt: skip
        if isinstance(result, tuple):
            return reject(*result)
        if result is None or len(result["text"]) < self.min_chars or not _visible(result["text"]):
            return reject("no_main_text", "no main text found in the page")
        result = notnews.screen(result, doc.url)
        if isinstance(result, tuple):
            return reject(*result)
        return Extraction(doc.doc_id, doc.version, **result)


def _visible(text: str) -> bool:
    """Whether a text has a character that shows: not only spaces, zero-width and direction
    marks, control and private-use characters (all such texts would be one copy group)."""
    return any(unicodedata.category(ch)[0] not in "CZ" for ch in text)


def extract_html(
    html: str,
    url: str | None = None,
    favor: str = "balanced",
    furniture: bool = True,
    max_elements: int = MAX_ELEMENTS,
    max_chars: int = MAX_CHARS,
) -> dict | tuple[str, str] | None:
    """Main text, title, author, date and site name of one page, None when it has no body, or
    ("too_large", detail) for a page of more than ``max_elements`` elements or ``max_chars``
    characters of text.

    ``furniture`` removes the lines that stand only inside furniture markup (teasers of other
    articles, captions, tag lists, share and newsletter boxes, sidebars) and prompt lines
    (subscribe, follow, reprint notices, ad labels) from trafilatura's text.
    """
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return None
    elements = int(tree.xpath("count(//*)"))
    if elements > max_elements:
        return "too_large", f"{elements} elements > limit {max_elements}"
    # trafilatura prunes the tree it gets; copy it when the filters need it afterwards
    sections = comment_sections(tree)
    document = trafilatura.bare_extraction(
        copy.deepcopy(tree) if sections or furniture else tree,
        url=url,
        include_comments=False,
        with_metadata=True,
        favor_precision=favor == "precision",
        favor_recall=favor == "recall",
    )
    if document is None or not (document.text or "").strip():
        return None
    if len(document.text) > max_chars:
        return "too_large", f"{len(document.text)} characters of text > limit {max_chars}"
    text, _ = drop_comment_lines(document.text.strip(), tree, sections)
    if furniture:
        text, _ = drop_furniture_lines(text, tree)  # tree: comment sections already dropped
        text, _ = drop_prompt_lines(text)
    return {
        # NFC: one spelling per character, so hashes and substring matches agree across sites
        "text": unicodedata.normalize("NFC", text.strip()),
        "title": document.title or None,
        "author": document.author or None,
        "published_at": parse_date(document.date),
        "sitename": document.sitename or None,
    }
