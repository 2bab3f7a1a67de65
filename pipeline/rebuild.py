"""`narrascope cluster --rebuild`: re-cluster every document in one pass (after a change of
model or threshold) and carry the old narrative ids over to the new clusters by overlap."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.contract import stage_settings
from pipeline.narratives import ClusterStage
from pipeline.similarity import story_vectors
from storage import connect
from storage.means import load as load_means
from storage.narratives import memberships, rebuild_inputs, rebuild_texts, replace_all

KEEP_OVERLAP = 0.5  # Jaccard overlap of members for a new cluster to keep an old id


def map_ids(new: dict, old: dict[int, set]) -> tuple[dict, list, dict]:
    """Old ids onto new clusters: greedily by member overlap (Jaccard >= KEEP_OVERLAP), each
    old id and each new cluster used once. Every old id not kept becomes an alias of the new
    cluster holding most of its members. Returns (keep, aliases, counts)."""
    overlaps = []
    for key, members in new.items():
        for old_id in {o for o, m in old.items() if m & members}:
            j = len(members & old[old_id]) / len(members | old[old_id])
            overlaps.append((j, key, old_id))
    keep: dict = {}
    used: set = set()
    for j, key, old_id in sorted(overlaps, key=lambda t: (-t[0], str(t[1]), t[2])):
        if j >= KEEP_OVERLAP and key not in keep and old_id not in used:
            keep[key] = old_id
            used.add(old_id)
    home = {doc: key for key, members in new.items() for doc in members}
    aliases, counts = [], Counter()
    for old_id, members in old.items():
        spread = Counter(home[d] for d in members if d in home)
        if len(spread) > 1:
            counts["split"] += 1
        if old_id in used or not spread:
            continue
        # most of its members; on a tie the same cluster every run (not set order)
        target = min(spread.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
        aliases.append((old_id, target, "rebuild: members now in another narrative"))
        counts["merged"] += 1
    counts["kept"] = len(keep)
    counts["new"] = len(new) - len(keep)
    return keep, aliases, counts


def rebuild(db_path: Path, settings: dict, run_id: str | None = None) -> dict:
    stage = ClusterStage.from_settings(settings)
    with connect(db_path, read_only=True) as con:
        if stage.vectors == "words":
            texts = rebuild_texts(con)
        else:
            rows = rebuild_inputs(con, stage.model_id, stage.embed_input)
            means = load_means(con, stage.model_id, stage.embed_input)
        old_members = memberships(con)
    if stage.vectors == "words":
        from storage.records import DocInput

        leads = [stage.lead(DocInput(d, v, "", None, title=t, text=x)) for d, v, t, x, *_ in texts]
        matrix = stage.word_vectors(leads)
        rows = [
            (d, v, matrix[i], seen, g, lang) for i, (d, v, _, _, seen, g, lang) in enumerate(texts)
        ]
    elif rows:
        # the same vectors as the stage: the lead, its language's mean removed
        matrix = story_vectors(np.stack([r[2] for r in rows]), [r[5] for r in rows], means)
        rows = [(*r[:2], matrix[i], *r[3:6]) for i, r in enumerate(rows)]
    state = stage.clusterer()
    members = []
    for doc_id, version, vector, seen_at, group, lang in rows:
        v = np.asarray(vector, dtype=np.float32)
        v = v / (np.linalg.norm(v) or 1.0)
        key, similarity, via = state.assign(doc_id, v, seen_at, group, lang)
        members.append((doc_id, version, key, similarity, via))
    members = [(d, ver, state.resolve(k), s, via) for d, ver, k, s, via in members]
    new: dict = {}
    for doc_id, _, key, _, _ in members:
        new.setdefault(key, set()).add(doc_id)
    old: dict[int, set] = {}
    for doc_id, narrative_id in old_members.items():
        old.setdefault(narrative_id, set()).add(doc_id)
    keep, aliases, counts = map_ids(new, old)
    states = {key: n.state(stage.model_id) for key, n in state.active.items() if key in new}
    with connect(db_path) as con:
        replace_all(
            con,
            model_id=stage.model_id,
            stage=stage.name,
            stage_version=stage.version,
            members=members,
            states=states,
            keep=keep,
            aliases=aliases,
            run_id=run_id,
        )
    return {
        "documents": len(members),
        "narratives": len(new),
        "kept": counts["kept"],
        "merged": counts["merged"],
        "split": counts["split"],
        "new": counts["new"],
        # as a process run records it: what produced these narratives (for exports)
        stage.name: {"version": stage.version, "settings": stage_settings(stage)},
    }


def outdated(db_path: Path, stage: ClusterStage) -> int:
    """How many documents were clustered by an earlier version of the cluster stage (its rule
    or its vectors changed): they are re-clustered with `rebuild`, not one by one on top of
    narratives that already count them. Only a document's current version counts: `rebuild`
    clusters no earlier one, so the state an earlier version kept never goes."""
    with connect(db_path, read_only=True) as con:
        return int(
            con.execute(
                "SELECT count(*) FROM stage_state s JOIN documents d ON d.doc_id = s.doc_id "
                "AND d.current_version = s.version WHERE s.stage = ? AND s.stage_version <> ?",
                [stage.name, stage.version],
            ).fetchone()[0]
        )
