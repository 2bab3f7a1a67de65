"""Language ID: accuracy and docs/s of each method on lingua's test data (11 languages):
sentences, word pairs, single words, and whole texts made of consecutive sentences."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.langid import DETECTORS, LangIdStage, LinguaDetector

LANGS = ["ru", "uk", "be", "bg", "sr", "mk", "kk", "en", "de", "fr", "pl"]
KINDS = ["sentences", "word-pairs", "single-words"]
WHOLE_SENTENCES = 10  # sentences per whole text (about 1,300 characters)


def lines(shared: Path, kind: str, lang: str, limit: int | None = None) -> list[str]:
    """The first ``limit`` non-empty lines of one language's file of one kind."""
    path = shared / "data" / "langid" / kind / f"{lang}.txt"
    return [s for s in path.read_text(encoding="utf-8").split("\n") if s.strip()][:limit]


def whole_texts(shared: Path, lang: str) -> list[str]:
    sentences = lines(shared, "sentences", lang)
    return [
        " ".join(sentences[i : i + WHOLE_SENTENCES])
        for i in range(0, len(sentences), WHOLE_SENTENCES)
    ]


def measure(detect, samples: dict[str, list[str]]) -> tuple[dict[str, float], float]:
    """Accuracy per language ('und' counts as wrong) and docs/s of ``detect(text) -> lang``."""
    started = time.perf_counter()
    right = {lang: sum(detect(s) == lang for s in texts) for lang, texts in samples.items()}
    rate = sum(map(len, samples.values())) / (time.perf_counter() - started)
    return {lang: right[lang] / len(samples[lang]) for lang in samples}, rate


def methods() -> dict:
    """Each method as the stage runs it (texts under six letters are 'und' for all of them),
    and lingua over the ensemble's short-text languages."""
    stages = {m: LangIdStage(method=m) for m in DETECTORS}
    default = LangIdStage().method
    out = {
        f"{m} (default)" if m == default else m: (lambda s, st=stage: st.detect(s)[0])
        for m, stage in stages.items()
    }
    languages = stages["ensemble"].detector.short_languages
    short = LinguaDetector(languages)
    out[f"lingua ({len(languages)} languages, no letter minimum)"] = lambda s: short.detect(s)[0]
    return out


def main(shared: Path, quick: bool = False) -> None:
    limit = 200 if quick else None  # QUICK=1: the first 200 lines of each file
    data = {kind: {lang: lines(shared, kind, lang, limit) for lang in LANGS} for kind in KINDS}
    data["whole texts"] = {lang: whole_texts(shared, lang) for lang in LANGS}
    if quick:
        data["whole texts"] = {lang: texts[:20] for lang, texts in data["whole texts"].items()}
    print(
        "| method | " + " | ".join(f"{kind}: mean, worst, docs/s" for kind in data) + " |\n"
        "|---|" + "---|" * len(data)
    )
    scores: dict[str, dict[str, dict[str, float]]] = {}  # method -> kind -> language -> accuracy
    for name, detect in methods().items():
        for warm_up in ("load the models before timing", "water parks", "водяные парки"):
            detect(warm_up)  # lingua loads a script's models on its first short text
        cells = []
        for kind, samples in data.items():
            per_lang, rate = measure(detect, samples)
            scores.setdefault(name, {})[kind] = per_lang
            mean = sum(per_lang.values()) / len(per_lang)
            worst = min(per_lang, key=per_lang.get)
            cells.append(f"{100 * mean:.1f}%, {worst} {100 * per_lang[worst]:.1f}%, {rate:,.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    per_language(scores)
    if quick:
        print("\nQUICK=1: the first 200 lines of each file (20 whole texts a language).")


def per_language(scores: dict) -> None:
    """Accuracy per language of each method (as measured above), for the short kinds."""
    print("\nAccuracy per language (sentences / word pairs / single words):\n")
    print("| language | " + " | ".join(scores) + " |")
    print("|---|" + "---|" * len(scores))
    for lang in LANGS:
        cells = [" / ".join(f"{100 * scores[m][k][lang]:.0f}%" for k in KINDS) for m in scores]
        print(f"| {lang} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quick"]
    main(Path(args[0] if args else "../shared"), quick="--quick" in sys.argv)
