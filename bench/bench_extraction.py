"""Extraction: snippet P/R/F1, comment leaks and pages/s on ../shared/data/extraction, our stage
vs plain trafilatura, trafilatura with precision settings, and news-please's extractor.

news-please is a benchmark peer (requirements-bench.lock, installed by `make bench`); without it
its row says so. Run: python -m bench.bench_extraction ../shared [--quick]  (--quick: the first
60 pages of gold.json only)
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import trafilatura
from w3lib.encoding import html_to_unicode

from pipeline.extract import extract_html

QUICK_PAGES = 60


def score(gold: dict, pages: dict, extract) -> tuple[float, float, float, int, float]:
    tp = fp = fn = leaks = 0
    first = next(iter(gold))
    extract(pages[first], first)  # warm-up: lazy imports and models stay out of pages/s
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


class NewsPleaseExtractor:
    """news-please's extractor on a page in memory; a page it raises on counts as empty text."""

    def __init__(self) -> None:
        from newsplease import NewsPlease

        self.news_please = NewsPlease
        self.failed: dict[str, str] = {}  # url -> exception type

    def __call__(self, html: str, url: str) -> str:
        try:
            # gold.json keys some pages "hard::site-page.html": news-please needs a host or ""
            host_url = url if urlparse(url).hostname else ""
            return self.news_please.from_html(html, url=host_url, fetch_images=False).maintext or ""
        except Exception as e:  # noqa: BLE001 - a peer's failure on a page is a result
            self.failed[url] = type(e).__name__
            return ""


def main(shared: Path, quick: bool = False) -> None:
    data = shared / "data" / "extraction"
    gold = json.loads((data / "gold.json").read_text(encoding="utf-8"))
    if quick:
        gold = dict(list(gold.items())[:QUICK_PAGES])
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
    }
    try:
        news_please = NewsPleaseExtractor()
        candidates["news-please 1.6 (NewsPlease.from_html(...).maintext)"] = news_please
    except ImportError:
        news_please = None
    candidates |= {
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
        print(f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {leaks} | {rate:.1f} |")
    if news_please is None:
        print("| news-please (not installed) | – | – | – | – | – |")
    pages_note = (
        f"The first {len(gold)} pages of gold.json (--quick)" if quick else f"{len(gold)} pages"
    )
    if news_please is None:
        peer = (
            " news-please is not installed (`make bench` installs it from requirements-bench.lock)."
        )
    else:
        failed = Counter(e for u, e in news_please.failed.items() if u in gold)
        kinds = ", ".join(f"{n} {e}" for e, n in failed.most_common())
        peer = (
            f" news-please raised on {failed.total()} page(s) ({kinds}), scored as empty text."
            if failed
            else ""
        )
    print(
        f"\n{pages_note}; pages/s after one warm-up page per extractor, one core.{peer}"
        " Leak counts include rete-mirabile.net, whose gold comment snippet is a reader quoting"
        " the article (it stands in the article body too)."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", nargs="?", default="../shared", type=Path)
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_PAGES} pages only")
    args = parser.parse_args()
    main(args.shared, args.quick)
