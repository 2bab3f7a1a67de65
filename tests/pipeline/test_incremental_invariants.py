"""Copies and narratives when a page changes (a new version: the same URL, another text) and
is processed again, in the same batch as other documents or in one of its own. No embedding
model: the word pipeline (exact and near copies, narratives of character n-grams)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from pipeline.dedup import DedupStage
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.narratives import ClusterStage
from pipeline.runner import run_stages
from storage import connect
from storage.documents import store_pages
from storage.export import export
from storage.records import DocInput, PageRecord
from storage.urls import doc_id_for
from tests.pipeline.test_dedup import ARTICLE, EDITED, UNRELATED, page


def stages(cluster: bool = False) -> list:
    out = [ExtractStage(), LangIdStage(), DedupStage(translated=False)]
    return out + [ClusterStage(vectors="words")] if cluster else out


def links(db) -> set[tuple[str, str, str]]:
    with connect(db, read_only=True) as con:
        return set(con.execute("SELECT doc_id, other_doc_id, kind FROM copy_links").fetchall())


def test_a_page_changed_in_the_batch_of_its_copies_is_compared_by_its_new_text(tmp_path):
    """x.example/a said UNRELATED, now says ARTICLE. In the batch that redoes it: a verbatim
    copy of its *old* text (nobody's text now) and an edited copy of its new one. Processed
    in one batch or with the changed page in a batch of its own before them, the copies are
    the same: the edited copy links to the page (near), the copy of the old text to nothing.
    """
    a, old, edited = (doc_id_for(u) for u in (
        "https://x.example/a", "https://y.example/old", "https://z.example/edited"))  # fmt: skip
    found = {}
    for split in ("one batch", "page first"):
        db = tmp_path / f"{split.replace(' ', '-')}.duckdb"
        with connect(db) as con:
            store_pages(con, [page("https://x.example/a", UNRELATED, 0)])
        run_stages(db, stages(), batch_size=4, run_id="r1")
        with connect(db) as con:
            store_pages(con, [page("https://x.example/a", ARTICLE, 5)])
        if split == "page first":
            run_stages(db, stages(), batch_size=4, run_id="r2")
        with connect(db) as con:
            store_pages(con, [page("https://y.example/old", UNRELATED, 6),
                              page("https://z.example/edited", EDITED, 7)])  # fmt: skip
        run_stages(db, stages(), batch_size=4, run_id="r3")
        found[split] = links(db)
    assert found["page first"] == {(edited, a, "near")}
    # before the fix in pipeline/dedup.py: {(old, a, 'exact')}, and the edited copy unlinked
    assert found["one batch"] == found["page first"]
    assert old not in {d for d, _, _ in found["one batch"]}


def test_a_changed_page_leaves_its_old_narrative_when_it_is_clustered_again(tmp_path):
    """x.example/a (UNRELATED) and y.example/b (ARTICLE) form two narratives; then a's page
    carries b's text: a verbatim copy of b. Clustered again, a joins b's narrative (its copy
    group's) and leaves its own, which, with no member left, goes; every narrative counts
    its members."""
    db = tmp_path / "n.duckdb"
    first_a = page("https://x.example/a", UNRELATED, 0)
    with connect(db) as con:
        store_pages(con, [first_a, page("https://y.example/b", ARTICLE, 1)])
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r1")
    a, b = doc_id_for("https://x.example/a"), doc_id_for("https://y.example/b")
    with connect(db) as con:
        [(b_narrative,)] = con.execute(
            "SELECT narrative_id FROM narrative_members WHERE doc_id = ?", [b]
        ).fetchall()
        store_pages(
            con, [replace(first_a, text=ARTICLE, fetched_at=first_a.fetched_at + timedelta(days=1))]
        )
    run_stages(db, stages(cluster=True), batch_size=4, run_id="r2")
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT doc_id, other_doc_id, kind FROM copy_links").fetchall() == [
            (a, b, "exact")
        ]
        members = dict(con.execute("SELECT doc_id, narrative_id FROM narrative_members").fetchall())
        counted = con.execute(
            "SELECT n.narrative_id, n.size, count(m.doc_id) FROM narratives n "
            "LEFT JOIN narrative_members m USING (narrative_id) GROUP BY 1, 2 ORDER BY 1"
        ).fetchall()
    # fails: a joins its own old narrative 'via copy' (the copy group's narrative is the
    # lowest id among its members' rows, a's stale row among them) ...
    assert members == {a: b_narrative, b: b_narrative}
    # ... which still counts a's first version: [(1, 2, 1), (2, 1, 1)]
    assert counted == [(b_narrative, 2, 2)]


def rewritten(first: int, words: int, tag: str) -> str:
    """ARTICLE with ``words`` words from the ``first`` replaced by placeholders."""
    tokens = ARTICLE.split()
    new = [f"w{tag}{j}" for j in range(words)]
    return " ".join(tokens[:first] + new + tokens[first + words :])


def test_a_changed_page_is_compared_by_its_new_buckets_only(tmp_path):
    """x.example/a said ARTICLE, now says an edit of it (A2); y.example/b, new, is another
    edit. A2 and b share no LSH bucket (their MinHash estimate is 0.60, but a document is
    compared only with documents sharing a bucket), while a's *old* text shares one with b.
    Processed in one batch or with the changed page in a batch of its own first, b links to
    nothing."""
    a2, b_text = rewritten(59, 24, "a"), rewritten(58, 30, "b")
    stage = DedupStage(translated=False)
    (_, sig_a, buckets_a), (_, sig_b, buckets_b), (_, _, buckets_old) = stage.prepare(
        [DocInput(f"d{i}", 1, "u", "s", text=t) for i, t in enumerate((a2, b_text, ARTICLE))]
    )
    assert not set(enumerate(buckets_a)) & set(enumerate(buckets_b))
    assert set(enumerate(buckets_old)) & set(enumerate(buckets_b))
    assert (sig_a == sig_b).mean() >= 0.5
    found = {}
    for split in ("one batch", "page first"):
        db = tmp_path / f"{split.replace(' ', '-')}.duckdb"
        with connect(db) as con:
            store_pages(con, [page("https://x.example/a", ARTICLE, 0)])
        run_stages(db, stages(), batch_size=4, run_id="r1")
        with connect(db) as con:
            store_pages(con, [page("https://x.example/a", a2, 5)])
        if split == "page first":
            run_stages(db, stages(), batch_size=4, run_id="r2")
        with connect(db) as con:
            store_pages(con, [page("https://y.example/b", b_text, 6)])
        run_stages(db, stages(), batch_size=4, run_id="r3")
        found[split] = links(db)
    assert found["page first"] == set()
    # before the fix in pipeline/dedup.py: {(b, a, 'near')}: b found a through the bucket
    # of a's old text, stored, and compared it with a's new one
    assert found["one batch"] == found["page first"]


def test_a_page_whose_new_version_is_its_sites_boilerplate_stays_the_copy_it_was(tmp_path):
    """z.example/b said EDITED, y.example/a (first seen after it) ARTICLE: a links to b,
    near. Then b says ARTICLE, a verbatim copy of a, and a says the short text y.example
    serves at two other addresses: a's new version is its site's boilerplate, rejected, and a
    stays the article it was. Processed in one batch or with a's change in a run of its own
    first, a and b are then exact copies, linked once."""
    found = {}
    for split in ("one batch", "page first"):
        db = tmp_path / f"{split.replace(' ', '-')}.duckdb"
        with connect(db) as con:
            store_pages(con, [page("https://z.example/b", EDITED, 0),
                              page("https://y.example/a", ARTICLE, 1),
                              page("https://y.example/p/1", UNRELATED, 2),
                              page("https://y.example/p/2", UNRELATED, 3)])  # fmt: skip
        run_stages(db, stages(), batch_size=4, run_id="r1")
        with connect(db) as con:
            store_pages(con, [page("https://y.example/a", UNRELATED, 5)])
        if split == "page first":
            run_stages(db, stages(), batch_size=4, run_id="r2")
        with connect(db) as con:
            store_pages(con, [page("https://z.example/b", ARTICLE, 6)])
        run_stages(db, stages(), batch_size=4, run_id="r3")
        found[split] = links(db)
    a, b = doc_id_for("https://y.example/a"), doc_id_for("https://z.example/b")
    assert found["page first"] == {(a, b, "exact")}
    # before the fix in pipeline/dedup.py: {(a, b, 'near')}, the link a's old text made to
    # b's old one: b was not compared with the article a stays
    assert found["one batch"] == found["page first"]


def test_a_page_that_turns_into_a_stub_stays_its_copy_groups_origin(tmp_path):
    """x.example/a, published 1 December, and its verbatim copy y.example/b, of the 5th: a is
    the origin. Then a's page shows a challenge page dated the 20th, which the extract stage
    rejects: a stays in the group as the article it was, published the 1st, and so stays
    its origin."""
    stub = ("Just a moment... Checking your browser before accessing the site. Please enable "
            "JavaScript and cookies to continue. Ray ID: 7a1b2c3d4e5f")  # fmt: skip
    db = tmp_path / "n.duckdb"

    def dated(url: str, text: str, minute: int, day: int) -> PageRecord:
        return replace(page(url, text, minute), hint_published_at=f"2025-12-{day:02d}T00:00:00Z")

    def copies() -> list[tuple]:
        with connect(db, read_only=True) as con:
            return con.execute("SELECT url, copy_kind, delay FROM v_copies ORDER BY url").fetchall()

    with connect(db) as con:
        store_pages(con, [dated("https://x.example/a", ARTICLE, 0, 1),
                          dated("https://y.example/b", ARTICLE, 1, 5)])  # fmt: skip
    run_stages(db, stages(), batch_size=4, run_id="r1")
    before = copies()
    assert before == [("https://x.example/a", "origin", timedelta(0)),
                      ("https://y.example/b", "exact", timedelta(days=4))]  # fmt: skip
    with connect(db) as con:
        store_pages(con, [dated("https://x.example/a", stub, 30, 20)])
    run_stages(db, stages(), batch_size=4, run_id="r2")
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage FROM rejections").fetchall() == [("extract",)]
    # before migration 36: [(a, 'exact', 15 days), (b, 'origin', 0)], a dated by the stub
    assert copies() == before


def test_a_page_that_turns_into_a_stub_keeps_its_title_and_language_in_v_copies(tmp_path):
    """As above, and `v_copies` names the origin as the article it is in the group: its
    title and language, not the challenge page's title and no language (schema version 42;
    version 38 mended its date alone)."""
    stub = ("Just a moment... Checking your browser before accessing the site. Please enable "
            "JavaScript and cookies to continue. Ray ID: 7a1b2c3d4e5f")  # fmt: skip
    db = tmp_path / "n.duckdb"

    def titled(url: str, text: str, minute: int, title: str) -> PageRecord:
        return replace(page(url, text, minute), hint_title=title)

    def copies() -> list[tuple]:
        with connect(db, read_only=True) as con:
            return con.execute(
                "SELECT url, copy_kind, title, lang FROM v_copies ORDER BY url"
            ).fetchall()

    with connect(db) as con:
        store_pages(con, [titled("https://x.example/a", ARTICLE, 0, "Bridge closed"),
                          titled("https://y.example/b", ARTICLE, 1, "Bridge closed")])  # fmt: skip
    run_stages(db, stages(), batch_size=4, run_id="r1")
    before = copies()
    assert before == [("https://x.example/a", "origin", "Bridge closed", "en"),
                      ("https://y.example/b", "exact", "Bridge closed", "en")]  # fmt: skip
    with connect(db) as con:
        store_pages(con, [titled("https://x.example/a", stub, 30, "Just a moment...")])
    run_stages(db, stages(), batch_size=4, run_id="r2")
    assert copies() == before
    # and it says that the page has changed since (schema version 44)
    with connect(db, read_only=True) as con:
        changed = con.execute("SELECT url, newer_version FROM v_copies ORDER BY url").fetchall()
    assert changed == [("https://x.example/a", True), ("https://y.example/b", False)]
    # and `export copies` names the members as v_copies does (it read the current version)
    export(db, "copies", tmp_path / "out", fmt="jsonl")
    lines = (tmp_path / "out" / "copies.jsonl").read_text(encoding="utf-8").splitlines()
    exported = sorted(
        (r["url"], r["copy_kind"], r["title"], r["lang"]) for r in map(json.loads, lines)
    )
    assert exported == before
    flagged = sorted((r["url"], r["newer_version"]) for r in map(json.loads, lines))
    assert flagged == changed


def test_v_copies_says_which_members_pages_changed_before_the_dedup_stage_compares_them(tmp_path):
    """x.example/a and its verbatim copy y.example/b; then a's page says something else. Until
    the dedup stage compares the new text, v_copies shows a as the article the group holds,
    and says that its page has a newer version (schema version 44; before it, nothing told
    the row from a current one). Once compared, a leaves the group and b with it."""
    db = tmp_path / "w.duckdb"

    def copies() -> list[tuple]:
        with connect(db, read_only=True) as con:
            return con.execute(
                "SELECT url, copy_kind, newer_version FROM v_copies ORDER BY url"
            ).fetchall()

    with connect(db) as con:
        store_pages(con, [page("https://x.example/a", ARTICLE, 0),
                          page("https://y.example/b", ARTICLE, 1)])  # fmt: skip
    run_stages(db, stages(), batch_size=4, run_id="r1")
    assert copies() == [("https://x.example/a", "origin", False),
                        ("https://y.example/b", "exact", False)]  # fmt: skip
    with connect(db) as con:
        store_pages(con, [page("https://x.example/a", UNRELATED, 5)])
    assert copies() == [("https://x.example/a", "origin", True),
                        ("https://y.example/b", "exact", False)]  # fmt: skip
    run_stages(db, stages()[:2], batch_size=4, run_id="r2")  # extracted, not yet compared
    assert copies() == [("https://x.example/a", "origin", True),
                        ("https://y.example/b", "exact", False)]  # fmt: skip
    run_stages(db, stages(), batch_size=4, run_id="r3")
    assert copies() == []
