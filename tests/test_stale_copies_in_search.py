"""`similar` and `search --semantic` on a page whose text changed after the dedup stage last
saw it: until the dedup stage handles the new text, the copy relations of the old text are
not the page's (README, "Search": `similar` leaves out the query's exact copies, folds a
hit's exact copies into its row, and a copy ranks with its copy group)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import import_jsonl, run_cli

STRIKE = (
    "Harbour cranes idle as dock workers strike",
    "Container traffic at the port of Rotterdam slowed to a crawl on Tuesday as crane "
    "operators walked out over pay. Shipping lines diverted at least twelve vessels to "
    "Antwerp and Hamburg, and the port authority said the backlog could take a week to "
    "clear once work resumes. Talks between the union and the terminal operators are due "
    "to continue on Thursday.",
)


def sql(db, query: str) -> list[dict]:
    return json.loads(run_cli("sql", query, "--format", "json", db=db).stdout)


def cli_json(db, *args: str) -> list[dict]:
    return json.loads(run_cli(*args, "--format", "json", db=db).stdout)


@pytest.fixture(scope="module")
def changed(demo_run, tmp_path_factory):
    """The demo's store where the English exact copy of a story now carries another story,
    extracted and embedded, but not yet handled by the dedup stage (a run stopped at its
    --max-duration, or `process --stage embed`): (db, origin, copy)."""
    tmp = tmp_path_factory.mktemp("stale-copies")
    db = tmp / "n.duckdb"
    shutil.copy(demo_run[0], db)
    (pair,) = sql(db, "SELECT doc_id, copy_of, url FROM v_copies "
                      "WHERE copy_kind = 'exact' AND lang = 'en'")  # fmt: skip
    title, text = STRIKE
    import_jsonl(tmp, db, [{"url": pair["url"], "title": title, "text": text}])
    for stage in ("extract", "langid", "embed"):
        run_cli("process", "--stage", stage, "--no-progress", db=db)
    return db, pair["copy_of"], pair["doc_id"]


def test_similar_lists_a_former_exact_copy_whose_text_changed(changed):
    """`similar` hid the page from its former original's list: 0 of 49 rows were the dock
    strike piece (its old text's copy data said it was the original's very text)."""
    db, origin, copy = changed
    (state,) = sql(db, f"SELECT d.current_version, m.version AS deduplicated FROM documents d "
                       f"JOIN minhash m USING (doc_id) WHERE doc_id = '{copy}'")  # fmt: skip
    assert state == {"current_version": 2, "deduplicated": 1}  # the new text waits for dedup
    hits = cli_json(db, "similar", origin, "--limit", "100")
    listed = [h for h in hits if h["doc_id"] == copy]
    print(len(hits), "rows;", len(listed), "of them the changed page:", listed)
    assert [(h["title"], h["exact_copies"]) for h in listed] == [(STRIKE[0], 0)]
    back = cli_json(db, "similar", copy, "--limit", "100")
    print(len(back), "rows for the changed page; the former original:",
          [h for h in back if h["doc_id"] == origin])  # fmt: skip
    assert origin in {h["doc_id"] for h in back}


def test_search_does_not_rank_a_changed_page_with_its_old_copy_group(changed):
    """`search --semantic` ranked the dock strike piece with the ceasefire story's copy group:
    4th for "ceasefire Brussels" with the group's score (0.353 against its own 0.047), and
    for "dock workers strike" the ceasefire story's translations followed it with its score
    (0.653, their similarity negative)."""
    db, origin, copy = changed
    for query, lang in (("ceasefire Brussels", "en"), ("dock workers strike harbour", "en")):
        hits = cli_json(db, "search", "--semantic", query, "--query-lang", lang, "--limit", "50")
        row = next(h for h in hits if h["doc_id"] == copy)
        print(query, "->", {k: row[k] for k in ("rank", "score", "similarity", "copy_group")})
        assert row["copy_group"] is None and row["score"] == row["similarity"]
        strike_first = hits[0]["doc_id"] == copy
        if strike_first:  # no document follows it for a group it left
            print("after it:", [(h["score"], h["similarity"], h["title"]) for h in hits[1:4]])
            assert all(h["score"] < hits[0]["score"] for h in hits[1:])


def test_after_dedup_the_store_agrees(changed, tmp_path):
    """Once the dedup stage handles the new text, the copy data says what search and
    `similar` showed while it waited: the page left the group."""
    db, origin, copy = changed
    later = tmp_path / "later.duckdb"
    shutil.copy(db, later)
    run_cli("process", "--no-progress", db=later)
    assert sql(later, f"SELECT * FROM copy_members WHERE doc_id = '{copy}'") == []
    before = cli_json(db, "similar", origin, "--limit", "100")
    after = cli_json(later, "similar", origin, "--limit", "100")
    assert [h["doc_id"] for h in before] == [h["doc_id"] for h in after]
