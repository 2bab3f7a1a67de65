"""What a stage reads of a batch: load_inputs reads every column by row id, the row ids found
with the pending keys (PendingKeys) or by matching the keys alone. These tests hold it to what a
plain join by key returns, on texts long enough for DuckDB to store them ZSTD-compressed, enough
of them that a batch is a small part."""

import dataclasses
import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import connect
from storage.db import transaction
from storage.documents import decompress_html, seen_at_sql, store_pages
from storage.longtext import by_row_id
from storage.records import DocInput, PageRecord
from storage.stage_inputs import PendingKeys, load_inputs

N = 3000  # a batch of 64 is a small part of the column
T0 = datetime(2026, 11, 1, tzinfo=UTC)


ARTICLES = Path(__file__).parents[2] / "crawlers" / "demo" / "articles.toml"
PARAGRAPHS = [p for a in tomllib.loads(ARTICLES.read_text())["article"]
              for p in a.get("body", "").split("\n\n") if len(p) > 80]  # fmt: skip


def long_text(i: int) -> str:
    """Sixty paragraphs of the demo's articles, about 13,000 characters: stored
    ZSTD-compressed, as real articles are (DuckDB chooses by length and content)."""
    return f"Document {i}.\n" + "\n".join(random.Random(i).choices(PARAGRAPHS, k=60))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("inputs") / "n.duckdb"
    pages = []
    for i in range(N):
        at = T0 + timedelta(minutes=i)
        if i % 3 == 0:  # imported text, no page
            pages.append(PageRecord(f"https://a.example/{i}", "a", "import", at, text=long_text(i),
                                    hint_title=f"T{i}", hint_published_at="2026-10-01"))  # fmt: skip
        else:
            html = f"<html><body><h1>{i}</h1><p>{long_text(i)}</p></body></html>"
            pages.append(PageRecord(f"https://b.example/{i}", "b", "crawl", at, html=html))
    with connect(db) as con:
        store_pages(con, pages)
        # a second version of one page: its first version is no longer current
        store_pages(con, [PageRecord("https://b.example/1", "b", "crawl", T0 + timedelta(days=9),
                                     html="<p>changed</p>")])  # fmt: skip
        with transaction(con):
            keys = con.execute(
                "SELECT doc_id, version FROM document_versions ORDER BY rowid"
            ).fetchall()
            # all but each seventh document extracted, each eleventh to nothing
            extracted = [(d, v, "" if i % 11 == 0 else long_text(N + i))
                         for i, (d, v) in enumerate(keys) if i % 7]  # fmt: skip
            con.execute(
                "INSERT INTO extractions SELECT doc_id, version, '2', 'title ' || doc_id, NULL, "
                "NULL, NULL, text FROM (SELECT unnest(?::VARCHAR[]) AS doc_id, "
                "unnest(?::INTEGER[]) AS version, unnest(?::VARCHAR[]) AS text)",
                [list(c) for c in zip(*extracted, strict=True)],
            )
            con.execute(
                "INSERT INTO languages SELECT doc_id, version, '2', 'ru', 0.9, 'ensemble' "
                "FROM extractions"
            )
            con.execute(
                "INSERT INTO translations SELECT doc_id, version, '1', 'ru', 'en', 'translated', "
                "'m', 'English ' || title, 'English ' || text, 1, 0, NULL, NULL, now() "
                "FROM extractions WHERE hash(doc_id) % 2 = 0 AND text <> ''"
            )
        con.execute("CHECKPOINT")
        compression = {
            r[0]
            for r in con.execute(
                "SELECT compression FROM pragma_storage_info('extractions') "
                "WHERE column_name = 'text' AND compression <> 'Constant'"
            ).fetchall()
        }
    assert compression == {"ZSTD"}, "the texts should be stored as real articles are"
    return db, keys


def by_key(con, keys, with_html):
    """The plain join by key that load_inputs must agree with."""
    rows = con.execute(
        f"""
        SELECT v.doc_id, v.version, v.url, v.source, v.html, v.text, e.text, e.title,
               v.hint_title, v.hint_published_at, v.hint_lang, l.lang, t.status, t.title, t.text,
               {seen_at_sql("e")}, v.html_zlib
        FROM document_versions v JOIN documents d ON d.doc_id = v.doc_id
        LEFT JOIN extractions e ON e.doc_id = v.doc_id AND e.version = v.version
        LEFT JOIN languages l ON l.doc_id = v.doc_id AND l.version = v.version
        LEFT JOIN translations t ON t.doc_id = v.doc_id AND t.version = v.version
        """
    ).fetchall()
    docs = {}
    for r in rows:
        doc = DocInput(*r[:4], r[4] or decompress_html(r[-1]), *r[5:-1])
        if not with_html:
            doc.html = None
        docs[r[:2]] = doc
    return [docs[k] for k in keys if k in docs]


def located(con) -> dict:
    """Where the current versions' rows are, as a stage run's page of pending keys says."""
    page = PendingKeys("no-such-stage", "1")
    assert len(page.take(con, 64)) == 64
    return page.located


@pytest.mark.parametrize("with_html", [True, False])
@pytest.mark.parametrize("from_page", [True, False], ids=["located-with-pending", "by-key"])
def test_a_batch_reads_what_a_join_by_key_reads(store, with_html, from_page):
    db, keys = store
    rng = random.Random(5)
    with connect(db, read_only=True) as con:
        where = located(con) if from_page else None
        for batch in (keys[:64], keys[1500:1564], rng.sample(keys, 64), keys):
            batch = [*batch, ("no-such-document", 1)]  # unknown; keys hold an old version too
            got = load_inputs(con, batch, with_html=with_html, located=where)
            want = by_key(con, batch, with_html)
            assert len(got) == len(batch) - 1  # in the order asked, the unknown key left out
            for g, w in zip(got, want, strict=True):
                if not with_html and g.text:
                    # the imported text is not read where extraction left one: no stage uses it
                    assert g.raw_text is None
                    w.raw_text = None
                assert g == w


def test_every_kind_of_document_is_in_the_comparison(store):
    """The cases above include each input a stage can meet."""
    db, keys = store
    with connect(db, read_only=True) as con:
        docs = load_inputs(con, keys)
    assert any(d.html is None and d.raw_text for d in docs)  # imported
    assert any(d.html and d.text for d in docs)  # crawled and extracted
    assert any(d.text is None for d in docs)  # not extracted
    assert any(d.text == "" for d in docs)  # extracted to nothing
    assert any(d.translated_text for d in docs) and any(d.text and not d.translated_text
                                                        for d in docs)  # fmt: skip
    assert {d.version for d in docs} == {1, 2}


class Counting:
    """A connection that counts the statements run through it, and changes nothing."""

    def __init__(self, con):
        self.con, self.statements = con, 0

    def execute(self, *args):
        self.statements += 1
        return self.con.execute(*args)


@pytest.mark.parametrize("with_html", [True, False])
def test_a_batch_is_read_by_row_id_without_falling_back_to_keys(store, with_html):
    """Located with the pending keys, a batch is read in four statements by row id: the
    versions (and pages), the extractions, the languages and the translations, and a fifth for
    the imported texts where a stage reads no pages. A row id taken from the wrong table
    would still read the right rows (by key, one statement more) but as slowly as before."""
    db, _ = store
    with connect(db, read_only=True) as con:
        where = located(con)
        batch = list(where)[:64]
        spy = Counting(con)
        docs = load_inputs(spy, batch, with_html=with_html, located=where)
        assert spy.statements == (4 if with_html else 5)
        # without the page, one statement more finds the row ids by the keys alone
        again = Counting(con)
        assert load_inputs(again, batch, with_html=with_html) == docs
        assert again.statements == spy.statements + 1
    assert any(d.translated_text for d in docs) and any(d.raw_text for d in docs)


def test_a_stage_that_reads_no_translation_does_not_read_the_translations(store):
    """Every stage but embed (with ``input = "translation"``) leaves the translation alone:
    its batch is read in one statement fewer, and the same but for the translation."""
    from pipeline.embed import EmbedStage
    from pipeline.narratives import ClusterStage

    db, _ = store
    with connect(db, read_only=True) as con:
        where = located(con)
        batch = list(where)[:64]
        spy = Counting(con)
        docs = load_inputs(spy, batch, with_html=False, located=where, with_translation=False)
        assert spy.statements == 4
        full = load_inputs(con, batch, with_html=False, located=where)
    assert any(d.translated_text for d in full)
    assert docs == [
        dataclasses.replace(d, translation_status=None, translated_title=None,
                            translated_text=None) for d in full
    ]  # fmt: skip
    assert not ClusterStage().needs_translation and not EmbedStage().needs_translation
    assert EmbedStage(input="translation").needs_translation


def test_rows_renumbered_between_the_two_reads_are_read_by_key(store):
    """Row ids are read first and the texts after; a checkpoint between the two may renumber
    rows, and then those are read by key rather than lost or mixed up."""
    db, keys = store
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT rowid, doc_id, version, text FROM extractions").fetchall()
        sample = rows[:5] + rows[-5:]
        # wrong row ids: each row's id is given to another key
        shifted = [(sample[(i + 1) % len(sample)][0], *r[1:3]) for i, r in enumerate(sample)]
        got = by_row_id(con, "extractions", ("x.text",), shifted)
    assert got == {(r[1], r[2]): (r[3],) for r in sample}


def test_a_version_gone_since_it_was_located_is_left_out(store, tmp_path):
    """A version row removed between the page of pending keys and the batch's read is left
    out of the batch, and the rest of the batch reads as before. narrascope itself deletes
    no versions; someone's own SQL on the file could."""
    db, _ = store
    copy = tmp_path / "n.duckdb"
    copy.write_bytes(db.read_bytes())
    with connect(copy) as con:
        where = located(con)
        batch = list(where)[:64]
        before = load_inputs(con, batch, located=where)
        gone = batch[10]
        con.execute("DELETE FROM document_versions WHERE doc_id = ? AND version = ?", list(gone))
        after = load_inputs(con, batch, located=where)
    assert gone not in {(d.doc_id, d.version) for d in after}
    assert after == [d for d in before if (d.doc_id, d.version) != gone]
