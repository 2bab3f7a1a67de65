"""Which stored texts a dedup batch reads for the sentence check of translated copies
(pipeline/aligned.py): those of the documents the stage may take as a batch document's
translation (storage/outputs/dedup.py, ``copy_candidates``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from storage.outputs.dedup import CopyCandidates

#: of a batch document's translated-copy candidates in one language, the texts of this many
#: nearest are read: the stage takes the nearest dated within its window
TEXTS_PER_LANGUAGE = 3


def translation_rows(out: CopyCandidates, threshold: float, days: int | None) -> list[int]:
    """The window's rows whose texts the stage may compare: for each batch document, in each
    other language, of the rows dated within ``days`` of it and ``threshold`` near, the
    TEXTS_PER_LANGUAGE nearest and every row tied with the nearest (a piece and its exact
    copies share one vector: the stage takes one of them by its own order)."""
    window = out.window
    ids = {doc_id: i for i, doc_id in enumerate(window.ids)}
    langs = np.asarray(window.langs, dtype=object)
    by_lang = {lang: np.flatnonzero(langs == lang) for lang in set(window.langs)}
    span = None if days is None or window.seen is None else days * 86400.0
    rows: set[int] = set()
    docs = [d for d in out.vectors if d in ids]
    for start in range(0, len(docs), 64):  # 64 x the window's cosines at a time
        part = docs[start : start + 64]
        sims = np.asarray([out.vectors[d] for d in part], dtype=np.float32) @ window.matrix.T
        for doc_id, row in zip(part, sims, strict=True):
            own = ids[doc_id]
            for lang, idx in by_lang.items():
                if lang == window.langs[own]:
                    continue
                near = idx[row[idx] >= threshold]
                if span is not None and len(near):
                    near = near[np.abs(window.seen[near] - window.seen[own]) <= span]
                if not len(near):
                    continue
                order = near[np.argsort(-row[near], kind="stable")]
                rows.update(order[:TEXTS_PER_LANGUAGE].tolist())
                rows.update(near[row[near] >= row[order[0]] - 1e-6].tolist())
    return sorted(rows)
