"""Anchors (storage/schema/m17_anchors.py): the names and numbers `similar` weighs, in SQL."""

import pytest

from pipeline.similarity import anchor_overlap
from storage import connect
from storage.bulk import insert_rows


def anchors(con, text):
    return con.execute("SELECT text_anchors(?)", [text]).fetchone()[0]


def test_names_and_numbers_meet_across_languages_and_scripts(tmp_path):
    with connect(tmp_path / "a.duckdb") as con:
        ru = anchors(con, "Путин заявил, что Германия и Украина получат 1 200 тонн к 2026 году.")
        en = anchors(con, "Putin said Germany and Ukraine would get 1,200 tonnes by 2026.")
        de = anchors(con, "Laut Putin bekommen Deutschland und die Ukraine 1.200 Tonnen bis 2026.")
        assert {"putin", "german", "ukrain", "#2026"} <= set(ru) & set(en)
        assert {"putin", "ukrain", "#1200", "#2026"} <= set(de) & set(en)
        assert "#200" in ru  # a space is not a separator: "1 200" is two numbers, 1 and 200
        assert anchors(con, "Pjöngjang, PJONGJANG und Pjongjang") == ["pjongj"]
        assert anchors(con, "no names, no figures: 7 and x.") == []
        assert anchors(con, None) == []
        assert anchors(con, "00 and 007") == ["#0", "#7"]


def test_anchor_overlap_is_what_similar_adds(tmp_path):
    """The SQL macro and pipeline.similarity.anchor_overlap agree, on current versions only."""
    texts = {
        "a": "Putin met Macron in Paris on 12 March.",
        "b": "Путин встретился с Макроном в Париже 12 марта.",
        "c": "Rain in Oslo.",
    }
    with connect(tmp_path / "a.duckdb") as con:
        insert_rows(
            con,
            "documents",
            [("doc_id", "VARCHAR"), ("canonical_url", "VARCHAR"),
             ("first_seen_at", "TIMESTAMPTZ"), ("last_seen_at", "TIMESTAMPTZ"),
             ("current_version", "INTEGER")],
            [(d, f"https://x.test/{d}", "2026-11-01", "2026-11-01", 2) for d in texts],
        )  # fmt: skip
        insert_rows(
            con,
            "extractions",
            [("doc_id", "VARCHAR"), ("version", "INTEGER"), ("stage_version", "VARCHAR"),
             ("title", "VARCHAR"), ("text", "VARCHAR")],
            [(d, 2, "1", None, t) for d, t in texts.items()]
            + [("c", 1, "1", None, "Putin met Macron in Paris on 12 March.")],
        )  # fmt: skip
        got = {
            (a, b): con.execute("SELECT anchor_overlap(?, ?)", [a, b]).fetchone()[0]
            for a in texts
            for b in texts
        }
        mine = {d: con.execute("SELECT doc_anchors(?)", [d]).fetchone()[0] for d in texts}
        missing = con.execute("SELECT anchor_overlap('a', 'nope')").fetchone()[0]
    assert mine["a"] == ["#12", "macron", "march", "paris", "putin"]
    assert got[("a", "a")] == 1.0
    # putin and #12 shared; makron, parize (Париже) and march, macron, paris are not
    assert got[("a", "b")] == pytest.approx(2 / 7)
    assert got[("a", "c")] == 0.0  # c's current version is about rain, not its first one
    for (a, b), value in got.items():
        assert value == pytest.approx(anchor_overlap(mine[a], mine[b]))
    assert missing is None  # a document without an extraction has no anchors to compare
