"""Narrative keywords show one form of a word, not two of its endings (schema version 39)."""

from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from tests.conftest import import_jsonl
from tests.pipeline.test_labels import WORDS_ONLY, WORDS_STAGES, narrative_of

POLISH = [
    {
        "url": "https://pl.example/zasilek-1",
        "title": "Zasiłek dla bezrobotnych wzrośnie od czerwca",
        "text": "Zasiłek dla bezrobotnych wzrośnie od czerwca. Ministerstwo pracy ogłosiło, "
        "że wysokość zasiłku zależy od stażu pracy. O zasiłek mogą starać się osoby "
        "zarejestrowane w urzędzie pracy. Wnioski o wypłatę zasiłku przyjmuje urząd.",
    },
    {
        "url": "https://pl.example/zasilek-2",
        "title": "Wyższy zasiłek dla bezrobotnych od czerwca",
        "text": "Od czerwca wyższy zasiłek dla bezrobotnych: ministerstwo pracy podało nowe "
        "stawki zasiłku. Zasiłek wypłaca urząd pracy, a wysokość zasiłku zależy od stażu.",
    },
]

ENGLISH = [
    {
        "url": "https://en.example/museum-1",
        "title": "Museum visitors return as the harbour exhibition reopens",
        "text": "Visitors returned to the harbour museum on Sunday. Officials visited the "
        "exhibition, and visitors queued for hours. The museum said visitors will need "
        "tickets. The mayor visited the harbour exhibition with the museum's director.",
    },
    {
        "url": "https://en.example/museum-2",
        "title": "Harbour museum reopens its exhibition to visitors",
        "text": "The harbour museum reopened its exhibition to visitors on Sunday; the mayor "
        "visited it. Visitors queued outside the museum, officials visited the harbour.",
    },
]


def test_keywords_hold_one_form_of_a_word(tmp_path):
    """A Polish narrative about "zasiłek" (benefit) shows one of "zasiłek" and "zasiłku", not
    both: the two forms' scores are added and another word takes the freed slot. Different
    words that share a beginning stay apart ("visited", "visitors")."""
    db = tmp_path / "forms.duckdb"
    import_jsonl(tmp_path, db, POLISH + ENGLISH)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        pl = narrative_of(con, POLISH[0]["url"])
        en = narrative_of(con, ENGLISH[0]["url"])
        own = {t for (t,) in con.execute("SELECT DISTINCT term FROM doc_terms").fetchall()}
    assert pl["documents"] == 2 and en["documents"] == 2
    assert {"zasiłek", "zasiłku"} <= own  # both forms are in the texts
    forms = [w for w in pl["keywords"] if w.startswith("zasił")]
    assert forms == ["zasiłek"], pl["keywords"]
    assert len(pl["keywords"]) == 8, pl["keywords"]
    assert {"visited", "visitors"} <= set(en["keywords"]), en["keywords"]
    assert pl["keywords"][0] == "zasiłek", pl["keywords"]  # above "pracy" (work) once added
