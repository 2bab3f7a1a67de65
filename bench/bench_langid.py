"""Language ID: accuracy and docs/s of each method on lingua's sentence data (11 languages)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.langid import DETECTORS, LangIdStage

LANGS = ["ru", "uk", "be", "bg", "sr", "mk", "kk", "en", "de", "fr", "pl"]


def main(shared: Path) -> None:
    data = shared / "data" / "langid" / "sentences"
    samples = [
        (lang, s)
        for lang in LANGS
        for s in (data / f"{lang}.txt").read_text(encoding="utf-8").split("\n")
        if s.strip()
    ]
    print(f"| method | mean accuracy ({len(LANGS)} languages) | worst language | docs/s (1 core) |")
    print("|---|---|---|---|")
    for method in DETECTORS:
        stage = LangIdStage(method=method)
        stage.detect("warm-up: load the models before timing")
        started = time.perf_counter()
        predictions = [stage.detect(s)[0] for _, s in samples]
        rate = len(samples) / (time.perf_counter() - started)
        per_lang = {}
        for lang in LANGS:
            pairs = [(g, p) for (g, _), p in zip(samples, predictions, strict=True) if g == lang]
            per_lang[lang] = sum(g == p for g, p in pairs) / len(pairs)
        mean = sum(per_lang.values()) / len(per_lang)
        worst = min(per_lang, key=per_lang.get)
        print(
            f"| {method} | {100 * mean:.1f}% | {worst} {100 * per_lang[worst]:.1f}% | {rate:,.0f} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))
