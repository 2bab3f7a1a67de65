"""Narratives side by side with the tools a user would pick instead: narrascope's cluster stage
vs BERTopic (its default UMAP + HDBSCAN, and a k-means setting) and vs plain agglomerative
clustering, on the same vectors.

Data: the tgcontest same-story pairs (../shared/data/clustering, ru and en: 139 documents,
75 pairs) and the SemEval-2022 Task 8 article pairs (../shared/data/semsim, 7 languages).
Stores are built by the real pipeline (import + extract, langid, embed, dedup) as in
bench/bench_similarity.py; narrascope clusters with the real cluster stage and its narrative
ids are read from the database; the peers get the vectors that stage compares (centred leads,
pipeline/similarity.py), so the comparison is of clustering, not of embeddings.

Measured: pairwise F1 (same-story pairs of tgcontest; semsim pairs rated <= 1.5 vs >= 3),
clustering time, and id stability: a seeded random 90% of the documents arrive first, then the
other 10%; how many of the first 90% change cluster id, as labels and under the best matching.

Run: python -m bench.bench_narrative_peers ../shared [--quick] [--cache DIR]
(--quick: tgcontest only; DIR keeps the built stores, the semsim one takes ~15 minutes)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.bench_similarity import cli, vectors
from pipeline.narratives import ClusterStage
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from storage.urls import canonical_url
from tests.support.pairs import pairwise_scores, semsim_documents, story_documents

SEED = 15
PREPARE = ["extract", "langid", "embed", "dedup"]
OUTLIER = -1  # BERTopic's "no topic"


def load(db: Path, docs: list[dict], stages: list[str]) -> None:
    """Import ``docs`` into ``db`` and run ``stages`` on them (the real pipeline)."""
    src = db.with_suffix(".jsonl")
    src.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    cli("--db", str(db), "import", str(src))
    run_stages(db, build_stages(stages, {}))


def stores(cache: Path, name: str, docs: list[dict]) -> tuple[Path, Path, list[dict], set]:
    """The prepared (not clustered) stores, built once into ``cache``: every document (the
    seeded 90% imported first, then the other 10%) and the 90% alone; the later 10%; the urls
    of the first 90%."""
    docs = sorted(docs, key=lambda d: d["url"])
    random.Random(SEED).shuffle(docs)
    cut = int(0.9 * len(docs))
    first, later = docs[:cut], docs[cut:]
    full, part = cache / f"peers-{name}.duckdb", cache / f"peers-{name}-90.duckdb"
    if not (full.exists() and part.exists()):
        building = cache / f"peers-{name}.building.duckdb"
        building.unlink(missing_ok=True)
        load(building, first, PREPARE)
        shutil.copyfile(building, part)
        load(building, later, PREPARE)
        building.rename(full)
    return full, part, later, {canonical_url(d["url"]) for d in first}


def members(db: Path) -> dict:
    """canonical url -> narrative id, as the database holds it."""
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT d.canonical_url, m.narrative_id FROM narrative_members m "
            "JOIN documents d USING (doc_id)"
        ).fetchall()
    return dict(rows)


def narrascope(full: Path, part: Path, later: list[dict], work: Path) -> dict:
    """The cluster stage on every document (timed), and on the 90% then again after the 10%."""
    run, grown = work / "full.duckdb", work / "grown.duckdb"
    shutil.copyfile(full, run)
    shutil.copyfile(part, grown)
    started = time.perf_counter()
    run_stages(run, build_stages(["cluster"], {}))
    seconds = time.perf_counter() - started
    run_stages(grown, build_stages(["cluster"], {}))
    before = members(grown)
    load(grown, later, [*PREPARE, "cluster"])
    return {"labels": members(run), "seconds": seconds, "before": before, "after": members(grown)}


def bertopic(kmeans: bool):
    def fit(texts: list[str], matrix: np.ndarray) -> list:
        from bertopic import BERTopic
        from sklearn.cluster import KMeans
        from umap import UMAP

        # BERTopic's default UMAP, seeded
        umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                    low_memory=False, random_state=SEED)  # fmt: skip
        extra = {"hdbscan_model": KMeans(len(texts) // 2, random_state=SEED)} if kmeans else {}
        model = BERTopic(embedding_model=None, umap_model=umap, **extra)
        return list(model.fit_transform(texts, matrix)[0])

    return fit


def agglomerative(texts: list[str], matrix: np.ndarray) -> list:
    from sklearn.cluster import AgglomerativeClustering

    cut = 1.0 - ClusterStage().threshold  # the stage's threshold, as a cosine distance
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=cut
    )
    return list(model.fit_predict(matrix))


PEERS = {
    "BERTopic, default (UMAP + HDBSCAN)": bertopic(kmeans=False),
    "BERTopic, k-means (k = documents / 2)": bertopic(kmeans=True),
    "agglomerative (cosine, average, 1 - threshold)": agglomerative,
}


def peer(fit, store: dict, texts: dict, first: set) -> dict:
    """A peer fitted on the first 90%, then refitted on all (timed), as a user would."""
    urls, matrix = store["urls"], store["story"]
    docs = [texts[u] for u in urls]
    old = [i for i, u in enumerate(urls) if u in first]
    before = fit([docs[i] for i in old], matrix[old])
    started = time.perf_counter()
    labels = fit(docs, matrix)
    seconds = time.perf_counter() - started
    return {
        "labels": dict(zip(urls, labels, strict=True)),
        "seconds": seconds,
        "before": {urls[i]: x for i, x in zip(old, before, strict=True)},
        "after": dict(zip(urls, labels, strict=True)),
    }


def f1(labels: dict, pairs: list) -> str:
    """Pairwise F1 (P/R); an outlier shares a cluster with nobody."""
    pairs = [(canonical_url(a), canonical_url(b), ok) for a, b, ok in pairs]
    pairs = [p for p in pairs if p[0] in labels and p[1] in labels]
    s = pairwise_scores(lambda a, b: labels[a] == labels[b] != OUTLIER, pairs)
    return f"{s['f1']:.3f} ({s['precision']:.2f}/{s['recall']:.2f})"


def changed(before: dict, after: dict) -> str:
    """Documents of the first 90% whose id changed: as labels, and under the best one-to-one
    matching of old to new clusters (Hungarian)."""
    keys = [u for u in before if u in after]
    relabelled = sum(before[u] != after[u] for u in keys)
    old = {x: i for i, x in enumerate(sorted({before[u] for u in keys}))}
    new = {x: i for i, x in enumerate(sorted({after[u] for u in keys}))}
    overlap = np.zeros((len(old), len(new)))
    for u in keys:
        overlap[old[before[u]], new[after[u]]] += 1
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    matched = len(keys) - int(overlap[rows, cols].sum())
    return f"{relabelled} ({matched}) of {len(keys)}"


def clusters(labels: dict) -> str:
    outliers = sum(x == OUTLIER for x in labels.values())
    n = len(set(labels.values()) - {OUTLIER})
    return f"{n} (+{outliers} outliers)" if outliers else str(n)


def main(shared: Path, quick: bool, cache: Path | None) -> None:
    sets = {"tgcontest": story_documents(shared)}
    if not quick:
        docs, pairs = semsim_documents(shared)
        sets["semsim"] = (docs, [(a, b, o <= 1.5) for a, b, o, _ in pairs if o <= 1.5 or o >= 3])
    results: dict = {}  # method -> data set -> result
    with tempfile.TemporaryDirectory() as tmp:
        cache = cache or Path(tmp) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        for name, (docs, _) in sets.items():
            full, part, later, first = stores(cache, name, docs)
            work = Path(tmp) / name
            work.mkdir()
            results.setdefault("narrascope (cluster stage)", {})[name] = narrascope(
                full, part, later, work
            )
            store = vectors(full)
            texts = {canonical_url(d["url"]): f"{d['title']}\n{d['text']}" for d in docs}
            for method, fit in PEERS.items():
                results.setdefault(method, {})[name] = peer(fit, store, texts, first)
    names = list(sets)
    both = " / ".join(names)
    print(f"Narrative clustering vs peers on the same centred lead vectors ({both})\n")
    print(
        "| method | tgcontest same-story F1 (P/R) | semsim narrative F1 (P/R) "
        f"| time (s), {both} | clusters, {both} "
        f"| ids changed when 10% more arrive, {both}: as labels (best matching) |"
    )
    print("|---|---|---|---|---|---|")
    for method, by in results.items():
        scores = [f1(by[n]["labels"], sets[n][1]) if n in by else "-" for n in sets]
        if quick:
            scores.append("- (left out: --quick)")
        seconds = " / ".join(f"{by[n]['seconds']:.2f}" for n in names)
        found = " / ".join(clusters(by[n]["labels"]) for n in names)
        moved = " / ".join(changed(by[n]["before"], by[n]["after"]) for n in names)
        print(f"| {method} | {' | '.join(scores)} | {seconds} | {found} | {moved} |")
    sizes = ", ".join(
        f"{n}: {len(results['narrascope (cluster stage)'][n]['labels'])}" for n in names
    )
    stage = ClusterStage()
    print(
        f"\nDocuments clustered ({sizes}), each store built by the real pipeline (import, "
        "extract, langid, embed, dedup). narrascope runs its cluster stage on the store "
        f"(threshold {stage.threshold}, cross-language allowance {stage.cross_language}, copy "
        "groups from dedup) and its ids are read from narrative_members; the peers get the same "
        f"vectors the stage compares, each document's centred lead ({stage.embed_model}, "
        f"language mean removed). BERTopic {version('bertopic')} runs with precomputed "
        "embeddings and its default UMAP (seeded) + HDBSCAN (min_cluster_size 10), or k-means "
        "with k = half the documents (the data are pairs: at most that many two-document "
        "stories); its outliers (topic -1) count as sharing a story with nobody. Agglomerative "
        "is scikit-learn's, cosine, average linkage, cut at 1 - narrascope's threshold: the same "
        "cut-off applied globally (without the cross-language allowance or copy groups). F1 is "
        "pairwise over the labelled pairs: tgcontest pairs judged OK vs BAD; semsim pairs rated "
        "<= 1.5 (same story) vs >= 3. Time is one clustering of every document (for narrascope "
        "the stage's run, database reads and writes and keyword terms included; for the peers "
        "the refit after the 90% fit, so compiled code is warm; BERTopic with its topic "
        "representations). Stability: a seeded random 90% of the documents is clustered first "
        "(narrascope: imported and processed, then the other 10% imported and the stage run "
        "again incrementally; the peers: refitted on all); the count is of the first 90% whose "
        "id differs as the user sees it (same label), and in brackets under the best one-to-one "
        "matching of old to new clusters (Hungarian)."
        + (" Semsim was left out (--quick)." if quick else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tgcontest only (139 documents)")
    parser.add_argument("--cache", type=Path, help="build the stores here and reuse them")
    args = parser.parse_args()
    main(args.shared, args.quick, args.cache)
