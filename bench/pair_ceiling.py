"""The pairwise ceiling of what narratives can compare: for each signal the pipeline computes
(the centred lead, the document similarity, the names and numbers two documents share), for
blends of them and for density corrections of the narrative rule's score, the best
same-story F1 a single threshold gives on each labelled set, and the best threshold the two
sets share.

A pair counts as "same story" when its score reaches the threshold, with no clustering. The
narrative rule compares a document with narratives' centroids, not pair by pair, so this is a
guide rather than a strict bound; at the rule's threshold the two agree on these sets (README,
"Similarity and language bias"). The issue's targets are tgcontest same-story F1 >= 0.90 and
SemEval narrative F1 >= 0.75 (pairs rated <= 1.5 vs >= 3) with one setting. Part of
bench_similarity (its last table).
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np

from pipeline.similarity import anchor_overlap
from storage import connect
from storage.urls import canonical_url

TARGETS = {"tgcontest": 0.90, "SemEval": 0.75}
# the blends searched: weight of the lead (the rest is the document similarity), weight of the
# anchors' Jaccard, allowance added across languages (as the narrative rule adds one)
LEAD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
ANCHOR_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
ALLOWANCES = (0.0, 0.1, 0.17, 0.25)
# a density correction (CSLS-like: Lample et al., 2018) of the rule's score: minus BETA times
# the pair's mean "density", a document's mean cosine to its K nearest documents in the store
NEIGHBOURS = (1, 3, 5, 10, 20)
BETAS = (0.25, 0.5, 0.75, 1.0)


def signals(db: Path, store: dict, pairs: list[tuple[str, str, bool]]) -> dict:
    """Per labelled pair whose two documents have vectors: the centred lead cosine, the
    document similarity, the anchors' Jaccard, whether the languages differ, and the label."""
    with connect(db, read_only=True) as con:
        # NULL only without an extraction, and a document with a vector has one
        anchors = dict(con.execute("SELECT doc_id, doc_anchors(doc_id) FROM documents").fetchall())
    at = {u: i for i, u in enumerate(store["urls"])}
    lead, doc = store["story"], store["variants"]["document (lead + text, centred)"]
    kept = [(at[canonical_url(a)], at[canonical_url(b)], same) for a, b, same in pairs
            if canonical_url(a) in at and canonical_url(b) in at]  # fmt: skip
    i, j = np.array([k[0] for k in kept]), np.array([k[1] for k in kept])
    ids, langs = store["ids"], store["langs"]
    near = lead @ lead.T
    np.fill_diagonal(near, -np.inf)
    near = -np.sort(-near, axis=1)[:, : max(NEIGHBOURS)]  # each row's nearest, nearest first
    return {
        "density": {k: (near[i, :k].mean(1) + near[j, :k].mean(1)) / 2 for k in NEIGHBOURS},
        "lead": (lead[i] * lead[j]).sum(1),
        "doc": (doc[i] * doc[j]).sum(1),
        "anchors": np.array(
            [anchor_overlap(anchors[ids[a]] or [], anchors[ids[b]] or []) for a, b, _ in kept]
        ),  # fmt: skip
        # as the narrative rule: the allowance only where both languages are known and differ
        "cross": np.array(
            [bool(langs[a] and langs[b] and langs[a] != langs[b]) for a, b, _ in kept], dtype=float
        ),  # fmt: skip
        "same": np.array([same for _, _, same in kept], dtype=bool),
    }


def f1_curve(score: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Pairwise F1 of "score >= t" for each threshold t: tests.support.pairs.pairwise_scores
    for every threshold at once (124 scores x ~300 thresholds would be too slow pair by pair)."""
    p = score[None, :] >= thresholds[:, None]
    tp = (p & same).sum(1)
    wrong = (p & ~same).sum(1) + (~p & same).sum(1)
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0.0)


def blend(s: dict, lead: float, anchors: float, allowance: float) -> np.ndarray:
    return (
        lead * s["lead"] + (1 - lead) * s["doc"] + anchors * s["anchors"] + allowance * s["cross"]
    )


def row(name: str, scores: dict, sets: dict, thresholds: np.ndarray) -> tuple[float, str]:
    """A table row for one score, and the shared threshold's margin to the targets."""
    curves = {k: f1_curve(scores[k], sets[k]["same"], thresholds) for k in sets}
    tg, se = curves["tgcontest"], curves["SemEval"]
    margin = np.minimum(tg - TARGETS["tgcontest"], se - TARGETS["SemEval"])
    a, b, c = int(np.argmax(tg)), int(np.argmax(se)), int(np.argmax(margin))
    cells = [f"{tg[a]:.3f} at {thresholds[a]:.2f} (SemEval {se[a]:.3f})",
             f"{se[b]:.3f} at {thresholds[b]:.2f} (tgcontest {tg[b]:.3f})",
             f"{thresholds[c]:.2f}: {tg[c]:.3f} / {se[c]:.3f}"]  # fmt: skip
    return float(margin[c]), f"| {name} | " + " | ".join(cells) + " |"


def ceiling_table(dbs: dict, stores: dict, semsim_pairs: list, story_pairs: list) -> list[str]:
    sets = {
        "tgcontest": signals(dbs["stories"], stores["stories"], story_pairs),
        "SemEval": signals(dbs["semsim"], stores["semsim"],
                           [(a, b, o <= 1.5) for a, b, o, _ in semsim_pairs if o <= 1.5 or o >= 3]),
    }  # fmt: skip
    # every 0.01 over the whole range of the scores (anchors weigh up to 2, so blends pass 1)
    highest = max(blend(s, 0.0, max(ANCHOR_WEIGHTS), max(ALLOWANCES)).max() for s in sets.values())
    thresholds = np.round(np.arange(-1.0, highest + 0.02, 0.01), 2)
    counts = {k: int(s["same"].size) for k, s in sets.items()}
    lines = [
        f"{counts['tgcontest']} tgcontest pairs, {counts['SemEval']} SemEval pairs rated <= 1.5"
        " or >= 3; a pair is one story when its score reaches the threshold (no clustering)\n",
        "| score | tgcontest: best F1 | SemEval: best F1 "
        "| best shared threshold: tgcontest / SemEval |",
        "|---|---|---|---|",
    ]  # fmt: skip
    named = [("centred lead (narratives' similarity)", lambda s: s["lead"]),
             ("centred lead + 0.17 across languages (the narrative rule)",
              lambda s: blend(s, 1.0, 0.0, 0.17)),
             ("doc_similarity (lead + whole text, centred)", lambda s: s["doc"]),
             ("anchor_overlap alone", lambda s: s["anchors"])]  # fmt: skip
    for name, score in named:
        lines.append(row(name, {k: score(s) for k, s in sets.items()}, sets, thresholds)[1])
    best = max(
        (
            row(
                f"best blend: {lw} × lead + {1 - lw} × doc_similarity + {aw} × anchor_overlap"
                f" + {al} across languages",
                {k: blend(s, lw, aw, al) for k, s in sets.items()},
                sets,
                thresholds,
            )  # fmt: skip
            for lw, aw, al in product(LEAD_WEIGHTS, ANCHOR_WEIGHTS, ALLOWANCES)
        ),
        key=lambda r: r[0],
    )
    lines.append(best[1])
    dense = max(
        (
            row(
                f"best density correction: the narrative rule's score - {beta} × the mean"
                f" cosine to the {k} nearest",
                {n: blend(s, 1.0, 0.0, 0.17) - beta * s["density"][k] for n, s in sets.items()},
                sets,
                thresholds,
            )
            for k, beta in product(NEIGHBOURS, BETAS)
        ),
        key=lambda r: r[0],
    )
    lines.append(dense[1])
    lines.append(
        f"\nThe blends searched: lead weight {', '.join(map(str, LEAD_WEIGHTS))}; anchor weight "
        f"{', '.join(map(str, ANCHOR_WEIGHTS))}; allowance {', '.join(map(str, ALLOWANCES))}; "
        f"the best is the one whose shared threshold comes nearest both targets "
        f"(tgcontest {TARGETS['tgcontest']}, SemEval {TARGETS['SemEval']}): "
        f"{best[0]:+.3f} from the target it misses most. The density corrections searched: "
        f"{', '.join(map(str, NEIGHBOURS))} nearest; weight {', '.join(map(str, BETAS))}; "
        f"the best {dense[0]:+.3f} from the target it misses most."
    )
    return lines
