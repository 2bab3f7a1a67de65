"""Keyword search (storage/search.py) against the plainest reading of what it promises: every
term, case-insensitive, in the title or text, original or translated, scored by occurrences
(per term, on the side where it occurs more) and ordered by score, then date, then id, with v_documents' columns; computed here in Python
over v_documents."""

from __future__ import annotations

import pytest

from storage import connect
from storage.search import RESULT_COLUMNS, counting, keyword_search, pattern


def occurrences(field: str, term: str) -> int:
    """How often ``term`` occurs in ``field`` where a word starts (after no letter or digit),
    or anywhere for a term that starts with neither ("." or "("); the plain reading of it."""
    if not term[:1].isalnum():
        return field.count(term)
    n, i = 0, field.find(term)
    while i >= 0:
        if i == 0 or not field[i - 1].isalnum():
            n, i = n + 1, field.find(term, i + len(term))
        else:
            i = field.find(term, i + 1)
    return n


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
        # per term, the original's title and text or the translation's, whichever has more
        counts = [max(sum(occurrences(f, t.lower()) for f in fields[:2]),
                      sum(occurrences(f, t.lower()) for f in fields[2:])) for t in terms]  # fmt: skip
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


def test_pattern_is_literal_and_starts_a_word():
    unspaced = "\\p{Han}\\p{Hiragana}\\p{Katakana}\\p{Thai}\\p{Lao}\\p{Khmer}\\p{Myanmar}"
    start = f"(?:^|[^\\pL\\pN]|[{unspaced}])"  # a word starts after a Chinese character too
    assert pattern("u.s.") == f"(?i){start}u\\x{{2e}}s\\x{{2e}}"
    assert pattern("санкции") == f"(?i){start}санкции"
    assert pattern("a|b(") == f"(?i){start}a\\x{{7c}}b\\x{{28}}"
    assert pattern(".net") == "(?i)\\x{2e}net"  # no word to start: anywhere
    assert pattern("会议") == "(?i)会议"  # a script without spaces: anywhere too


def test_a_word_matches_where_a_word_starts():
    """ "war" is not in "award" (it was, a user found); it is in "wars" and "War,", and a
    stem finds its inflections ("санкци": "санкции", "Санкций")."""
    import duckdb

    con = duckdb.connect()
    count = lambda text, term: con.execute(  # noqa: E731
        "SELECT len(regexp_extract_all(?, ?))", [text, pattern(term)]).fetchone()[0]  # fmt: skip
    assert count("Community Garden Wins a Regional Award", "war") == 0
    assert count("Sanctions, Not War: wars (war)", "war") == 3
    assert count("Санкции и Санкций", "санкци") == 2
    for text, term in (("Award, war", "war"), ("Санкции и Санкций", "санкци")):
        assert count(text, term) == occurrences(text.lower(), term)
    # a term that ends in punctuation, twice touching: one match took the "." both share
    assert counted(con, "U.S.U.S. and U.S.", "u.s.") == 3
    from pipeline.snippets import snippet  # the snippet shows the word the search found

    assert snippet("A regional award. " + "x " * 60 + "Then war came.", ["war"], 40).endswith(
        "Then war came.")  # fmt: skip


@pytest.fixture(scope="module")
def edge_store(demo_run, tmp_path_factory):
    """The demo store with the cases the demo lacks, written into its tables: a current
    version without an extraction (an older one has the word), extractions without a title
    (the listing's title counts instead), a real translation, a failed one, an English piece
    without a title, a document without a language, an extraction written again (a new row
    id), and a Turkish capital İ."""
    import shutil

    import duckdb

    db = tmp_path_factory.mktemp("search-edges") / "edges.duckdb"
    shutil.copy(demo_run[0], db)
    con = duckdb.connect(str(db))
    a, b, c, d, e, f, g, h = [r[0] for r in con.execute(
        "SELECT doc_id FROM documents ORDER BY doc_id LIMIT 8").fetchall()]  # fmt: skip
    for sql, params in [
        ("INSERT INTO document_versions SELECT * REPLACE (2 AS version, 'Zebra crossing ZEBRA' "
         "AS hint_title, 'h2' AS content_hash) FROM document_versions WHERE doc_id = ?", [a]),
        ("UPDATE extractions SET text = text || ' zebra zebra zebra' WHERE doc_id = ?", [a]),
        ("UPDATE documents SET current_version = 2 WHERE doc_id = ?", [a]),
        ("INSERT INTO languages SELECT * REPLACE (2 AS version) FROM languages "
         "WHERE doc_id = ?", [a]),
        ("UPDATE extractions SET title = NULL, text = text || ' zebra' WHERE doc_id = ?", [b]),
        ("UPDATE document_versions SET hint_title = 'The Zebra' WHERE doc_id = ?", [b]),
        ("UPDATE translations SET status = 'translated', title = 'Zebra story', "
         "text = 'a zebra and another zebra' WHERE doc_id = ?", [c]),
        ("UPDATE languages SET lang = 'ru' WHERE doc_id = ?", [c]),
        ("UPDATE translations SET status = 'failed', title = NULL, text = NULL "
         "WHERE doc_id = ?", [d]),
        ("UPDATE extractions SET text = 'ZEBRA. ' || text WHERE doc_id = ?", [d]),
        ("UPDATE translations SET status = 'not_needed', title = NULL, text = NULL "
         "WHERE doc_id = ?", [e]),
        ("UPDATE extractions SET title = NULL, text = text || ' zebra' WHERE doc_id = ?", [e]),
        ("UPDATE document_versions SET hint_title = 'zebra zebra' WHERE doc_id = ?", [e]),
        ("DELETE FROM languages WHERE doc_id = ?", [f]),
        ("UPDATE extractions SET text = text || ' Zebra' WHERE doc_id = ?", [f]),
        ("CREATE TEMP TABLE again AS SELECT * FROM extractions WHERE doc_id = ?", [g]),
        ("DELETE FROM extractions WHERE doc_id = ?", [g]),
        ("UPDATE again SET text = text || ' zebra'", []),
        ("INSERT INTO extractions SELECT * FROM again", []),
        ("UPDATE extractions SET text = text || ' İstanbul zebra' WHERE doc_id = ?", [h]),
    ]:  # fmt: skip
        con.execute(sql, params)
    con.close()
    return db, [a, b, c, d, e, f, g, h]


@pytest.mark.parametrize("lang", [None, "ru", "en"])
@pytest.mark.parametrize("terms", [["zebra"], ["ZEBRA", "the"], ["İstanbul"], ["zebra", "e"]],
                         ids=repr)  # fmt: skip
def test_keyword_search_on_the_edges(edge_store, terms, lang):
    db, planted = edge_store
    with connect(db, read_only=True) as con:
        got = keyword_search(con, terms, lang=lang, limit=50)
        want = reference(con, terms, lang, 50)
    assert got == want
    if terms == ["zebra"] and lang is None:  # every planted case is found
        assert {r[0] for r in got} == set(planted)


def test_an_english_piece_is_not_counted_twice(demo_run):
    """v_documents shows an English piece's text as its own translation, and the score once
    counted both, so that an English query ranked English pieces at twice the occurrences of
    a translated piece's."""
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        hits = keyword_search(con, ["sanctions"], lang=None, limit=200)
        n = len(RESULT_COLUMNS)
        langs = {row[1] for row in hits}
        for row in hits:
            title = (row[4] or "").lower() if row[1] == "en" else (row[5] or "").lower()
            text = (row[n + 1] or "").lower() if row[1] == "en" else (row[n + 2] or "").lower()
            side = occurrences(title, "sanctions") + occurrences(text, "sanctions")
            assert row[n] >= side and (row[1] != "en" or row[n] == side), row[: n + 1]
    assert "en" in langs  # (the demo's tiny translation packages do not write "sanctions")


def test_a_page_rejected_as_not_news_is_never_found(tmp_path):
    """A block page rejected at extraction was still found by its listing's title, though
    pages that are not news never join search (README); one waiting for extraction is."""
    import json

    from tests.conftest import import_jsonl, run_cli

    blocked = {"url": "https://blocked.example/x", "title": "Access denied: zebra",
               "text": "Access denied. You don't have permission to access this server."}  # fmt: skip
    news = {"url": "https://news.example/1", "title": "A zebra in Nairobi",
            "text": "A zebra escaped from the zoo in Nairobi on Monday, officials said. "
                    "Keepers found the animal in a park two hours later, unharmed."}  # fmt: skip
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [blocked, news])
    found = lambda: [h["url"] for h in json.loads(  # noqa: E731
        run_cli("search", "zebra", "--format", "json", db=db).stdout)]  # fmt: skip
    assert set(found()) == {blocked["url"], news["url"]}  # not extracted yet: its title
    run_cli("process", "--stage", "extract", "--no-progress", db=db)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT reason FROM v_rejections").fetchall() == [("not_news",)]
    assert found() == [news["url"]]


def test_the_snippet_shows_the_word_after_a_turkish_capital_i(tmp_path):
    """The snippet looked for the word in the lower-cased text, where each "İ" is two
    characters, and cut the text itself there: after some 60 of them it missed the word."""
    import json

    from tests.conftest import import_jsonl, run_cli

    text = ("İçişleri Bakanlığı İstanbul, İzmir, İzmit ve İskenderun için İKİ yeni İLAN "
            "yayımladı. " * 8 + "Ardından NATO toplantısı Brüksel'de başladı ve sürdü.")  # fmt: skip
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [{"url": "https://tr.example/1", "title": "Haberler",
                                 "text": text}])  # fmt: skip
    run_cli("process", "--stage", "extract", "--no-progress", db=db)
    for word in ("nato", "NATO"):
        (hit,) = json.loads(run_cli("search", word, "--format", "json", db=db).stdout)
        assert "NATO" in hit["snippet"], hit["snippet"]


def counted(con, text: str, term: str) -> int:
    """``term``'s occurrences in ``text`` as keyword search counts them (storage/search.py)."""
    found, less = counting(term)
    n = con.execute("SELECT len(regexp_extract_all(?, ?))", [text, found]).fetchone()[0]
    return n - (con.execute("SELECT len(regexp_extract_all(?, ?))", [text, less]).fetchone()[0]
                if less else 0)  # fmt: skip


def test_occurrences_are_counted_as_the_plain_reading_counts_them():
    """Random terms, and texts of random characters and copies of the term in either case,
    often touching (seeded): the count keyword search scores by equals the plain reading's.
    With one pattern per term, 38 of these 1,000 differed ("A.A. " has two "a." where a word
    starts, not one)."""
    import random

    import duckdb

    rng = random.Random(0)
    cases = []
    for _ in range(1_000):
        term = rng.choice("ab1") + "".join(rng.choice("ab1. -") for _ in range(rng.randint(0, 3)))
        pieces = [term, term.upper(), *"aB1. -"]
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        cases.append((text, term, *counting(term)))
    rows = duckdb.execute(
        "SELECT text, term, len(regexp_extract_all(text, found)) - "
        "coalesce(len(regexp_extract_all(text, less)), 0) FROM (SELECT unnest($1) AS text, "
        "unnest($2) AS term, unnest($3) AS found, unnest($4) AS less)",
        [list(column) for column in zip(*cases, strict=True)],
    ).fetchall()
    wrong = [(t, w, n) for t, w, n in rows if n != occurrences(t.lower(), w)]
    assert not wrong, wrong[:5]


def test_a_word_of_a_script_without_spaces_is_found_inside_a_sentence(tmp_path):
    """Chinese writes no spaces between words, so where a word starts is anywhere: "会议"
    (meeting) was found only after punctuation, not in "国际会议", and a piece that held it
    only mid-sentence was never found; nor was "NATO" in "在NATO峰会上". Counted everywhere."""
    import json

    from tests.conftest import import_jsonl, run_cli

    text = ("今天在北京举行了关于制裁的国际会议。各国代表在北京讨论了粮食价格和能源危机的问题，"
            "代表们在NATO峰会上也讨论了此事。这次会议持续了三天，代表们最终达成了共识。")  # fmt: skip
    db = tmp_path / "zh.duckdb"
    import_jsonl(tmp_path, db, [{"url": "https://zh.example/1", "title": "新闻", "text": text}])
    run_cli("process", "--stage", "extract", "--no-progress", db=db)
    found = {}
    for word in ("会议", "北京", "nato", "这次会议", "award"):
        found[word] = [(h["score"], word.lower() in (h["snippet"] or "").lower())
                       for h in json.loads(run_cli("search", word, "--format", "json", db=db).stdout)]  # fmt: skip
    print(found)
    assert found == {"会议": [(2, True)], "北京": [(2, True)], "nato": [(1, True)],
                     "这次会议": [(1, True)], "award": []}  # fmt: skip


def test_an_arabic_word_is_found_after_its_article(tmp_path):
    """Arabic writes the article (and a preposition before it) as part of the word:
    "حرب" (war) was not found in "الحرب" (the war), "بالحرب" or "للحرب", so a keyword search
    for a bare word missed most Arabic texts. The search still starts at a word: "مال"
    (money) finds "المال" but not the name "كمال" (Kamal)."""
    import json

    from tests.conftest import import_jsonl, run_cli

    texts = {
        "https://ar.example/1": "قال الوزير إن الحرب في المنطقة أثرت على المال العام.",
        "https://ar.example/2": "ندد المتحدث بالحرب وطالب بوقفها فورا.",
        "https://ar.example/3": "دعا البرلمان للحرب على الفساد، وقال كمال إن الخطة جاهزة.",
        "https://ar.example/4": "هذه حرب اقتصادية، قال المحلل في مقابلة.",
    }
    db = tmp_path / "ar.duckdb"
    import_jsonl(tmp_path, db, [{"url": u, "title": "خبر", "text": t} for u, t in texts.items()])
    run_cli("process", "--stage", "extract", "--no-progress", db=db)
    found = {}
    for word in ("حرب", "الحرب", "مال", "وزير"):
        hits = json.loads(run_cli("search", word, "--format", "json", db=db).stdout)
        found[word] = sorted((h["url"][-1], bool(h["snippet"])) for h in hits)
    print(found)
    assert found == {"حرب": [("1", True), ("2", True), ("3", True), ("4", True)],
                     "الحرب": [("1", True)], "مال": [("1", True)], "وزير": [("1", True)]}  # fmt: skip
