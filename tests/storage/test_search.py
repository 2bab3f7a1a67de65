"""Keyword search (storage/search.py) against the plainest reading of what it promises: every
term, case-insensitive, in the title or text, original or translated, scored by occurrences
and ordered by score, then date, then id, with v_documents' columns; computed here in Python
over v_documents."""

from __future__ import annotations

import pytest

from storage import connect
from storage.search import RESULT_COLUMNS, keyword_search, pattern


def reference(con, terms: list[str], lang: str | None, limit: int) -> list[tuple]:
    rows = con.execute(
        f"SELECT {', '.join(RESULT_COLUMNS)}, title, text, title_translated, text_translated "
        "FROM v_documents"
    ).fetchall()
    n = len(RESULT_COLUMNS)
    found = []
    for row in rows:
        meta = row[:n]
        if lang and meta[1] != lang:
            continue
        fields = [(f or "").lower() for f in row[n:]]
        counts = [sum(f.count(t.lower()) for f in fields) for t in terms]
        if all(counts):
            found.append((meta, sum(counts), row[n + 1], row[n + 3]))
    far_past = -1e18
    found.sort(key=lambda x: (-x[1], -(x[0][3].timestamp() if x[0][3] else far_past), x[0][0]))
    return [(*meta, score, text, translated) for meta, score, text, translated in found[:limit]]


QUERIES = [  # (terms, language, whether the demo store has matches)
    (["санкции"], None, True),
    (["Sanktionen"], "de", True),
    (["САНКЦИИ"], None, True),  # Cyrillic, upper case
    (["the", "war"], None, True),
    (["the", "war"], "en", True),
    (["a"], None, True),  # nearly everything: ties broken by date, then id
    (["."], None, True),  # punctuation is literal, not a regex wildcard
    (["("], None, True),  # alone, a regex syntax error
    (["?"], None, True),
    (["u.s."], None, False),
    (["(", "["], None, False),
    (["\\", "$1"], None, False),
    (["санкции", "zzzyxq"], None, False),
]


@pytest.mark.parametrize(("terms", "lang", "matches"), QUERIES, ids=repr)
def test_keyword_search_matches_reference(demo_run, terms, lang, matches):
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        got = keyword_search(con, terms, lang=lang, limit=20)
        want = reference(con, terms, lang, 20)
    assert bool(want) == matches
    assert got == want  # the result columns, score, text and translated text


def test_pattern_is_literal():
    assert pattern("u.s.") == "(?i)u\\x{2e}s\\x{2e}"
    assert pattern("санкции") == "(?i)санкции"
    assert pattern("a|b(") == "(?i)a\\x{7c}b\\x{28}"
