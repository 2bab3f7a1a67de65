"""A new version of a page leaves its narrative (pipeline/narratives.py ``_leave``): with
hashed word vectors, and when the cluster stage rejects the new version (a helper's review)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import numpy as np

from pipeline.narratives import ClusterStage
from pipeline.rebuild import rebuild
from pipeline.runner import run_stages
from storage import connect
from storage.documents import store_pages
from storage.urls import doc_id_for
from tests.pipeline.test_dedup import ARTICLE, EDITED, UNRELATED, page
from tests.pipeline.test_incremental_invariants import stages
from tests.pipeline.test_narrative_invariants import SYLLABLES, article, import_docs, narrative_of
from tests.pipeline.test_narrative_invariants import stages as word_stages


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


def test_a_rebuild_keeps_a_page_whose_new_version_waits_in_its_narrative(tmp_path):
    """a and b tell two stories, each a narrative. a's page changes; before `process` reads
    the new version, `cluster --rebuild` runs. a's earlier version keeps its place, as it
    does in `process` until the new version is placed: a is still in its narrative and the
    id still resolves, also after the next `process` moves a on. Before the fix the rebuild
    dropped a (current version not extracted yet) and its narrative with it: the id no
    longer resolved, ever (a started a narrative under a new id)."""
    rng = random.Random(3)
    words = ["".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(90)]
    x, y, z = words[:30], words[30:60], words[60:]

    def doc(url: str, words: list[str]) -> dict:
        title, text = article(rng, "en", words)
        return {"url": f"https://{url}", "title": title, "text": text, "lang": "en",
                "source": url.split("/")[0], "published_at": "2026-08-01T08:00:00+00:00"}  # fmt: skip

    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db, "1", [doc("a.example/a", x), doc("b.example/b", y)])
    run_stages(db, word_stages(), batch_size=4, run_id="r1")
    story_a = narrative_of(db, "/a")
    assert story_a is not None and story_a != narrative_of(db, "/b")
    import_docs(tmp_path, db, "2", [doc("a.example/a", z)])
    rebuild(db, {"vectors": "words"})
    with connect(db, read_only=True) as con:
        ids = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
    # before the fix: a in no narrative, and {b's id: b's id} alone
    assert narrative_of(db, "/a") == story_a, ids
    assert ids.get(story_a) == story_a
    run_stages(db, word_stages(), batch_size=4, run_id="r2")
    with connect(db, read_only=True) as con:
        ids = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
    assert ids.get(story_a) == narrative_of(db, "/a") is not None


def test_a_page_that_turns_into_a_stub_stays_in_its_narrative_as_the_article_it_was(tmp_path):
    """Two articles of 3 and 4 January; the page of the first later shows a challenge page
    dated 1 March, which the extract stage rejects: the page stays in its narrative as the
    article it was, and `v_narratives` reads it so (schema version 41). Before, the view read
    the stub: first seen 4 January, last seen 1 March, 0.04 documents a day, languages en and
    none."""
    from tests.conftest import import_jsonl
    from tests.pipeline.test_copies_random import STUB
    from tests.pipeline.test_site_repeats import page as record
    from tests.pipeline.test_site_repeats import process

    def dated(url: str, text: str, day: str, title: str) -> dict:
        return {**record(url, text, title), "published_at": f"2026-{day}T00:00:00Z"}

    db = tmp_path / "n.duckdb"
    y = "https://b.example/y"
    import_jsonl(tmp_path, db, [dated(y, ARTICLE, "01-03", "Bridge closed"),
                                dated("https://c.example/z", ARTICLE, "01-04", "Bridge closed")],
                 "1.jsonl")  # fmt: skip
    process(db)
    sql = ("SELECT documents, langs, strftime(first_seen, '%m-%d'), strftime(last_seen, '%m-%d'), "
           "documents_per_day, representative_title FROM v_narratives")  # fmt: skip
    with connect(db, read_only=True) as con:
        before = con.execute(sql).fetchall()
    assert before == [(2, ["en"], "01-03", "01-04", 1.0, "Bridge closed")]
    import_jsonl(tmp_path, db, [dated(y, STUB, "03-01", "Just a moment...")], "2.jsonl")
    assert process(db).stages[0].rejected == 1
    with connect(db, read_only=True) as con:
        assert con.execute(sql).fetchall() == before
