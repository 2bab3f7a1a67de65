"""Fixtures shared by the evaluation gates: the 314 trafilatura evaluation pages through the
extract stage once per session (extracting them takes about a minute)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from w3lib.encoding import html_to_unicode

from pipeline.extract import ExtractStage
from storage.records import DocInput
from tests.conftest import SHARED, needs_shared


@dataclass(frozen=True)
class ExtractedPages:
    """The evaluation pages as stage inputs, their gold entries and the extract stage's
    result for each (an Extraction or a Rejection), in the same order."""

    docs: list[DocInput]
    gold: list[dict]
    results: list


@pytest.fixture(scope="session")
def extracted_eval_pages() -> ExtractedPages:
    data = needs_shared(SHARED / "data" / "extraction")
    gold = json.loads((data / "gold.json").read_text(encoding="utf-8"))
    docs = [
        DocInput(str(i), 1, url, "eval",
                 html=html_to_unicode(None, (data / "pages" / g["file"]).read_bytes())[1])
        for i, (url, g) in enumerate(gold.items())
    ]  # fmt: skip
    return ExtractedPages(docs, list(gold.values()), ExtractStage().process(docs))
