"""Extraction: snippet P/R/F1, comment leaks and pages/s, plain trafilatura vs our stage."""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from pathlib import Path

import trafilatura
from w3lib.encoding import html_to_unicode

from pipeline.extract import extract_html


def score(gold: dict, pages: dict, extract) -> tuple[float, float, float, int, float]:
    tp = fp = fn = leaks = 0
    started = time.perf_counter()
    outputs = {url: unicodedata.normalize("NFC", extract(pages[url], url) or "") for url in gold}
    rate = len(gold) / (time.perf_counter() - started)
    for url, g in gold.items():
        text = outputs[url]
        tp += sum(s in text for s in g.get("with", []))
        fn += sum(s not in text for s in g.get("with", []))
        fp += sum(s in text for s in g.get("without", []))
        leaks += any(s.strip() and s in text for s in g.get("comments", []))
    p, r = tp / (tp + fp), tp / (tp + fn)
    return p, r, 2 * p * r / (p + r), leaks, rate


def main(shared: Path) -> None:
    data = shared / "data" / "extraction"
    gold = json.loads((data / "gold.json").read_text(encoding="utf-8"))
    pages = {
        u: html_to_unicode(None, (data / "pages" / g["file"]).read_bytes())[1]
        for u, g in gold.items()
    }
    candidates = {
        "trafilatura.extract (comments on, its default)": lambda h, u: trafilatura.extract(
            h, url=u
        ),
        "trafilatura.extract(include_comments=False)": lambda h, u: trafilatura.extract(
            h, url=u, include_comments=False
        ),
        "trafilatura.extract(include_comments=False, favor_precision=True)": (
            lambda h, u: trafilatura.extract(h, url=u, include_comments=False, favor_precision=True)
        ),
        "stage without the furniture filter": lambda h, u: (
            extract_html(h, u, furniture=False) or {}
        ).get("text"),
        'stage, favor = "precision"': lambda h, u: (
            extract_html(h, u, favor="precision") or {}
        ).get("text"),
        "narrascope extract stage (balanced + furniture filter)": lambda h, u: (
            extract_html(h, u) or {}
        ).get("text"),
    }
    print("| extractor | precision | recall | F1 | pages leaking comments | pages/s |")
    print("|---|---|---|---|---|---|")
    for name, fn in candidates.items():
        p, r, f1, leaks, rate = score(gold, pages, fn)
        print(f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {leaks} | {rate:.0f} |")
    print(
        f"\n{len(gold)} pages. Leak counts include rete-mirabile.net, whose gold comment snippet"
        " is a reader quoting the article (it stands in the article body too)."
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))
