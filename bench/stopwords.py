"""What spaCy's function-word lists take out of keywords beyond the `stop-words` package's,
per language, on the SemEval-2022 Task 8 articles (../shared/data/semsim/pairs.csv: de, en,
es, tr, pl, ar, fr).

For each article the top 10 terms are computed as narrative keywords are
(``pipeline.labels.terms`` with the article's language), with the package's list alone; then
the words among them that spaCy's list for that language holds but the package's does not are
counted. For the languages in ``labels.SPACY_ADDED`` those words are gone from keywords now;
for the others (French, Spanish) they show why spaCy's list is not added there.

    python -m bench.stopwords SHARED [--words 30]

Run by hand; it measures, the expectations stay in tests/pipeline/test_labels.py.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

from pipeline import labels


def articles(shared: Path) -> list[tuple[str, str]]:
    """(language, title and text) per SemEval article, each once."""
    csv.field_size_limit(sys.maxsize)
    seen: dict[str, tuple[str, str]] = {}
    with open(shared / "data" / "semsim" / "pairs.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            for article, side in zip(r["pair_id"].split("_"), ("1", "2"), strict=True):
                seen.setdefault(article, (r["lang" + side], r["text" + side]))
    return list(seen.values())


@contextmanager
def package_only():
    """Inside: ``labels`` uses the `stop-words` package's lists alone."""
    saved = labels.SPACY_ADDED, labels.SPACY_ONLY
    labels.SPACY_ADDED, labels.SPACY_ONLY = (), ()
    labels._index.cache_clear(), labels._codes.cache_clear()
    try:
        yield
    finally:
        labels.SPACY_ADDED, labels.SPACY_ONLY = saved
        labels._index.cache_clear(), labels._codes.cache_clear()


def measure(docs: list[tuple[str, str]]) -> dict[str, dict]:
    """Per language: articles, top-10 slots (package's lists alone), and the words among them
    that spaCy's list holds and the package's does not."""
    langs = sorted({lang for lang, _ in docs})
    with package_only():
        tops = [[w for w, _ in labels.terms(text, top=10, lang=lang)] for lang, text in docs]
        package = {
            lang: {w for e in labels._stop_words(lang) for w in labels.words(e)}
            if lang in labels.LANGUAGE_MAPPING
            else set()
            for lang in langs
        }
    extra = {
        lang: {w for e in labels._spacy_stop_words(lang) for w in labels.words(e)} - package[lang]
        for lang in langs
    }
    per: dict[str, dict] = defaultdict(lambda: {"articles": 0, "slots": 0, "words": Counter()})
    for (lang, _), top in zip(docs, tops, strict=True):
        row = per[lang]
        row["articles"] += 1
        row["slots"] += len(top)
        row["words"].update(w for w in top if w in extra[lang])
    return per


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shared", type=Path)
    ap.add_argument("--words", type=int, default=30, help="most frequent words shown")
    args = ap.parse_args(argv)
    per = measure(articles(args.shared))
    print("| language | articles | top-10 slots | spaCy's list takes out | added now | words |")
    print("|---|---|---|---|---|---|")
    for lang, row in sorted(per.items()):
        taken = sum(row["words"].values())
        added = "yes" if lang in labels.SPACY_ADDED else "no"
        shown = ", ".join(f"{w} {n}" for w, n in row["words"].most_common(args.words))
        share = f"{taken} ({taken / max(row['slots'], 1):.1%})"
        print(f"| {lang} | {row['articles']} | {row['slots']} | {share} | {added} | {shown} |")


if __name__ == "__main__":
    main()
