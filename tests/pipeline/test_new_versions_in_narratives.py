"""A new version of a page leaves its narrative (pipeline/narratives.py ``_leave``): with
hashed word vectors, and when the cluster stage rejects the new version (a helper's review)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from pipeline.narratives import ClusterStage
from pipeline.runner import run_stages
from storage import connect
from storage.documents import store_pages
from storage.urls import doc_id_for
from tests.pipeline.test_dedup import ARTICLE, EDITED, UNRELATED, page
from tests.pipeline.test_incremental_invariants import stages


def narratives(db):
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT n.narrative_id, n.size, count(m.doc_id), n.vector_sum, "
            "(SELECT sum(p.size) FROM narrative_parts p WHERE p.narrative_id = n.narrative_id) "
            "FROM narratives n LEFT JOIN narrative_members m USING (narrative_id) "
            "GROUP BY n.narrative_id, n.size, n.vector_sum ORDER BY 1"
        ).fetchall()


def test_words_a_new_version_in_the_same_narrative_is_summed_once(tmp_path):
    """[cluster] vectors = "words": a (ARTICLE) and b (EDITED, its copy) make one narrative;
    a's page is edited a little and clustered again into the same narrative. Nothing per
    document is stored of word vectors, so a recount keeps the stored sums: before the
    stage took the earlier version out itself (``ClusterStage._leave``), the old version's
    hashed vector stayed in the sum and its language part's size while size went back to 2,
    three unit vectors for two members (each revision adding one more)."""
    db = tmp_path / "n.duckdb"
    first_a = page("https://x.example/a", ARTICLE, 0)
    with connect(db) as con:
        store_pages(con, [first_a, page("https://y.example/b", EDITED, 1)])
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r1")
    [(_, size, members, total, parts)] = narratives(db)
    assert (size, members, parts) == (2, 2, 2)
    with connect(db) as con:
        store_pages(con, [replace(first_a, text=ARTICLE.replace("Tuesday", "Monday"),
                                  fetched_at=first_a.fetched_at + timedelta(days=1))])  # fmt: skip
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r2")
    [(_, size, members, total, parts)] = narratives(db)
    assert (size, members) == (2, 2)
    assert parts == size, f"language parts count {parts} documents"
    # a sum of `size` unit vectors has a norm of at most `size`
    assert np.linalg.norm(total) <= size + 1e-3, np.linalg.norm(total)


def test_a_new_version_the_cluster_stage_rejects_is_not_counted_out_of_its_narrative(
    tmp_path, monkeypatch
):
    """a (ARTICLE) and b (EDITED, its copy) make one narrative. a's page changes, and the
    cluster stage rejects the new version (no vector: here a lead with no n-grams, as
    monkeypatched); c, a verbatim copy of b, is in the same batch and joins b's narrative.
    a is not placed, so it stays a member where its earlier version was, and the narrative
    counts it: before, the lookup counted that narrative without every batch document that
    had a narrative_members row while the write withdrew only those it placed (size 2, three
    members)."""
    db = tmp_path / "n.duckdb"
    first_a = page("https://x.example/a", ARTICLE, 0)
    with connect(db) as con:
        store_pages(con, [first_a, page("https://y.example/b", EDITED, 1)])
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r1")
    a = doc_id_for("https://x.example/a")
    lead = ClusterStage.lead
    monkeypatch.setattr(
        ClusterStage,
        "lead",
        lambda self, d: "" if d.doc_id == a and d.version > 1 else lead(self, d),
    )
    with connect(db) as con:
        store_pages(con, [
            replace(first_a, text=UNRELATED, fetched_at=first_a.fetched_at + timedelta(days=1)),
            page("https://z.example/c", EDITED, 2),
        ])  # fmt: skip
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r2")
    for narrative_id, size, members, _, _ in narratives(db):
        assert size == members, (narrative_id, size, members)


def test_a_changed_page_that_starts_its_own_narrative_again_is_no_new_narrative(tmp_path):
    """A page alone in its narrative changes: its new version leaves the narrative (which,
    left empty, goes) and starts one again, which takes the old id and date back. The
    analyst has the same narratives as before; the summary said "1 narrative new" and
    `v_runs.narratives_new` 1 (a cron run's randomized check, tests/test_run_summary_random.py)."""
    db = tmp_path / "n.duckdb"
    first = page("https://x.example/a", UNRELATED, 0)
    with connect(db) as con:
        store_pages(con, [first])
    report = run_stages(db, stages(cluster=True), batch_size=4, run_id="r1")
    assert report.stages[-1].counters == {"narrative_new": 1}
    before = narratives(db)
    with connect(db) as con:
        store_pages(con, [replace(first, text=UNRELATED.replace("forty", "fifty"),
                                  fetched_at=first.fetched_at + timedelta(days=1))])  # fmt: skip
    report = run_stages(db, stages(cluster=True), batch_size=4, run_id="r2")
    assert [n[0] for n in narratives(db)] == [n[0] for n in before]  # the same narrative
    counters = report.stages[-1].counters
    assert counters.get("narrative_new", 0) == 0, counters
    assert counters == {"narrative_taken_back": 1}, counters
