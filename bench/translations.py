"""Translated copies on stored vectors: the dedup stage's rule replayed (bench/
bench_similarity.py prints these tables on its stores).

On stores of your own, where no document translates another (the blind not-news sets, kept
by ``python -m bench.notnews_set bench/data/notnews-set12 --narratives --keep s12.duckdb``),
beside the demo's (``narrascope demo --db demo.duckdb``):

    python -m bench.translations demo.duckdb s12.duckdb s13.duckdb
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from crawlers.demo.server import load_articles


def translation_links(
    store: dict, threshold: float, variant: str = "whole text, raw"
) -> list[tuple[int, int, float, float]]:
    """The dedup stage's rule for translated copies replayed on a store's vectors (dates
    aside): another language, cosine of ``variant`` (the stage's: raw whole text) >=
    ``threshold``, mutual nearest neighbours, comparable length. Each pair once:
    (i, j, cosine of ``variant``, centred whole-text cosine)."""
    centred = store["variants"]["whole text, centred"]
    langs, lengths = store["langs"], store["lengths"]
    sims = store["variants"][variant] @ store["variants"][variant].T
    rows: dict = {}
    for i, lang in enumerate(langs):
        if lang:
            rows.setdefault(lang, []).append(i)
    found = set()
    for i, lang in enumerate(langs):
        for other, idx in rows.items() if lang else ():
            if other == lang:
                continue
            best = idx[int(np.argmax(sims[i, idx]))]
            if sims[i, best] < threshold or not 0.5 <= lengths[best] / lengths[i] <= 2:
                continue
            if rows[lang][int(np.argmax(sims[best, rows[lang]]))] == i:
                found.add((min(i, best), max(i, best)))
    return [(i, j, float(sims[i, j]), float(centred[i] @ centred[j])) for i, j in sorted(found)]


def demo_families(demo: dict) -> list[str]:
    """Each demo document's planted family: the article it translates or copies, else its own."""
    articles = {a["slug"]: a for a in load_articles()}
    slugs = [u.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html") for u in demo["urls"]]
    return [
        articles[s].get("translation_of") or articles[s].get("copy_of") or s if s in articles else s
        for s in slugs
    ]


def translated_table(demo: dict) -> list[str]:
    """The dedup rule (:func:`translation_links`) on each kind of vector, against the
    threshold: pairs of the demo's planted translations found / other pairs linked, each pair
    once."""
    family = demo_families(demo)
    lines = ["| threshold | " + " | ".join(demo["variants"]) + " |", "|---" * 6 + "|"]
    for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9):
        cells = []
        for variant in demo["variants"]:
            pairs = translation_links(demo, t, variant)
            true = sum(family[i] == family[j] for i, j, *_ in pairs)
            cells.append(f"{true} / {len(pairs) - true}")
        lines.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return lines


CENTRED_GATES = (0.0, 0.2, 0.25, 0.3, 0.33, 0.36, 0.4, 0.45, 0.5)


def centred_gate_table(stores: dict, threshold: float = 0.88) -> list[str]:
    """The pairs the raw rule links at ``threshold`` that keep a centred whole-text cosine of
    at least the gate (``[dedup] translated_centred``): on the demo (``stores["demo"]``),
    planted translations kept / other pairs; on each other store, where no article translates
    another (SemEval, tgcontest, the blind not-news sets), every cross-language pair linked is
    false."""
    demo = stores["demo"]
    family = demo_families(demo)
    others = [name for name in stores if name != "demo"]
    linked = {name: translation_links(store, threshold) for name, store in stores.items()}
    lines = ["| centred cosine at least | demo: translations kept / false links | "
             + " | ".join(f"{name}: false links" for name in others) + " |",
             "|---" * (2 + len(others)) + "|"]  # fmt: skip
    for gate in CENTRED_GATES:
        kept = [(i, j) for i, j, _, c in linked["demo"] if c >= gate]
        true = sum(family[i] == family[j] for i, j in kept)
        cells = [f"{true} / {len(kept) - true}"]
        cells += [str(sum(c >= gate for *_, c in linked[name])) for name in others]
        lines.append(f"| {gate:.2f} | " + " | ".join(cells) + " |")
    false = sorted(c for name in others for *_, c in linked[name])
    true = sorted(c for i, j, _, c in linked["demo"] if family[i] == family[j])
    lines.append(f"\nAt raw cosine >= {threshold}: the demo's translations have centred cosines "
                 f"from {true[0]:.3f}" + (f"; the false links of the others up to "
                                          f"{false[-1]:.3f}" if false else "") + ".")  # fmt: skip
    return lines


def main(argv: list[str]) -> int:
    from bench.bench_similarity import vectors

    demo, *others = (Path(a) for a in argv)
    stores = {"demo": vectors(demo)} | {p.stem: vectors(p) for p in others}
    print("\n".join(centred_gate_table(stores)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
