"""Calibration of the narrative threshold: same-story F1 on the tgcontest pairs and the demo's
planted narratives, over thresholds, for the vectors and the scoring rule the cluster stage
could use. Re-run it after changing the embedding model.

Both stores are built by the real pipeline (import + extract, langid, embed, dedup; the demo
by `narrascope demo`); the sweep then replays the stage's assignment rule (Clusterer) over
their stored vectors, oldest document first, exactly as `cluster --rebuild` does.

Run: python -m bench.bench_narrative_calibration ../shared
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from crawlers.demo.server import load_articles
from pipeline.narratives import Clusterer, ClusterStage
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from storage.narratives import rebuild_inputs
from storage.records import DocInput
from storage.urls import canonical_url
from tests.support.pairs import pairwise_scores, story_documents

THRESHOLDS = (0.89, 0.90, 0.91, 0.92, 0.925, 0.93, 0.95)
WORD_THRESHOLDS = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75)  # cosines of n-gram counts run lower


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args], check=True, capture_output=True)


def build(tmp: Path, shared: Path) -> tuple[Path, Path, list]:
    docs, pairs = story_documents(shared)
    stories = tmp / "stories.duckdb"
    src = tmp / "stories.jsonl"
    src.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    cli("--db", str(stories), "import", str(src))
    run_stages(stories, build_stages(["extract", "langid", "embed", "dedup"], {}))
    demo = tmp / "demo.duckdb"
    cli("demo", "--db", str(demo))
    return stories, demo, pairs


def inputs(db: Path, stage: ClusterStage) -> list[dict]:
    """Each document oldest first: lead and whole-text vectors, seen date, copy group, language."""
    with connect(db, read_only=True) as con:
        rows = rebuild_inputs(con, stage.model_id, stage.embed_input)
        whole = dict(
            con.execute(
                "SELECT e.doc_id, e.vector FROM embeddings e JOIN documents d "
                "ON d.doc_id = e.doc_id AND d.current_version = e.version WHERE e.model_id = ?",
                [stage.model_id],
            ).fetchall()
        )
        docs = {
            d: (url, DocInput(d, 1, url, None, title=title, text=text))
            for d, url, title, text in con.execute(
                "SELECT doc_id, url, title, text FROM v_documents"
            ).fetchall()
        }
    words = stage.word_vectors([stage.lead(docs[d][1]) for d, *_ in rows])
    return [
        {
            "doc": d,
            "lead": v,
            "whole": whole[d],
            "words": words[i],
            "seen": s,
            "group": g,
            "lang": lang,
            "url": docs[d][0],
        }  # fmt: skip
        for i, (d, _, v, s, g, lang) in enumerate(rows)
    ]


def assign(rows: list[dict], threshold: float, vectors: str, parts: bool) -> dict[str, object]:
    """url -> narrative key under the stage's rule (merge and window as configured)."""
    stage = ClusterStage()
    state = Clusterer(threshold, stage.merge_threshold, stage.window_days)
    out = {}
    for r in rows:
        v = np.asarray(r[vectors], dtype=np.float32)
        v = v / (np.linalg.norm(v) or 1.0)
        key, _, _ = state.assign(r["doc"], v, r["seen"], r["group"], r["lang"] if parts else None)
        out[r["url"]] = key
    return {url: state.resolve(key) for url, key in out.items()}


def demo_verdict(got: dict) -> str:
    """'holds' when every planted narrative is one narrative, none merge and no filler joins."""
    planted = {a["slug"]: a["narrative"] for a in load_articles()}
    ids: dict[str, set] = {}
    for url, key in got.items():
        slug = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
        ids.setdefault(planted[slug], set()).add(key)
    filler = ids.pop("filler", set())
    splits = sum(len(v) > 1 for v in ids.values())
    keys = [k for v in ids.values() for k in v]
    merges = len(keys) - len(set(keys))
    joins = len(filler & set(keys))
    if not (splits or merges or joins):
        return "holds"
    return ", ".join(
        f"{n} {what}" for n, what in ((splits, "split"), (merges, "merged"), (joins, "filler"))
        if n
    )  # fmt: skip


def same_story_scores(got: dict, pairs: list) -> dict[str, float]:
    by_url = {canonical_url(u): k for u, k in got.items()}
    return pairwise_scores(lambda a, b: by_url[canonical_url(a)] == by_url[canonical_url(b)], pairs)


def main(shared: Path) -> None:
    stage = ClusterStage()
    with tempfile.TemporaryDirectory() as tmp:
        stories_db, demo_db, pairs = build(Path(tmp), shared)
        stories, demo = inputs(stories_db, stage), inputs(demo_db, stage)
    variants = [
        ("title+lead, language parts (default)", "lead", True, THRESHOLDS),
        ("title+lead, one centroid", "lead", False, THRESHOLDS),
        ("whole text, language parts", "whole", True, THRESHOLDS),
        ('no model: `vectors = "words"`, language parts', "words", True, WORD_THRESHOLDS),
    ]
    print(f"{len(pairs)} tgcontest pairs ({len(stories)} documents), {len(demo)} demo documents")
    print("cell: same-story F1 (P/R) | demo planted narratives\n")
    print("| vectors, scoring | thresholds (words) | " + " | ".join(map(str, THRESHOLDS)) + " |")
    print("|---" * (len(THRESHOLDS) + 2) + "|")
    for name, vectors, parts, thresholds in variants:
        cells = []
        for t in thresholds:
            s = same_story_scores(assign(stories, t, vectors, parts), pairs)
            verdict = demo_verdict(assign(demo, t, vectors, parts))
            cells.append(f"{s['f1']:.3f} ({s['precision']:.2f}/{s['recall']:.2f}) | {verdict}")
        alt = "" if thresholds is THRESHOLDS else ", ".join(map(str, thresholds))
        print(f"| {name} | {alt} | " + " | ".join(c.replace(" | ", "<br>") for c in cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared")
