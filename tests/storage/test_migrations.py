import duckdb
import pytest

from storage import SchemaTooNewError, connect
from storage.db import migrate, schema_version
from storage.migrations import LATEST_VERSION, MIGRATIONS
from tests.conftest import run_cli


def test_init_creates_the_latest_schema(tmp_path):
    db = tmp_path / "n.duckdb"
    out = run_cli("init", db=db).stdout
    assert f"schema version {LATEST_VERSION}" in out
    with connect(db, read_only=True) as con:
        assert schema_version(con) == LATEST_VERSION
        con.execute(
            "SELECT doc_id, url, source, title, author, published_at, first_seen_at, lang, "
            "lang_confidence, text FROM v_documents"
        ).fetchall()


def test_older_database_is_migrated_and_keeps_its_data(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:1])  # a database written by the first release
    con.execute("INSERT INTO documents VALUES ('d1', 'https://a.example/x', 's', now(), now(), 1)")
    con.close()
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        con.execute("SELECT * FROM v_rejections").fetchall()  # added by migration 2


def test_newer_database_is_refused_clearly(tmp_path):
    db = tmp_path / "new.duckdb"
    with connect(db) as con:
        con.execute("INSERT INTO schema_version VALUES (999, now())")
    with pytest.raises(SchemaTooNewError, match="upgrade narrascope"):
        with connect(db):
            pass
    proc = run_cli("status", db=db, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: database schema is version 999")
    assert "Traceback" not in proc.stderr


def test_read_only_commands_migrate_an_older_database_first(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:1])
    con.close()
    out = run_cli("sql", "SELECT count(*) AS n FROM v_rejections", "--format", "csv", db=db).stdout
    assert out.strip() == "n\n0"


def test_terms_move_to_one_row_a_document_and_read_as_before(tmp_path):
    """Schema 18: doc_terms (a row per term) becomes doc_term_lists (a row per document),
    read through a view of the old name; a later write replaces a document's terms whole."""
    db = tmp_path / "17.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 17])
    con.execute("INSERT INTO doc_terms VALUES ('d1', 'ceasefire', 3), ('d1', 'guarantee', 1), "
                "('d2', 'перемирие', 2)")  # fmt: skip
    con.close()
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        assert con.execute("SELECT doc_id, term, n FROM doc_terms ORDER BY 1, 2").fetchall() == [
            ("d1", "ceasefire", 3), ("d1", "guarantee", 1), ("d2", "перемирие", 2)
        ]  # fmt: skip
        assert con.execute(
            "SELECT terms[1].term FROM doc_term_lists WHERE doc_id = 'd1'"
        ).fetchone() == ("ceasefire",)
        con.execute(
            "INSERT OR REPLACE INTO doc_term_lists VALUES ('d1', [{'term': 'truce', 'n': 1}])"
        )
        assert con.execute("SELECT term FROM doc_terms WHERE doc_id = 'd1'").fetchall() == [
            ("truce",)
        ]


def test_translations_get_their_words_and_documents_their_own_back(tmp_path):
    """Schema 20: the words of every stored translation are computed, and a document whose
    terms were its translation's (translated before it was clustered) gets its own back, so
    every narrative is labelled in English with the Russian label beside it."""
    from pipeline.labels import terms

    ru = "Министр заявил, что переговоры о перемирии продолжатся, несмотря на санкции."
    en = "The minister said the truce talks would go on despite the sanctions."
    db = tmp_path / "19.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 19])
    times = [("d1", "01:00"), ("d2", "03:00"), ("d3", "03:00")]
    for n, (doc, translated_at) in enumerate(times, start=1):
        con.execute(
            f"""INSERT INTO documents VALUES ('{doc}', 'https://ru.example/{doc}', 's',
                    '2026-11-01', '2026-11-01', 1);
                INSERT INTO document_versions (doc_id, version, url, origin, fetched_at,
                    content_hash) VALUES ('{doc}', 1, 'https://ru.example/{doc}', 'import',
                    '2026-11-01', 'h{doc}');
                INSERT INTO extractions (doc_id, version, stage_version, text)
                    VALUES ('{doc}', 1, '1', '{ru}');
                INSERT INTO languages VALUES ('{doc}', 1, '1', 'ru', 1.0, 'test');
                INSERT INTO translations (doc_id, version, stage_version, source_lang,
                    target_lang, status, text, sentences, cache_hits, translated_at)
                    VALUES ('{doc}', 1, '1', 'ru', 'en', 'translated', '{en}', 1, 0,
                    '2026-11-01 {translated_at}+00');
                INSERT INTO narratives VALUES ({n}, '2026-11-01', '2026-11-01', 'm', 1, NULL,
                    [1.0]);
                INSERT INTO narrative_members VALUES ('{doc}', {n}, 1.0, 'new',
                    '2026-11-01 02:00+00')"""
        )
    # the cluster stage took d1's words from its translation, d2's from its own text; d3's
    # from its translation, which was made again after it was clustered (a later time)
    for doc, text in (("d1", en), ("d2", ru), ("d3", en)):
        con.execute(
            "INSERT INTO doc_term_lists VALUES (?, ?)",
            [doc, [{"term": w, "n": c} for w, c in terms(text)]],
        )
    con.close()
    english, russian = {w for w, _ in terms(en)}, {w for w, _ in terms(ru)}
    with connect(db) as con:
        assert schema_version(con) == LATEST_VERSION
        for doc in ("d1", "d2", "d3"):
            own = con.execute("SELECT term FROM doc_terms WHERE doc_id = ?", [doc]).fetchall()
            assert {t for (t,) in own} == russian
            found = con.execute(
                "SELECT term FROM translation_terms WHERE doc_id = ?", [doc]
            ).fetchall()
            assert {t for (t,) in found} == english
        labels = con.execute(
            "SELECT keywords, keywords_original FROM v_narratives ORDER BY narrative_id"
        ).fetchall()
    assert len(labels) == 3
    for keywords, original in labels:
        assert keywords and set(keywords) <= english
        assert original and set(original) <= russian


def test_a_copy_relation_stored_both_ways_keeps_the_link_from_the_later_document(tmp_path):
    """Schema 24: a pair linked both ways before eb9eef8 keeps the link from the document the
    dedup stage handled later (then the one first seen later); one-way links stay."""
    db = tmp_path / "23.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 23])
    # a before b (handled earlier); c and d in one batch, d first seen later; e -> f one way
    docs = {"a": ("01:00", "01:00"), "b": ("02:00", "03:00"), "c": ("01:00", "05:00"),
            "d": ("02:00", "05:00"), "e": ("01:00", "06:00"), "f": ("00:00", "06:00")}  # fmt: skip
    for doc, (seen, handled) in docs.items():
        con.execute(
            "INSERT INTO documents VALUES (?, ?, 's', ?, ?, 1)",
            [doc, f"https://x.example/{doc}", f"2026-11-01 {seen}+00", f"2026-11-01 {seen}+00"],
        )
        con.execute(
            "INSERT INTO stage_state VALUES (?, 1, 'dedup', '1', 'done', 'r0', ?)",
            [doc, f"2026-11-01 {handled}+00"],
        )
    for one, other, kind in [("a", "b", "translated"), ("b", "a", "translated"),
                             ("c", "d", "near"), ("d", "c", "near"), ("e", "f", "exact")]:  # fmt: skip
        con.execute(
            "INSERT INTO copy_links VALUES (?, ?, ?, 0.9, '2026-11-01 06:00+00')",
            [one, other, kind],
        )
    con.close()
    with connect(db) as con:
        links = con.execute(
            "SELECT doc_id, other_doc_id, kind FROM copy_links ORDER BY 1"
        ).fetchall()
        assert not con.execute(
            "SELECT * FROM duckdb_tables() WHERE table_name = 'm24_order'"
        ).fetchall()
    assert links == [("b", "a", "translated"), ("d", "c", "near"), ("e", "f", "exact")]


def test_a_link_made_to_a_document_the_stage_had_yet_to_handle_is_dropped(tmp_path):
    """Schema 32: before eb9eef8 a document was linked to one later in its batch (or in a
    later batch) where that one linked elsewhere, not back; the one-way link survived schema
    24 and made `v_copies` show the member as a direct copy of the origin. Found by upgrading
    a store the code of 2026-12-04 wrote (tests/support/upgrade_diff.py)."""
    db = tmp_path / "31.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 31])
    # o, u, r: one copy group, one batch at 05:00 in that order (first seen); another group:
    # p handled at 01:00 (version 1) and at 07:00 (version 2, a page that changed), c at 03:00
    docs = {"o": ("01:00", ["05:00"]), "u": ("02:00", ["05:00"]), "r": ("03:00", ["05:00"]),
            "p": ("00:00", ["01:00", "07:00"]), "c": ("00:30", ["03:00"])}  # fmt: skip
    for doc, (seen, handled) in docs.items():
        con.execute(
            "INSERT INTO documents VALUES (?, ?, 's', ?, ?, ?)",
            [doc, f"https://x.example/{doc}", f"2026-11-01 {seen}+00", f"2026-11-01 {seen}+00",
             len(handled)],
        )  # fmt: skip
        for version, at in enumerate(handled, 1):
            con.execute(
                "INSERT INTO document_versions (doc_id, version, url, origin, fetched_at, "
                "content_hash) VALUES (?, ?, ?, 'import', ?, ?)",
                [doc, version, f"https://x.example/{doc}", f"2026-11-01 {seen}+00", doc],
            )
            con.execute(
                "INSERT INTO stage_state VALUES (?, ?, 'dedup', '1', 'done', 'r0', ?)",
                [doc, version, f"2026-11-01 {at}+00"],
            )
        group = "cg-p" if doc in "pc" else "cg-o"
        con.execute("INSERT INTO copy_members VALUES (?, ?, now())", [doc, group])
    links = [
        ("u", "o", 0.90, "05:00"),
        ("r", "u", 0.95, "05:00"),
        ("o", "r", 0.91, "05:00"),  # to a document later in the batch: dropped
        ("c", "p", 0.93, "03:00"),
    ]  # to a page's old text, handled before: kept
    for one, other, similarity, found in links:  # fmt: skip
        con.execute(
            "INSERT INTO copy_links VALUES (?, ?, 'translated', ?, ?)",
            [one, other, similarity, f"2026-11-01 {found}+00"],
        )
    con.close()
    with connect(db) as con:
        kept = con.execute("SELECT doc_id, other_doc_id FROM copy_links ORDER BY 1").fetchall()
        r = con.execute(
            "SELECT copy_of, via, similarity FROM v_copies WHERE doc_id = 'r'"
        ).fetchone()
    # as a store built from scratch shows r: a copy of o via u (0.95), not a direct one (0.91)
    assert r == ("o", "u", 0.95)
    assert kept == [("c", "p"), ("r", "u"), ("u", "o")]


def test_a_store_written_when_schema_10_had_no_macros_upgrades(tmp_path):
    """Schema 10 gained its similarity macros (latest_model last) after stores had been
    written with its table alone (the code of 2026-11-29, 17:59 to 20:32 UTC, e1484f9 among
    it); schema 31's macros refer to latest_model, and such a store's upgrade stopped there.
    Found by upgrading a store e1484f9 wrote (tests/support/upgrade_diff.py)."""
    db = tmp_path / "11.duckdb"
    con = duckdb.connect(str(db))
    version, description, statements = MIGRATIONS[9]
    assert version == 10
    table_only = [s for s in statements if isinstance(s, str) and "CREATE TABLE" in s]
    migrate(con, [*MIGRATIONS[:9], (10, description, table_only), MIGRATIONS[10]])
    con.close()
    proc = run_cli("sql", "SELECT max(version) AS v FROM schema_version", "--format", "csv",
                   db=db, check=False)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.strip() == f"v\n{LATEST_VERSION}"
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT doc_similarity('a', 'b')").fetchone() == (None,)


def test_a_store_that_skipped_a_version_gets_it(tmp_path):
    """bca62fd, on main for a moment before its branch merged the one of schema 13, wrote
    stores at 14 without 13; the upgrade skipped 13 as below the store's version, and 15,
    which reads v_documents.machine_written (13's), failed on every command. Found by
    upgrading a store bca62fd wrote (tests/support/upgrade_diff.py)."""
    db = tmp_path / "14.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 14 and m[0] != 13])
    con.close()
    proc = run_cli("sql", "SELECT count(*) AS n FROM v_documents WHERE machine_written",
                   "--format", "csv", db=db, check=False)  # fmt: skip
    assert (proc.returncode, proc.stderr, proc.stdout.strip()) == (0, "", "n\n0")
    with connect(db, read_only=True) as con:
        versions = [
            v for (v,) in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        ]
    assert versions == [m[0] for m in MIGRATIONS]


def test_a_store_with_an_earlier_narratives_view_gets_the_current_one(tmp_path):
    """Schema 20 was changed after stores applied it (0c8b497 to c4fc320 wrote them): they
    kept their first v_narratives, whose keywords differed from a fresh store's. Here the
    earlier view is schema 11's (the one before 20); found by upgrading a store 0c8b497
    wrote (tests/support/upgrade_diff.py: its v_narratives SQL differed from a fresh one's)."""
    from storage.schema.m11_narrative_labels import V_NARRATIVES as EARLIER

    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    with connect(fresh):
        pass
    con = duckdb.connect(str(old))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 32])
    con.execute(EARLIER)
    con.close()

    def view(db):
        with connect(db, read_only=True) as con:
            return con.execute(
                "SELECT sql FROM duckdb_views() WHERE view_name = 'v_narratives'"
            ).fetchone()[0]

    assert view(old) == view(fresh)


def test_a_date_hint_that_is_no_publication_date_moves_to_the_meta_and_is_retried(tmp_path):
    """Schema 27: a stored hint of year 1 or 20000 leaves the version's date for its page's
    meta (published_at_ignored); a version that dedup set aside for it is pending again;
    plausible and unreadable hints stay as they were."""
    db = tmp_path / "26.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 26])
    hints = {"a": "0001-01-01", "b": "20000-01-01", "c": "2026-10-01", "d": "not-a-date",
             "e": "3000-01-01T00:00:00Z"}  # fmt: skip
    for doc, hint in hints.items():
        con.execute("INSERT INTO documents VALUES (?, ?, 's', '2026-11-01 01:00+00', "
                    "'2026-11-01 01:00+00', 1)", [doc, f"https://x.example/{doc}"])  # fmt: skip
        con.execute(
            "INSERT INTO document_versions (doc_id, version, url, source, origin, fetched_at, "
            "content_hash, text, hint_published_at) VALUES (?, 1, ?, 's', 'import', "
            "'2026-11-01 01:00+00', ?, 'Text.', ?)",
            [doc, f"https://x.example/{doc}", doc, hint],
        )
        con.execute("INSERT INTO stage_state VALUES (?, 1, 'extract', '1', 'done', 'r0', "
                    "'2026-11-01 02:00+00')", [doc])  # fmt: skip
    con.execute("INSERT INTO page_meta (doc_id, version, author) VALUES ('b', 1, 'Ann')")
    # e (year 3000, which Python reads) was clustered with d: their narrative dated 3000, and
    # another narrative of d alone keeps its date
    for nid, last in ((1, "3000-01-01 00:00+00"), (2, "2026-11-05 00:00+00")):
        con.execute("INSERT INTO narratives VALUES (?, '2026-11-01 04:00+00', "
                    "'2026-11-01 04:00+00', 'm', 1, ?, [1.0])", [nid, last])  # fmt: skip
    for doc, nid in (("e", 1), ("c", 1), ("d", 2)):
        con.execute("INSERT INTO narrative_members VALUES (?, ?, 1.0, 'x', "
                    "'2026-11-01 04:00+00')", [doc, nid])  # fmt: skip
    # dedup gave up on a (three failing runs); c was set aside for another reason
    for doc in ("a", "c"):
        con.execute("INSERT INTO stage_state VALUES (?, 1, 'dedup', '1', 'rejected', 'r3', "
                    "'2026-11-01 03:00+00')", [doc])  # fmt: skip
        con.execute(
            "INSERT INTO rejections (rejected_at, run_id, stage, reason, detail, url, source, "
            "doc_id, version) VALUES ('2026-11-01 03:00+00', 'r3', 'dedup', 'stage_error', "
            "'gave up after 3 attempts', ?, 's', ?, 1)",
            [f"https://x.example/{doc}", doc],
        )
    con.close()
    with connect(db) as con:
        rows = con.execute(
            "SELECT v.doc_id, v.hint_published_at, m.author, m.meta->>'published_at_ignored' "
            "FROM document_versions v LEFT JOIN page_meta m USING (doc_id, version) ORDER BY 1"
        ).fetchall()
        pending = con.execute(
            "SELECT doc_id FROM stage_state WHERE stage = 'dedup' ORDER BY 1"
        ).fetchall()
        dated = con.execute(
            "SELECT narrative_id, strftime(last_seen AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') "
            "FROM narratives ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("a", None, None, "0001-01-01"),
        ("b", None, "Ann", "20000-01-01"),
        ("c", "2026-10-01", None, None),
        ("d", "not-a-date", None, None),
        ("e", None, None, "3000-01-01T00:00:00Z"),
    ]
    # e is dated by its first fetch now, c by its hint: the later of the two
    assert dated == [(1, "2026-11-01 01:00"), (2, "2026-11-05 00:00")]
    assert pending == [("c",)]  # a's verdict is gone: the next `process` dedups it again


def test_stored_terms_are_computed_again_with_todays_function_words(tmp_path):
    """Schema 37: a store keeps the terms its stages wrote; after the function-word lists
    changed, its German narrative kept "wegen" and "mehr" among its keywords until every
    document was clustered again. The upgrade computes the terms of clustered documents (with
    their language) and of stored translations as the stages now would."""
    from pipeline.labels import terms

    de = "Wegen der Sanktionen wurde mehr Gas gekauft, sagte der Minister; danach stieg der Preis."
    en = "Because of the sanctions more gas was bought, the minister said; then the price rose."
    stale = [{"term": w, "n": 1} for w in ("wegen", "mehr", "sanktionen", "gas")]
    db = tmp_path / "36.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 36])
    con.execute(
        f"""INSERT INTO documents VALUES ('d1', 'https://de.example/1', 's', '2026-11-01',
                '2026-11-01', 1);
            INSERT INTO document_versions (doc_id, version, url, origin, fetched_at,
                content_hash) VALUES ('d1', 1, 'https://de.example/1', 'import',
                '2026-11-01', 'h1');
            INSERT INTO extractions (doc_id, version, stage_version, text)
                VALUES ('d1', 1, '1', '{de}');
            INSERT INTO languages VALUES ('d1', 1, '1', 'de', 1.0, 'test');
            INSERT INTO translations (doc_id, version, stage_version, source_lang, target_lang,
                status, text, sentences, cache_hits, translated_at)
                VALUES ('d1', 1, '1', 'de', 'en', 'translated', '{en}', 1, 0, '2026-11-01');
            INSERT INTO stage_state (doc_id, version, stage, stage_version, status,
                processed_at) VALUES ('d1', 1, 'cluster', '3', 'done', '2026-11-01');
            INSERT INTO narratives VALUES (1, '2026-11-01', '2026-11-01', 'm', 1, NULL, [1.0]);
            INSERT INTO narrative_members VALUES ('d1', 1, 1.0, 'new', '2026-11-01 02:00+00')"""
    )
    con.execute("INSERT INTO doc_term_lists VALUES ('d1', ?)", [stale])
    con.execute("INSERT INTO translation_term_lists VALUES ('d1', 1, ?)", [stale])
    con.close()
    with connect(db) as con:
        own = dict(con.execute("SELECT term, n FROM doc_terms").fetchall())
        translated = dict(con.execute("SELECT term, n FROM translation_terms").fetchall())
        [(original,)] = con.execute("SELECT keywords_original FROM v_narratives").fetchall()
    assert own == dict(terms(de, lang="de")) and not {"wegen", "mehr", "danach"} & set(own)
    assert translated == dict(terms(en)) and {"sanctions", "minister"} <= set(translated)
    assert "wegen" not in original and "sanktionen" in original


def test_serbian_terms_are_computed_again_without_the_words_spacys_list_lacks(tmp_path):
    """Schema 40: a Serbian narrative kept "које" and "бити" among its keywords, and a
    Serbian text in Latin script all its function words; the upgrade computes again the terms
    of Serbian documents, and leaves the others' (a German one with a stale term) alone."""
    from pipeline.labels import terms

    cyrillic = "Министар каже да ће санкције које је Запад увео бити укинуте."
    latin = "Ministar kaže da će sankcije koje je Zapad uveo biti ukinute posle izbora."
    texts = {"c": (cyrillic, "sr"), "l": (latin, "sr"), "g": ("Die Sanktionen bleiben.", "de")}
    db = tmp_path / "39.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 39])
    for i, (doc, (text, lang)) in enumerate(texts.items(), 1):
        con.execute(
            f"""INSERT INTO documents VALUES ('{doc}', 'https://x.example/{doc}', 's',
                    '2026-11-01', '2026-11-01', 1);
                INSERT INTO document_versions (doc_id, version, url, origin, fetched_at,
                    content_hash) VALUES ('{doc}', 1, 'https://x.example/{doc}', 'import',
                    '2026-11-01', 'h{doc}');
                INSERT INTO extractions (doc_id, version, stage_version, text)
                    VALUES ('{doc}', 1, '1', '{text}');
                INSERT INTO languages VALUES ('{doc}', 1, '1', '{lang}', 1.0, 'test');
                INSERT INTO stage_state (doc_id, version, stage, stage_version, status,
                    processed_at) VALUES ('{doc}', 1, 'cluster', '3', 'done', '2026-11-01');
                INSERT INTO narratives VALUES ({i}, '2026-11-01', '2026-11-01', 'm', 1, NULL,
                    [1.0]);
                INSERT INTO narrative_members VALUES ('{doc}', {i}, 1.0, 'new',
                    '2026-11-01 02:00+00')"""
        )
        kept = ("које", "бити", "koje", "biti") if lang == "sr" else ("sanktionen",)
        stale = [{"term": w, "n": 1} for w in (*kept, "stale")]
        con.execute("INSERT INTO doc_term_lists VALUES (?, ?)", [doc, stale])
    con.close()
    with connect(db) as con:
        own = {doc: dict(con.execute("SELECT term, n FROM doc_terms WHERE doc_id = ?",
                                     [doc]).fetchall()) for doc in texts}  # fmt: skip
        keywords = dict(con.execute("SELECT narrative_id, keywords FROM v_narratives").fetchall())
    assert own["c"] == dict(terms(cyrillic, lang="sr")) and "санкције" in own["c"]
    assert own["l"] == dict(terms(latin, lang="sr")) and "sankcije" in own["l"]
    assert not {"које", "бити", "koje", "biti", "posle"} & (set(own["c"]) | set(own["l"]))
    assert not {"које", "бити"} & set(keywords[1]), keywords[1]
    assert "stale" in own["g"]  # not Serbian, no Serbian word among its terms: not rewritten


def _older_store(db) -> None:
    con = duckdb.connect(str(db))
    migrate(con, MIGRATIONS[:-1])
    con.close()


def test_a_reader_upgrades_an_older_store_only_under_the_writer_lock(tmp_path):
    """A reading command upgrades a store an older narrascope wrote, as `init` would: not
    while another command holds the writer lock (before, `sql` upgraded it beside a running
    crawl, whose next batch then met another schema), and it says why it read nothing."""
    import fcntl
    import json
    import os

    from storage.lock import EX_TEMPFAIL, lock_path

    db = tmp_path / "older.duckdb"
    _older_store(db)
    query = ("sql", "SELECT max(version) AS v FROM schema_version", "--format", "csv")
    with open(lock_path(db), "a+") as held:  # a writer at work, as another process holds it
        held.write(json.dumps({"pid": os.getpid(), "command": "narrascope run"}))
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        proc = run_cli(*query, db=db, check=False)
        assert proc.returncode == EX_TEMPFAIL
        assert f"schema version {LATEST_VERSION - 1}, this narrascope reads" in proc.stderr
        assert "narrascope run" in proc.stderr
        with duckdb.connect(str(db), read_only=True) as con:
            assert schema_version(con) == LATEST_VERSION - 1  # left as it was
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    proc = run_cli(*query, db=db, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"v\n{LATEST_VERSION}")


def test_a_reader_that_cannot_upgrade_an_older_store_says_who_can(tmp_path):
    """Where the reader may not write beside the store (here its lock file cannot be made),
    it names `init` rather than a bare "Permission denied" from the file it tried."""
    db = tmp_path / "older.duckdb"
    _older_store(db)
    (tmp_path / "older.duckdb.lock").mkdir()  # no lock file can be opened there
    proc = run_cli("status", db=db, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "cannot be upgraded here" in proc.stderr
    assert f"narrascope init --db {db}" in proc.stderr


@pytest.mark.parametrize("command", [("init",), ("sql", "SELECT 1"), ("status",)])
def test_a_duckdb_file_that_narrascope_did_not_write_is_left_alone(tmp_path, command):
    """A DuckDB file of someone else's has no schema_version, which read as a new, empty store:
    `sql` and `export` (and `init`) added narrascope's tables and views to it."""
    db = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE measurements (a INTEGER)")
        con.execute("INSERT INTO measurements VALUES (1)")
    before = db.read_bytes()
    proc = run_cli(*command, db=db, check=False)
    assert proc.returncode == 1
    assert "narrascope did not write (it holds measurements" in proc.stderr
    assert db.read_bytes() == before


def test_an_empty_duckdb_file_is_a_new_store(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    assert run_cli("init", db=db).returncode == 0
    with connect(db, read_only=True) as con:
        assert schema_version(con) == LATEST_VERSION
