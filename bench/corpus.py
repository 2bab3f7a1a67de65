"""A seeded synthetic news corpus for the end-to-end benchmark: N documents as JSON Lines (for
``narrascope import``) and as a fixture site (HTML pages and a sitemap, for a crawl).

- Languages ru, uk, en, de, fr. Text is made of real sentences (../shared/data/langid
  ``sentences/``, 1,000 lines a language), each with one word swapped for another word of the
  same language, so that filler sentences rarely repeat (about 3% do at 1,000 documents: a line
  can hold several sentences); the planted narrative parts repeat by design.
- Lengths drawn uniformly from 300 to 1,500 words, in paragraphs of three to six sentences (a
  document ends with its last whole paragraph, so up to about 1,600; a translated copy's filler
  is written anew and its length varies more).
- Planted narratives: 40% of the originals open with the body of one of the demo's narrative
  articles (crawlers/demo/articles.toml, hand-written in ru, uk, en and de) in their language.
  French documents carry none (the demo has no French text).
- 30% copies of originals, published up to three days later on another site: a third
  verbatim, a third edited (a sentence dropped, about 5% of the words replaced, a source line
  appended), a third translated (the narrative part in another of the demo's languages, around
  filler of that language: the offline machine has no real translation model, so only the
  narrative part is a translation).
- 5% carry a leftover chatbot offer at the end (the demo op-ed's kind of machine-written tail).
- Pages are rendered by the demo's own templates (WordPress theme, republisher, blog), so
  extraction has the usual page furniture to remove.

Run: ``python -m bench.corpus N OUT_DIR [SHARED]`` writes ``OUT_DIR/corpus.jsonl``,
``OUT_DIR/truth.jsonl`` (kind, copy_of, narrative of each url) and ``OUT_DIR/site/``.
"""

from __future__ import annotations

import json
import random
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawlers.demo.render import CHATBOT_TAIL, blog_page, mirror_page, sitemap, wordpress_page

ROOT = Path(__file__).resolve().parents[1]
LANGS = {"ru": 0.3, "uk": 0.15, "en": 0.25, "de": 0.15, "fr": 0.15}  # share of originals
COPIES = 0.3
NARRATIVE_SHARE = 0.4
CHATBOT_SHARE = 0.05
START = datetime(2026, 9, 1, tzinfo=UTC)
SITES = ("wp", "mirror", "blog")


class _Language:
    """One language's sentence pool and word pool."""

    def __init__(self, shared: Path, lang: str):
        path = shared / "data" / "langid" / "sentences" / f"{lang}.txt"
        self.sentences = [s.strip() for s in path.read_text(encoding="utf-8").split("\n")]
        self.sentences = [s for s in self.sentences if len(s.split()) >= 4]
        self.words = sorted({w for s in self.sentences for w in s.split() if w.isalpha()})

    def sentence(self, rng: random.Random) -> str:
        words = rng.choice(self.sentences).split()
        words[rng.randrange(len(words))] = rng.choice(self.words)
        return " ".join(words)

    def paragraphs(self, rng: random.Random, words: int) -> list[str]:
        out, count = [], 0
        while count < words:
            para = " ".join(self.sentence(rng) for _ in range(rng.randint(3, 6)))
            out.append(para)
            count += len(para.split())
        return out


def _narratives() -> dict[str, dict[str, list[str]]]:
    """narrative -> lang -> paragraphs of the demo's hand-written article in that language."""
    articles = tomllib.loads((ROOT / "crawlers" / "demo" / "articles.toml").read_text())["article"]
    out: dict[str, dict[str, list[str]]] = {}
    for a in articles:
        if a.get("body") and a["narrative"] != "filler":
            paragraphs = [p.strip() for p in a["body"].strip().split("\n\n") if p.strip()]
            out.setdefault(a["narrative"], {}).setdefault(a["lang"], paragraphs)
    return out


def _edit(rng: random.Random, paragraphs: list[str], pool: _Language) -> list[str]:
    sentences = [p.split(". ") for p in paragraphs]
    i = rng.randrange(len(sentences))
    if len(sentences[i]) > 1:
        sentences[i].pop(rng.randrange(len(sentences[i])))
    edited = []
    for para in sentences:
        words = ". ".join(para).split()
        for _ in range(max(1, len(words) // 20)):
            words[rng.randrange(len(words))] = rng.choice(pool.words)
        edited.append(" ".join(words))
    return [*edited, "Source: " + pool.sentence(rng)]


def generate(n: int, shared: Path, seed: int = 0) -> list[dict]:
    """``n`` documents (seeded): url, title, lang, published_at, paragraphs, site and truth."""
    rng = random.Random(seed)
    pools = {lang: _Language(shared, lang) for lang in LANGS}
    narratives = _narratives()
    n_copies = round(n * COPIES)
    carried_share = sum(
        share for lang, share in LANGS.items() if any(lang in v for v in narratives.values())
    )
    docs: list[dict] = []
    for i in range(n - n_copies):
        lang = rng.choices(list(LANGS), weights=list(LANGS.values()))[0]
        narrative = None
        carriers = [k for k, v in narratives.items() if lang in v]
        if carriers and rng.random() < NARRATIVE_SHARE / carried_share:
            narrative = rng.choice(carriers)
        core = narratives[narrative][lang] if narrative else []
        target = rng.randint(300, 1500) - sum(len(p.split()) for p in core)
        docs.append(
            {
                "i": i,
                "lang": lang,
                "narrative": narrative,
                "kind": "original",
                "copy_of": None,
                "title": pools[lang].sentence(rng).split(".")[0][:120],
                "core": core,
                "paragraphs": [*core, *pools[lang].paragraphs(rng, max(target, 60))],
                "published": START + timedelta(hours=rng.uniform(0, 24 * 60)),
            }
        )
    for d in docs:  # before the copies are made: a copy carries its original's tail
        if rng.random() < CHATBOT_SHARE:
            d["paragraphs"] = [*d["paragraphs"], CHATBOT_TAIL]
    originals = list(docs)
    with_narrative = [d for d in originals if d["narrative"]]
    for j in range(n_copies):
        kind = ("verbatim", "edited", "translated")[j % 3]
        src = rng.choice(with_narrative if kind == "translated" else originals)
        copy = {**src, "i": len(docs), "kind": kind, "copy_of": src["i"]}
        copy["published"] = src["published"] + timedelta(hours=rng.uniform(1, 72))
        if kind == "edited":
            copy["paragraphs"] = _edit(rng, src["paragraphs"], pools[src["lang"]])
        elif kind == "translated":
            others = [x for x in narratives[src["narrative"]] if x != src["lang"]]
            lang = rng.choice(others)
            core = narratives[src["narrative"]][lang]
            filler = len(src["paragraphs"]) - len(src["core"])
            copy.update(lang=lang, core=core, title=pools[lang].sentence(rng).split(".")[0][:120])
            copy["paragraphs"] = [*core, *pools[lang].paragraphs(rng, 60 * filler)][
                : len(core) + filler
            ]
        docs.append(copy)
    for d in docs:
        d["site"] = rng.choice(SITES)
        d["host"] = f"{d['site']}-{d['i'] % 50}.example"
        if d["copy_of"] is not None and d["host"] == docs[d["copy_of"]]["host"]:
            d["host"] = f"{d['site']}-{(d['i'] + 1) % 50}.example"  # a copy is on another site
        d["url"] = f"https://{d['host']}/{d['lang']}/{d['i']}.html"
    return docs


def render(d: dict) -> str:
    date = d["published"].isoformat()
    if d["site"] == "wp":
        return wordpress_page(
            title=d["title"],
            paragraphs=d["paragraphs"],
            date=date,
            author="Редакция",
            post_id=d["i"],
        )
    if d["site"] == "mirror":
        return mirror_page(title=d["title"], paragraphs=d["paragraphs"], date=date, lang=d["lang"])
    return blog_page(title=d["title"], paragraphs=d["paragraphs"], date=date, author="Staff")


def write(docs: list[dict], out: Path, site: bool = True) -> Path:
    """``corpus.jsonl`` (url, title, html, published_at), ``truth.jsonl`` and ``site/``."""
    out.mkdir(parents=True, exist_ok=True)
    with (
        (out / "corpus.jsonl").open("w", encoding="utf-8") as corpus,
        (out / "truth.jsonl").open("w", encoding="utf-8") as truth,
    ):
        for d in docs:
            html = render(d)
            corpus.write(json.dumps({"url": d["url"], "title": d["title"], "html": html,
                                     "published_at": d["published"].isoformat()},
                                    ensure_ascii=False) + "\n")  # fmt: skip
            truth.write(json.dumps({"url": d["url"], "lang": d["lang"], "kind": d["kind"],
                                    "copy_of": d["copy_of"], "narrative": d["narrative"]}) + "\n")  # fmt: skip
            if site:
                page = out / "site" / d["url"].split("://", 1)[1]
                page.parent.mkdir(parents=True, exist_ok=True)
                charset = "cp1251" if d["site"] == "mirror" else "utf-8"  # as its meta says
                page.write_bytes(html.encode(charset, "xmlcharrefreplace"))
    if site:
        urls = [(d["url"], d["published"].isoformat()) for d in docs]
        (out / "site" / "sitemap.xml").write_text(sitemap(urls), encoding="utf-8")
    return out / "corpus.jsonl"


if __name__ == "__main__":
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    shared = Path(sys.argv[3] if len(sys.argv) > 3 else ROOT.parent / "shared")
    print(write(generate(n, shared), out))
