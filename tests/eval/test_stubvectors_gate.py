"""Gate: the embed stage's stub check (pipeline/stubvectors.py) takes no page of the
extraction evaluation set for a stub.

The 314 trafilatura evaluation pages go through the extract stage; each extracted text short
enough for the check (up to its max_words) goes through the embed stage, where none may be
rejected. The SemEval-2022 and tgcontest texts are checked on the stores the similarity gate
builds with the whole pipeline (tests/eval/test_similarity_gate.py), with one reviewed stub.
"""

import re

from pipeline.embed import EmbedStage
from pipeline.stubvectors import Settings
from storage.records import DocInput, Rejection

WORD = re.compile(r"\w+")


def test_no_short_evaluation_page_is_taken_for_a_stub_by_its_vector(extracted_eval_pages):
    limit = Settings().max_words
    docs = [
        DocInput(doc.url, 1, doc.url, "eval", text=r.text, title=r.title)
        for doc, r in zip(extracted_eval_pages.docs, extracted_eval_pages.results, strict=True)
        if not isinstance(r, Rejection) and len(WORD.findall(r.text)) <= limit
    ]
    results = EmbedStage().process(docs)
    rejected = [(r.doc_id, r.detail) for r in results if isinstance(r, Rejection)]
    print(f"{len(docs)} short pages of 314, {len(rejected)} rejected by their vector")
    assert len(docs) >= 40  # the check has something to judge
    assert rejected == []
