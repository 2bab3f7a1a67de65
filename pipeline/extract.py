"""Extraction stage: main text and metadata from stored HTML, without comments or page furniture."""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass

from pipeline import notnews
from pipeline.comments import comment_sections, drop_comment_lines
from pipeline.config import stage_options
from pipeline.contract import Stage
from pipeline.furniture import drop_furniture_lines, drop_prompt_lines
from storage.dates import parse_date
from storage.outputs.extract import Extraction
from storage.records import DocInput, Rejection

FOCUS = ("balanced", "precision", "recall")


@dataclass
class ExtractStage(Stage):
    """trafilatura on the stored HTML, then multilingual comment-line and furniture filters.

    ``favor`` is trafilatura's focus: "balanced", "precision" or "recall". ``furniture=False``
    keeps the lines the furniture filter would remove (teasers, captions, tag lists, prompts).
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

    def __post_init__(self) -> None:
        if self.favor not in FOCUS:
            raise ValueError(f"unknown extract favor {self.favor!r}; choose one of {FOCUS}")

    @classmethod
    def from_settings(cls, settings: dict) -> ExtractStage:
        return cls(**stage_options("extract", settings, ("favor", "min_chars", "furniture")))

    def process(self, batch: list[DocInput], found=None, prepared=None) -> list:
        return [self.extract_one(doc) for doc in batch]

    def extract_one(self, doc: DocInput) -> Extraction | Rejection:
        def reject(reason: str, detail: str = "") -> Rejection:
            return Rejection.of(self.name, doc, reason, detail)

        if doc.html is None:
            text = unicodedata.normalize("NFC", (doc.raw_text or "").strip())
            if len(text) < self.min_chars:
                return reject("empty_body", "imported text is empty")
            # imported text and channel posts are screened like pages
            screened = notnews.screen({"text": text, "title": doc.hint_title}, doc.url)
            if isinstance(screened, tuple):
                return reject(*screened)
            return Extraction(doc.doc_id, doc.version, screened["text"], title=doc.hint_title)
        if not doc.html.strip():
            return reject("empty_body", "page body is empty")
        if "\x00" in doc.html:
            return reject("not_html", "page contains NUL bytes (binary content)")
        result = extract_html(doc.html, doc.url, favor=self.favor, furniture=self.furniture)
        if result is None or len(result["text"]) < self.min_chars:
            return reject("no_main_text", "no main text found in the page")
        result = notnews.screen(result, doc.url)
        if isinstance(result, tuple):
            return reject(*result)
        return Extraction(doc.doc_id, doc.version, **result)


def extract_html(
    html: str, url: str | None = None, favor: str = "balanced", furniture: bool = True
) -> dict | None:
    """Main text, title, author, date and site name of one page, or None when it has no body.

    ``furniture`` removes the lines that stand only inside furniture markup (teasers of other
    articles, captions, tag lists, share and newsletter boxes, sidebars) and prompt lines
    (subscribe, follow, reprint notices, ad labels) from trafilatura's text.
    """
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return None
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
