"""Cross-lingual and same-meaning pairs for embedding tests and benchmarks."""

from __future__ import annotations

import csv
from pathlib import Path

from crawlers.demo.server import load_articles


def _body(article: dict) -> list[str]:
    return [
        p.strip().replace("\n", " ") for p in article["body"].strip().split("\n\n") if p.strip()
    ]


def demo_families() -> tuple[list[dict], dict[str, str]]:
    """Demo articles, and slug -> family: an original shares its family with its copies and
    translations."""
    articles = load_articles()
    family = {}
    for a in articles:
        family[a["slug"]] = a.get("translation_of") or a.get("copy_of") or a["slug"]
    return articles, family


def demo_translation_pairs(level: str = "article") -> list[tuple[str, str, str]]:
    """(lang pair, original, translation) from the demo's planted translations; at
    ``paragraph`` level where both sides have the same number of paragraphs."""
    articles, _ = demo_families()
    by_slug = {a["slug"]: a for a in articles}
    pairs = []
    for a in articles:
        if "translation_of" not in a:
            continue
        src = by_slug[a["translation_of"]]
        tag = f"{src['lang']}-{a['lang']}"
        if level == "article":
            pairs.append((tag, "\n".join(_body(src)), "\n".join(_body(a))))
        else:
            left, right = _body(src), _body(a)
            if len(left) == len(right):
                pairs += [(tag, x, y) for x, y in zip(left, right, strict=True)]
    return pairs


def paraphrase_pairs(shared: Path, strict_only: bool = True) -> list[tuple[str, str]]:
    """ParaPhraser headline pairs labelled paraphrase (1 = strict)."""
    with open(shared / "data" / "paraphrase" / "paraphraser_train_7227.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    wanted = {"1"} if strict_only else {"0", "1"}
    return [(r["text_1"], r["text_2"]) for r in rows if r["is_paraphrase"] in wanted]


def same_story_pairs(shared: Path, name: str) -> list[tuple[str, str]]:
    """tgcontest pairs judged the same story (OK), as (first title + text, second ...)."""
    path = shared / "data" / "clustering" / name
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        (
            f"{r['INPUT:first_title']}\n{r['INPUT:first_text']}",
            f"{r['INPUT:second_title']}\n{r['INPUT:second_text']}",
        )
        for r in rows
        if r.get("GOLDEN:quality") == "OK"
    ]


STORY_FILES = ("ru_train_pool.tsv", "ru_exam_pool.tsv", "en_train_pool.tsv")


def story_documents(shared: Path) -> tuple[list[dict], list[tuple[str, str, bool]]]:
    """Both sides of every tgcontest pair as documents to import (url, title, text), and the
    pairs as (first url, second url, judged the same story)."""
    pairs, docs = [], {}
    for name in STORY_FILES:
        with open(shared / "data" / "clustering" / name, encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                for side in ("first", "second"):
                    url = r[f"INPUT:{side}_url"]
                    docs[url] = {"url": url, "title": r[f"INPUT:{side}_title"],
                                 "text": r[f"INPUT:{side}_text"]}  # fmt: skip
                pairs.append(
                    (r["INPUT:first_url"], r["INPUT:second_url"], r["GOLDEN:quality"] == "OK")
                )
    return list(docs.values()), pairs


def pairwise_scores(same, pairs: list[tuple[str, str, bool]]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of ``same(a, b)`` against the judgements."""
    tp = sum(same(a, b) and ok for a, b, ok in pairs)
    fp = sum(same(a, b) and not ok for a, b, ok in pairs)
    fn = sum(not same(a, b) and ok for a, b, ok in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": len(pairs), "precision": precision, "recall": recall, "f1": f1}


SEMSIM = ("semsim", "pairs.csv")


def semsim_documents(shared: Path) -> tuple[list[dict], list[tuple[str, str, float, bool]]]:
    """SemEval-2022 Task 8 articles as documents to import (url, title, text), and the pairs
    as (first url, second url, Overall rating 1 = same story .. 4 = unrelated, cross-lingual).
    A text is 'title  body' (two spaces) where the source file has a title."""
    docs, pairs = {}, []
    with open(shared / "data" / SEMSIM[0] / SEMSIM[1], encoding="utf-8") as f:
        for r in csv.DictReader(f):
            ids = r["pair_id"].split("_")
            for article, side in zip(ids, ("1", "2"), strict=True):
                title, sep, body = r["text" + side].partition("  ")
                if not sep or len(title) > 250:
                    title, body = "", r["text" + side]
                url = f"https://semsim.example/{article}"
                docs[url] = {"url": url, "title": title.strip(), "text": body.strip()}
            pairs.append(
                (
                    f"https://semsim.example/{ids[0]}",
                    f"https://semsim.example/{ids[1]}",
                    float(r["Overall"]),
                    r["lang1"] != r["lang2"],
                )
            )
    return list(docs.values()), pairs
