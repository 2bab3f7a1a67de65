"""The stage output modules (storage/outputs/) through ``write_results`` and ``answer``: the
rows each writer leaves, idempotent rewrites, whole-batch atomicity, copy groups, narrative
ids and merges, stage-error attempts, the typed lookup answers and reopening documents."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from storage import connect
from storage.db import StorageError
from storage.documents import store_pages
from storage.outputs import answer, output_for, reopen
from storage.outputs.dedup import (
    CopyCandidates,
    CopyCandidatesLookup,
    CopyResult,
    VectorWindow,
)
from storage.outputs.embed import Embedding, ReusableVector, VectorReuseLookup
from storage.outputs.extract import Extraction
from storage.outputs.langid import LanguageResult
from storage.outputs.narratives import (
    NarrativeAssignment,
    NarrativeContext,
    NarrativeLookup,
    NarrativeMerge,
    NarrativeState,
)
from storage.outputs.translate import (
    NoModelReopen,
    ReusableTranslation,
    SentenceCacheLookup,
    Translation,
    TranslationReuseLookup,
)
from storage.records import PageRecord, Rejection, StageError
from storage.stage_inputs import pending
from storage.stages import write_results
from storage.urls import doc_id_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "n.duckdb") as con:
        yield con


def store(con, *texts: str, dates: list[str | None] | None = None, fetched: datetime = T0
          ) -> list[str]:  # fmt: skip
    """Store text pages (one per text, first seen in this order, from ``fetched``); their doc
    ids, in order. A date more than two days after the fetch is no publication date."""
    dates = dates or [None] * len(texts)
    pages = [
        PageRecord(
            url=f"https://s.example/{i}",
            source="s",
            origin="import",
            fetched_at=fetched + timedelta(seconds=i),
            text=text,
            hint_published_at=date,
        )
        for i, (text, date) in enumerate(zip(texts, dates, strict=True))
    ]
    store_pages(con, pages)
    return [doc_id_for(p.url) for p in pages]


def rows(con, sql: str, params=()) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def count(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def states(con, stage: str) -> dict[str, str]:
    return dict(rows(con, "SELECT doc_id, status FROM stage_state WHERE stage = ?", [stage]))


def todo(con, stage: str, run_id: str | None = None) -> list[str]:
    """The documents ``stage`` (version "1") still has to process, in its order."""
    return [doc_id for doc_id, _ in pending(con, stage, "1", run_id=run_id)]


def tick() -> None:
    """Let the clock move on, so the next batch's timestamp is strictly later."""
    time.sleep(0.002)


def copied(doc: str, *others: str) -> CopyResult:
    """A dedup result: ``doc`` is a near copy of ``others`` (signature and buckets aside)."""
    return CopyResult(doc, 1, doc, 2, 1, b"\0" * 8, [1, 2], [(o, "near", 0.8) for o in others])


# -- per-output rows and idempotence ---------------------------------------------------------


def test_extract_and_langid_rows_and_stage_state(con):
    a, b = store(con, "alpha text", "beta text")
    published = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    items = [
        Extraction(a, 1, "Alpha text.", title="A", author="Ann", published_at=published),
        Rejection("extract", "no_main_text", "nothing", url="https://s.example/1", doc_id=b,
                  version=1),
    ]  # fmt: skip
    counts = write_results(con, "extract", "7", items, run_id="r1")
    assert counts == {"done": 1, "rejected": 1, "retrying": 0}
    assert rows(
        con, "SELECT doc_id, version, stage_version, title, author, published_at, text "
        "FROM extractions"
    ) == [(a, 1, "7", "A", "Ann", published, "Alpha text.")]  # fmt: skip
    assert rows(con, "SELECT doc_id, version, stage, stage_version, status, run_id "
                "FROM stage_state ORDER BY status") == [
        (a, 1, "extract", "7", "done", "r1"),
        (b, 1, "extract", "7", "rejected", "r1"),
    ]  # fmt: skip
    assert rows(con, "SELECT stage, reason, doc_id, version, run_id FROM rejections") == [
        ("extract", "no_main_text", b, 1, "r1")
    ]

    write_results(con, "langid", "2", [LanguageResult(a, 1, "en", 0.98, "py3langid")], run_id="r1")
    write_results(con, "langid", "2", [LanguageResult(a, 1, "fr", 0.5, "lingua")], run_id="r2")
    # a rewrite replaces the row of the document version, it does not add one
    assert rows(con, "SELECT doc_id, version, stage_version, lang, confidence, method "
                "FROM languages") == [(a, 1, "2", "fr", 0.5, "lingua")]  # fmt: skip
    assert rows(con, "SELECT run_id FROM stage_state WHERE stage = 'langid'") == [("r2",)]


def translated(doc: str, text: str, cache=(), **more) -> Translation:
    """A finished ru->en translation of ``doc`` by model m1, adding ``cache`` to the cache."""
    return Translation(doc, 1, "ru", "en", "translated", "m1", "T", text, sentences=1,
                       text_hash=f"h{text}", new_cache=list(cache), **more)  # fmt: skip


def test_every_keyed_table_keeps_one_row_per_document_version_when_a_batch_is_written_twice(con):
    a, b, c = store(con, "one", "two", "three")
    sig = np.arange(128, dtype="<u4").tobytes()
    batches = {
        "extract": [Extraction(a, 1, "one"), Extraction(b, 1, "two")],
        "langid": [LanguageResult(a, 1, "ru", 0.9, "x"), LanguageResult(b, 1, "ru", 0.9, "x")],
        "translate": [
            translated(a, "one", cache=[("s1", "one"), ("s2", "two")]),
            translated(b, "two", cache=[("s2", "two")], cache_hits=1),
        ],
        "embed": [
            Embedding(
                a, 1, "m", "cpu", "original", 1, False, "ha", [1.0, 0.0], lead_vector=[0.0, 1.0]
            ),
            Embedding(b, 1, "m", "cpu", "original", 1, False, "hb", [0.0, 1.0]),
        ],
        "dedup": [
            CopyResult(a, 1, "ha", 128, 1, sig, [11, 12, 13]),
            CopyResult(b, 1, "hb", 128, 1, sig, [11, 12, 13], [(a, "near", 0.75)]),
            CopyResult(
                c, 1, "hc", 128, 1, sig, [21, 22, 23], [(a, "near", 0.6), (b, "exact", 1.0)]
            ),
        ],
    }
    for _ in range(2):
        for stage, items in batches.items():
            write_results(con, stage, "1", items, run_id="r")
    cluster = [NarrativeAssignment(d, 1, "new:" + a, 0.9, "new", "m", [("t", 1), ("u", 2)])
               for d in (a, b)]  # fmt: skip
    cluster_state = [NarrativeState("new:" + a, "m", 2, [1.0, 1.0], T0, [("ru", 2, [1.0, 1.0])])]
    write_results(con, "cluster", "1", cluster, cluster_state, run_id="r")
    [(nid,)] = rows(con, "SELECT narrative_id FROM narratives")
    # the same assignments again, to the narrative now stored
    again = [NarrativeAssignment(d, 1, nid, 0.9, "nearest", "m", [("t", 1), ("u", 2)])
             for d in (a, b)]  # fmt: skip
    again_state = [NarrativeState(nid, "m", 2, [1.0, 1.0], T0, [("ru", 2, [1.0, 1.0])])]
    for _ in range(2):
        write_results(con, "cluster", "1", again, again_state, run_id="r")

    expected = {
        "extractions": 2, "languages": 2, "translations": 2, "translation_cache": 2,
        "embeddings": 2, "minhash": 3, "lsh_bands": 9, "copy_links": 3, "copy_members": 3,
        "narratives": 1, "narrative_parts": 1, "narrative_members": 2, "doc_terms": 4,
        "narrative_aliases": 0, "stage_errors": 0, "rejections": 0,
        "stage_state": 2 + 2 + 2 + 2 + 3 + 2,
    }  # fmt: skip
    assert {t: count(con, t) for t in expected} == expected
    assert rows(
        con, "SELECT doc_id, narrative_id, via FROM narrative_members ORDER BY 1"
    ) == sorted([(a, nid, "nearest"), (b, nid, "nearest")])
    assert rows(con, "SELECT doc_id, version, model_id, dim, vector, lead_vector "
                "FROM embeddings ORDER BY doc_id") == sorted([
        (a, 1, "m", 2, [1.0, 0.0], [0.0, 1.0]), (b, 1, "m", 2, [0.0, 1.0], None)
    ])  # fmt: skip
    assert rows(con, "SELECT source_lang, target_lang, model_id, sentence_hash, translation "
                "FROM translation_cache ORDER BY sentence_hash") == [
        ("ru", "en", "m1", "s1", "one"), ("ru", "en", "m1", "s2", "two")
    ]  # fmt: skip


def test_dedup_rows_signature_buckets_links_and_a_new_copy_group(con):
    a, b, c = store(con, "one", "two", "three")
    sig = np.arange(1, 129, dtype="<u4")
    big = 2**64 - 3  # buckets are unsigned 64-bit: the top bit must survive
    write_results(con, "dedup", "1", [CopyResult(a, 1, "ha", 128, 7, sig.tobytes(), [big, 5])])
    write_results(
        con, "dedup", "1",
        [CopyResult(c, 1, "hc", 128, 7, sig.tobytes(), [big, 6], [(b, "near", 0.5),
                                                                    (a, "exact", 1.0)])],
    )  # fmt: skip
    [(stored_sig, num_perm, seed, stage_version)] = rows(
        con, "SELECT signature, num_perm, seed, stage_version FROM minhash WHERE doc_id = ?", [a]
    )
    assert np.array_equal(np.frombuffer(stored_sig, dtype="<u4"), sig)
    assert (num_perm, seed, stage_version) == (128, 7, "1")
    assert rows(con, "SELECT band, bucket FROM lsh_bands WHERE doc_id = ? ORDER BY band", [c]) == [
        (0, big),
        (1, 6),
    ]
    assert rows(con, "SELECT doc_id, other_doc_id, kind, similarity FROM copy_links "
                "ORDER BY other_doc_id") == sorted(
        [(c, a, "exact", 1.0), (c, b, "near", 0.5)], key=lambda r: r[1]
    )  # fmt: skip
    # a new group is named after the first document linked (matches come sorted by doc id)
    first = min(a, b)
    assert rows(con, "SELECT doc_id, group_id FROM copy_members ORDER BY doc_id") == sorted(
        (d, f"cg-{first}") for d in (a, b, c)
    )
    # reprocessing a document replaces its buckets instead of adding to them
    write_results(con, "dedup", "2", [CopyResult(a, 1, "ha", 128, 7, sig.tobytes(), [1, 2])])
    assert rows(con, "SELECT band, bucket FROM lsh_bands WHERE doc_id = ? ORDER BY band", [a]) == [
        (0, 1),
        (1, 2),
    ]


def test_translate_rows_and_sentence_cache(con):
    a, b = store(con, "один", "hello")
    write_results(
        con, "translate", "3",
        [Translation(a, 1, "ru", "en", "translated", "argos-ru-en", "One", "one", 2, 1, "ha",
                     new_cache=[("h1", "one"), ("h2", "two")], terms=[("one", 1)]),
         Translation(b, 1, "en", "en", "not_needed", text_hash="hb")],
        run_id="r",
    )  # fmt: skip
    # a translation's words, for narrative keywords (schema 20)
    assert rows(con, "SELECT doc_id, term, n FROM translation_terms") == [(a, "one", 1)]
    assert rows(con, "SELECT doc_id, stage_version, source_lang, status, model_id, title, text, "
                "sentences, cache_hits FROM translations ORDER BY status") == [
        (b, "3", "en", "not_needed", None, None, None, 0, 0),
        (a, "3", "ru", "translated", "argos-ru-en", "One", "one", 2, 1),
    ]  # fmt: skip
    assert count(con, "translation_cache") == 2
    assert states(con, "translate") == {a: "done", b: "done"}
    # translated again with no model (the stage rerun after a model was removed): no words
    write_results(con, "translate", "4", [Translation(a, 1, "ru", "en", "no_model")], run_id="r")
    assert count(con, "translation_term_lists") == 0


# -- atomicity and unknown records ------------------------------------------------------------


def test_a_batch_whose_writer_fails_leaves_nothing_behind(con):
    a, b, c = store(con, "one", "two", "three")
    write_results(con, "dedup", "1", [CopyResult(a, 1, "ha", 2, 1, b"\0" * 8, [1, 2])])
    write_results(con, "dedup", "1", [StageError(b, 1, "u", "s", "boom")])
    before = {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in
              ("minhash", "lsh_bands", "copy_links", "copy_members", "stage_state",
               "stage_errors", "rejections")}  # fmt: skip
    bad = [
        # a's row is rewritten first (its old buckets deleted), b's stage error would be
        # cleared: all of it must be undone when c's link fails to convert
        CopyResult(a, 1, "ha2", 2, 1, b"\1" * 8, [3, 4], [(c, "near", 0.9)]),
        CopyResult(b, 1, "hb", 2, 1, b"\2" * 8, [5, 6]),
        CopyResult(c, 1, "hc", 2, 1, b"\3" * 8, [7, 8], [(a, "near", "very")]),
        Rejection("dedup", "whatever", doc_id=c, version=1),
        StageError(c, 1, "u", "s", "boom"),
    ]
    with pytest.raises(StorageError, match="rolled back"):
        write_results(con, "dedup", "1", bad, run_id="bad")
    after = {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in before}
    assert after == before
    assert count(con, "stage_state WHERE run_id = 'bad'") == 0
    # the connection is usable afterwards, outside any transaction
    write_results(con, "dedup", "1", [CopyResult(c, 1, "hc", 2, 1, b"\3" * 8, [7, 8])])
    assert states(con, "dedup") == {a: "done", c: "done"}


def test_a_failing_output_undoes_the_outputs_written_before_it(con):
    (a,) = store(con, "one")
    items = [Extraction(a, 1, "one"), LanguageResult(a, 1, "en", "sure", "x")]
    with pytest.raises(StorageError):
        write_results(con, "extract", "1", items)
    assert count(con, "extractions") == 0
    assert count(con, "languages") == 0
    assert count(con, "stage_state") == 0


@dataclass
class Unregistered:
    doc_id: str
    version: int


def test_a_record_no_output_registers_raises_type_error_and_writes_nothing(con):
    (a,) = store(con, "one")
    with pytest.raises(TypeError, match="Unregistered"):
        write_results(con, "extract", "1", [Extraction(a, 1, "one"), Unregistered(a, 1)])
    with pytest.raises(TypeError):
        write_results(con, "extract", "1", [Extraction(a, 1, "one")], [Unregistered(a, 1)])
    with pytest.raises(TypeError):
        output_for(Unregistered)
    with pytest.raises(TypeError):
        answer(con, [Unregistered(a, 1)])
    with pytest.raises(TypeError):
        reopen(con, Unregistered(a, 1), "translate", [])
    assert count(con, "extractions") == 0
    assert count(con, "stage_state") == 0
    # and the connection is not left inside a transaction
    write_results(con, "extract", "1", [Extraction(a, 1, "one")])
    assert count(con, "extractions") == 1


# -- copy groups --------------------------------------------------------------------------------


def test_a_document_linking_two_groups_merges_them_into_the_oldest(con):
    ids = sorted(store(con, *[f"doc {i}" for i in range(5)]))
    sig = b"\0" * 8

    def link(doc: str, *others: str) -> None:
        tick()
        matches = [(o, "near", 0.8) for o in sorted(others)]
        write_results(con, "dedup", "1", [CopyResult(doc, 1, doc, 2, 1, sig, [1, 2], matches)])

    link(ids[4], ids[3])  # the older group: named after ids[3]
    link(ids[1], ids[0])  # the newer group, with an id that sorts first
    old, new = f"cg-{ids[3]}", f"cg-{ids[0]}"
    assert dict(rows(con, "SELECT doc_id, group_id FROM copy_members")) == {
        ids[4]: old,
        ids[3]: old,
        ids[1]: new,
        ids[0]: new,
    }
    link(ids[2], ids[1], ids[4])
    groups = dict(rows(con, "SELECT doc_id, group_id FROM copy_members"))
    assert groups == {d: old for d in ids}
    # joining later does not make a member newer than it was
    joined = dict(rows(con, "SELECT doc_id, joined_at FROM copy_members"))
    assert joined[ids[3]] < joined[ids[0]] < joined[ids[2]]


def test_a_document_linking_a_member_joins_its_group(con):
    a, b, c = sorted(store(con, "a", "b", "c"))
    sig = b"\0" * 8
    write_results(
        con, "dedup", "1", [CopyResult(b, 1, "h", 2, 1, sig, [1, 2], [(a, "exact", 1.0)])]
    )
    tick()
    write_results(
        con, "dedup", "1", [CopyResult(c, 1, "h", 2, 1, sig, [1, 2], [(b, "exact", 1.0)])]
    )
    assert dict(rows(con, "SELECT doc_id, group_id FROM copy_members")) == {
        a: f"cg-{a}",
        b: f"cg-{a}",
        c: f"cg-{a}",
    }


def test_one_batch_of_copies_merges_and_names_groups_as_its_documents_one_by_one(con):
    """A batch's copies join their groups in one read and one write, in the batch's order: a
    later copy in it finds the groups the earlier ones made or merged."""
    ids = sorted(store(con, *[f"doc {i}" for i in range(9)]))
    write_results(con, "dedup", "1", [copied(ids[8], ids[7])])  # the oldest group
    tick()
    write_results(con, "dedup", "1", [copied(ids[1], ids[0])])  # newer, its id sorts first
    tick()
    old, new = f"cg-{ids[7]}", f"cg-{ids[0]}"
    write_results(
        con, "dedup", "1",
        [copied(ids[2], ids[1]),  # joins the newer group
         copied(ids[5], ids[4]),  # a group of its own, named after its first match
         copied(ids[6], ids[5]),  # joins the group made just before it in this batch
         copied(ids[3], ids[2], ids[8])],  # merges the newer group into the oldest
    )  # fmt: skip
    groups = dict(rows(con, "SELECT doc_id, group_id FROM copy_members"))
    fresh = f"cg-{ids[4]}"
    assert groups == {
        **{d: old for d in (ids[0], ids[1], ids[2], ids[3], ids[7], ids[8])},
        **{d: fresh for d in (ids[4], ids[5], ids[6])},
    }
    assert new not in groups.values()
    joined = dict(rows(con, "SELECT doc_id, joined_at FROM copy_members"))
    assert joined[ids[7]] < joined[ids[0]] < joined[ids[2]] == joined[ids[6]]


def test_a_changed_page_that_copies_another_group_now_joins_it(con):
    """D copied X; its page changes and copies Y now: D leaves X's group and joins Y's as of
    now, and neither group is renamed."""
    x, d, y, y2 = store(con, "x", "d", "y", "y2")
    write_results(con, "dedup", "1", [copied(d, x)])
    tick()
    write_results(con, "dedup", "1", [copied(y2, y)])
    tick()
    write_results(con, "dedup", "1", [copied(d, y)])
    assert dict(rows(con, "SELECT doc_id, group_id FROM copy_members")) == {
        y: f"cg-{y}",
        y2: f"cg-{y}",
        d: f"cg-{y}",
    }
    joined = dict(rows(con, "SELECT doc_id, joined_at FROM copy_members"))
    assert joined[y] < joined[d]


def test_copy_groups_are_the_documents_their_links_join_over_many_batches(con):
    """Random links written in batches of several copies: each group holds exactly the
    documents that links join, however the batches fold groups into each other."""
    rng = np.random.default_rng(3)
    ids = sorted(store(con, *[f"doc {i}" for i in range(60)]))
    parent = {d: d for d in ids}

    def root(d: str) -> str:
        while parent[d] != d:
            d = parent[d]
        return d

    order = list(rng.permutation(len(ids)))
    for start in range(10, 60, 10):  # each document links to some handled before it
        batch = []
        for i in order[start : start + 10]:
            earlier = [ids[j] for j in order[: order.index(i)]]
            picks = rng.choice(
                len(earlier), size=int(rng.choice([0, 0, 0, 1, 1, 2])), replace=False
            )
            others = sorted(earlier[k] for k in picks)
            for o in others:
                parent[root(ids[i])] = root(o)
            batch.append(copied(ids[i], *others))
        write_results(con, "dedup", "1", batch)
        tick()
    groups: dict[str, set[str]] = {}
    for doc, group in rows(con, "SELECT doc_id, group_id FROM copy_members"):
        groups.setdefault(group, set()).add(doc)
    linked: dict[str, set[str]] = {}
    for d in ids:
        linked.setdefault(root(d), set()).add(d)
    expected = sorted(sorted(c) for c in linked.values() if len(c) > 1)
    assert sorted(sorted(c) for c in groups.values()) == expected
    assert len(expected) >= 3 and max(len(c) for c in expected) >= 5  # the test means something
    # each group is named after one of its documents
    assert all(g.removeprefix("cg-") in members for g, members in groups.items())


# -- narratives -------------------------------------------------------------------------------


def assign(doc: str, narrative, via: str = "new", terms=()) -> NarrativeAssignment:
    return NarrativeAssignment(doc, 1, narrative, None, via, "m", list(terms))


def state(narrative, size: int, parts=(("en", None),), last_seen=T0) -> NarrativeState:
    vec = [float(size), 0.0]
    return NarrativeState(
        narrative, "m", size, vec, last_seen,
        [(lang, n if n is not None else size, vec) for lang, n in parts],
    )  # fmt: skip


def test_new_narratives_get_the_next_sequence_ids(con):
    a, b, c, d = store(con, "a", "b", "c", "d")
    write_results(con, "cluster", "1", [assign(a, "new:" + a)], [state("new:" + a, 1)])
    [(first,)] = rows(con, "SELECT narrative_id FROM narratives")
    items = [assign(b, "new:" + b), assign(c, "new:" + c), assign(d, "new:" + b, "nearest")]
    extras = [state("new:" + b, 2), state("new:" + c, 1)]
    write_results(con, "cluster", "1", items, extras, run_id="r")
    members = dict(rows(con, "SELECT doc_id, narrative_id FROM narrative_members"))
    sizes = dict(rows(con, "SELECT narrative_id, size FROM narratives"))
    assert members[b] == members[d] != members[c]
    assert {members[b], members[c]} == {first + 1, first + 2}
    # the ids go to the narratives they were made for: b's has b and d, c's has c
    assert sizes == {first: 1, members[b]: 2, members[c]: 1}
    assert rows(con, "SELECT narrative_id, lang, size FROM narrative_parts ORDER BY 1") == [
        (first, "en", 1), *sorted([(members[b], "en", 2), (members[c], "en", 1)])
    ]  # fmt: skip
    assert states(con, "cluster") == {a: "done", b: "done", c: "done", d: "done"}


def test_a_narrative_growing_keeps_its_creation_time_and_takes_the_new_state(con):
    a, b = store(con, "a", "b")
    write_results(con, "cluster", "1", [assign(a, "new:" + a)], [state("new:" + a, 1)])
    [(nid, created, updated)] = rows(
        con, "SELECT narrative_id, created_at, updated_at FROM narratives"
    )
    assert created == updated
    tick()
    later = datetime(2026, 2, 1, tzinfo=UTC)
    write_results(
        con, "cluster", "1", [assign(b, nid, "nearest")], [state(nid, 2, last_seen=later)]
    )
    [(nid2, created2, updated2, size, last_seen, vec)] = rows(
        con,
        "SELECT narrative_id, created_at, updated_at, size, last_seen, vector_sum FROM narratives",
    )
    assert (nid2, created2) == (nid, created)  # an upsert, not a replace: born once
    assert updated2 > updated
    assert (size, last_seen, list(vec)) == (2, later, [2.0, 0.0])


def test_a_narrative_merge_moves_members_and_leaves_an_alias(con):
    a, b, c, d, e = store(con, "a", "b", "c", "d", "e")
    write_results(
        con, "cluster", "1",
        [assign(a, "new:" + a, terms=[("x", 1)]), assign(b, "new:" + b), assign(c, "new:" + c)],
        [state("new:" + a, 1), state("new:" + b, 1, [("en", 1), ("ru", 1)]), state("new:" + c, 1)],
    )  # fmt: skip
    n = dict(rows(con, "SELECT doc_id, narrative_id FROM narrative_members"))
    na, nb, nc = n[a], n[b], n[c]
    tick()
    # c's narrative folded into b's, then b's (with c's old alias) into a's
    write_results(
        con, "cluster", "1", [assign(d, nb, "nearest")],
        [state(nb, 3), NarrativeMerge(nc, nb, "converged")],
    )  # fmt: skip
    tick()
    write_results(
        con, "cluster", "1", [assign(e, na, "nearest")],
        [state(na, 5, [("en", 4), ("ru", 1)]), NarrativeMerge(nb, na, "bridged")],
    )  # fmt: skip
    assert set(rows(con, "SELECT narrative_id FROM narrative_members")) == {(na,)}
    assert count(con, "narrative_members") == 5
    assert rows(con, "SELECT narrative_id, size FROM narratives") == [(na, 5)]
    assert rows(con, "SELECT narrative_id, lang, size FROM narrative_parts ORDER BY lang") == [
        (na, "en", 4),
        (na, "ru", 1),
    ]
    assert rows(con, "SELECT alias_id, narrative_id, reason FROM narrative_aliases ORDER BY 1") == (
        sorted([(nb, na, "bridged"), (nc, na, "converged")])
    )
    assert rows(con, "SELECT doc_id, term FROM doc_terms") == [(a, "x")]


def test_a_narrative_merged_into_a_new_one_points_at_its_new_id(con):
    a, b = store(con, "a", "b")
    write_results(con, "cluster", "1", [assign(a, "new:" + a)], [state("new:" + a, 1)])
    [(old,)] = rows(con, "SELECT narrative_id FROM narratives")
    write_results(
        con, "cluster", "1", [assign(b, "new:" + b)],
        [state("new:" + b, 2), NarrativeMerge(old, "new:" + b, "split")],
    )  # fmt: skip
    new = rows(con, "SELECT narrative_id FROM narrative_members WHERE doc_id = ?", [b])[0][0]
    assert new == old + 1
    assert dict(rows(con, "SELECT doc_id, narrative_id FROM narrative_members")) == {a: new, b: new}
    assert rows(con, "SELECT alias_id, narrative_id FROM narrative_aliases") == [(old, new)]
    assert rows(con, "SELECT narrative_id, size FROM narratives") == [(new, 2)]


# -- stage errors -----------------------------------------------------------------------------


def test_stage_errors_count_attempts_then_reject(con):
    a, b = store(con, "a", "b")
    err = StageError(a, 1, "https://s.example/0", "s", "RuntimeError: parser crashed")
    seen = []
    for run in ("r1", "r2", "r3"):
        counts = write_results(con, "extract", "1", [err], run_id=run, max_attempts=3)
        seen.append((counts, rows(con, "SELECT attempts, last_run_id FROM stage_errors")))
        # a document that raised in this run waits for the next run
        assert todo(con, "extract", run) == [b]
    assert seen == [
        ({"done": 0, "rejected": 0, "retrying": 1}, [(1, "r1")]),
        ({"done": 0, "rejected": 0, "retrying": 1}, [(2, "r2")]),
        ({"done": 0, "rejected": 1, "retrying": 0}, [(3, "r3")]),
    ]
    assert states(con, "extract") == {a: "rejected"}
    assert rows(con, "SELECT stage, reason, detail, url, source, doc_id, version FROM rejections") == [
        ("extract", "stage_error", "gave up after 3 attempts: RuntimeError: parser crashed",
         "https://s.example/0", "s", a, 1)
    ]  # fmt: skip
    assert todo(con, "extract", "r4") == [b]


def test_a_document_done_after_failing_loses_its_stage_error(con):
    a, b = store(con, "a", "b")
    write_results(con, "extract", "1", [StageError(a, 1, None, None, "E: x"),
                                        StageError(b, 1, None, None, "E: y")], run_id="r1")  # fmt: skip
    assert todo(con, "extract", "r2") == [a, b]
    counts = write_results(con, "extract", "1", [Extraction(a, 1, "a"), StageError(b, 1, None,
                                                 None, "E: y")], run_id="r2")  # fmt: skip
    assert counts == {"done": 1, "rejected": 0, "retrying": 1}
    assert rows(con, "SELECT doc_id, attempts FROM stage_errors") == [(b, 2)]
    assert count(con, "rejections") == 0


# -- lookups ----------------------------------------------------------------------------------


def test_sentence_cache_answers_only_its_languages_and_model(con):
    a, b = store(con, "a", "b")
    write_results(con, "translate", "1", [
        Translation(a, 1, "ru", "en", "translated", "m1", text="x", new_cache=[("h1", "one"),
                                                                             ("h2", "two")]),
        Translation(b, 1, "uk", "en", "translated", "m2", text="y", new_cache=[("h3", "three")]),
    ])  # fmt: skip
    q = SentenceCacheLookup("ru", "en", "m1", ("h1", "h3", "missing"))
    other_model = SentenceCacheLookup("ru", "en", "m2", ("h1",))
    empty = SentenceCacheLookup("ru", "en", "m1", ())
    found = answer(con, [q, other_model, empty])
    assert found == {q: {"h1": "one"}, other_model: {}, empty: {}}


def test_translation_reuse_returns_the_earliest_finished_translation(con):
    docs = store(con, *"abcde")
    early, late = sorted(docs[:2], reverse=True)  # the earlier one sorts last by id
    write_results(con, "translate", "1",
                  [Translation(early, 1, "ru", "en", "translated", "m-old", "Early", "early text",
                               3, text_hash="H")])  # fmt: skip
    tick()
    write_results(con, "translate", "1", [
        Translation(late, 1, "ru", "en", "translated", "m-new", "Late", "late text", 4,
                    text_hash="H"),
        Translation(docs[2], 1, "ru", "en", "no_model", text_hash="K"),
        Translation(docs[3], 1, "ru", "de", "translated", "m-de", "De", "de text", 1,
                    text_hash="K"),
        Translation(docs[4], 1, "uk", "en", "translated", "m-uk", "Uk", "uk text", 1,
                    text_hash="H"),
    ])  # fmt: skip
    q = TranslationReuseLookup("en", (("H", "ru"), ("K", "ru"), ("H", "uk"), ("Z", "ru")))
    found = answer(con, [q])[q]
    assert found == {
        ("H", "ru"): ReusableTranslation(early, "m-old", "Early", "early text", 3),
        ("H", "uk"): ReusableTranslation(docs[4], "m-uk", "Uk", "uk text", 1),
    }
    assert answer(con, [TranslationReuseLookup("en", ())]) == {TranslationReuseLookup("en", ()): {}}


def test_vector_reuse_returns_the_earliest_vector_of_the_same_model_and_input(con):
    docs = store(con, *"abcd")
    early, late = sorted(docs[:2], reverse=True)
    write_results(con, "embed", "1", [
        Embedding(early, 1, "m", "onnx", "original", 2, True, "H", [0.5, 0.25], lead_vector=[1.0, 0.0]),
    ])  # fmt: skip
    tick()
    write_results(con, "embed", "1", [
        Embedding(late, 1, "m", "torch", "original", 1, False, "H", [0.25, 0.5]),
        Embedding(docs[2], 1, "m", "onnx", "translation", 1, False, "K", [1.0, 0.0]),
        Embedding(docs[3], 1, "other", "onnx", "original", 1, False, "K", [0.0, 1.0]),
    ])  # fmt: skip
    q = VectorReuseLookup("m", "original", ("H", "K", "Z"))
    assert answer(con, [q])[q] == {
        "H": ReusableVector(early, 2, True, "onnx", [0.5, 0.25], [1.0, 0.0])
    }
    q2 = VectorReuseLookup("m", "translation", ("K",))
    assert answer(con, [q2])[q2] == {
        "K": ReusableVector(docs[2], 1, False, "onnx", [1.0, 0.0], None)
    }


def stage_docs(con, texts, dates, langs, vectors, model="m", fetched=T0) -> list[str]:
    """Documents through extract, langid and embed (``None`` vector: not embedded)."""
    ids = store(con, *texts, dates=dates, fetched=fetched)
    write_results(
        con, "extract", "1", [Extraction(d, 1, t) for d, t in zip(ids, texts, strict=True)]
    )
    write_results(con, "langid", "1", [LanguageResult(d, 1, lang, 1.0, "x")
                                       for d, lang in zip(ids, langs, strict=True)])  # fmt: skip
    write_results(con, "embed", "1", [
        Embedding(d, 1, model, "cpu", "original", 1, False, f"h{d}", v)
        for d, v in zip(ids, vectors, strict=True) if v is not None
    ])  # fmt: skip
    return ids


def test_copy_candidates_exact_near_and_the_vector_window(con):
    texts = ["x" * 10, "y" * 20, "z" * 30, "w" * 40]
    dates = ["2026-01-10T00:00:00Z", "2026-01-20T00:00:00Z", "2026-03-01T00:00:00Z",
             "2026-01-15T00:00:00Z"]  # fmt: skip
    vectors = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], None]
    a, b, c, d = stage_docs(con, texts, dates, ["en", "ru", "en", "de"], vectors,
                            fetched=datetime(2026, 3, 2, tzinfo=UTC))  # fmt: skip
    # d's vector is another model's: outside the window of model m
    write_results(con, "embed", "1", [Embedding(d, 1, "other", "cpu", "original", 1, False, "h",
                                                [0.25, 0.25])])  # fmt: skip
    sig_a = np.full(4, 1, dtype="<u4").tobytes()
    sig_b = np.full(4, 2, dtype="<u4").tobytes()
    write_results(con, "dedup", "1", [
        CopyResult(a, 1, "HA", 4, 1, sig_a, [100, 200]),
        CopyResult(b, 1, "HB", 4, 1, sig_b, [100, 300]),
        CopyResult(c, 1, "HA", 4, 1, sig_b, [400, 500]),
    ])  # fmt: skip
    q = CopyCandidatesLookup(
        text_hashes=("HA", "HX"),
        buckets=((0, 100), (1, 300), (1, 100)),  # (1, 100): bucket 100 of another band
        doc_ids=(a, d),
        model_id="m",
        input="original",
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 31, tzinfo=UTC),
    )
    found = answer(con, [q])[q]
    assert isinstance(found, CopyCandidates) and isinstance(found.window, VectorWindow)
    assert {h: sorted(ids) for h, ids in found.exact.items()} == {"HA": sorted([a, c])}
    assert {k: sorted(v) for k, v in found.buckets.items()} == {(0, 100): sorted([a, b]),
                                                                 (1, 300): [b]}  # fmt: skip
    assert found.near == {a: sig_a, b: sig_b}
    assert found.vectors == {a: [1.0, 0.0]}  # the batch's own vectors, of model m only
    window = sorted(zip(found.window.ids, found.window.langs, found.window.lengths,
                        found.window.matrix.tolist(), strict=True))  # fmt: skip
    assert window == sorted([(a, "en", 10, [1.0, 0.0]), (b, "ru", 20, [0.0, 1.0])])
    assert found.window.matrix.dtype == np.float32

    # without a model: no vectors and no window
    q2 = CopyCandidatesLookup(("HB",), (), (a,))
    found2 = answer(con, [q2])[q2]
    assert found2.exact == {"HB": [b]} and found2.near == {} and found2.buckets == {}
    assert found2.vectors == {} and found2.window.ids == [] and found2.window.matrix is None


def test_copy_candidates_window_dates_a_document_by_its_extracted_date_then_first_seen(con):
    ids = store(con, "p", "q")  # no listing dates: first seen 2026-01-01
    published = datetime(2026, 6, 1, tzinfo=UTC)
    write_results(con, "extract", "1", [Extraction(ids[0], 1, "p", published_at=published),
                                        Extraction(ids[1], 1, "q")])  # fmt: skip
    write_results(con, "langid", "1", [LanguageResult(d, 1, "en", 1.0, "x") for d in ids])
    write_results(con, "embed", "1", [Embedding(d, 1, "m", "cpu", "original", 1, False, "h",
                                                [1.0, 0.0]) for d in ids])  # fmt: skip

    def window(since, until):
        q = CopyCandidatesLookup((), (), (), "m", "original", since, until)
        return answer(con, [q])[q].window.ids

    assert window(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)) == [ids[0]]
    assert window(datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)) == [ids[1]]


def test_copy_candidates_vectors_are_of_the_current_version_only(con):
    (a,) = stage_docs(con, ["first body"], [None], ["en"], [[1.0, 0.0]])
    store_pages(con, [PageRecord(url="https://s.example/0", source="s", origin="import",
                                 fetched_at=datetime(2026, 1, 2, tzinfo=UTC),
                                 text="second body")])  # fmt: skip
    q = CopyCandidatesLookup((), (), (a,), "m", "original", T0, datetime(2027, 1, 1, tzinfo=UTC))
    found = answer(con, [q])[q]
    assert found.vectors == {} and found.window.ids == []


def test_narrative_lookup_vectors_groups_and_active_narratives(con):
    a, b, c, d = store(con, *"abcd")
    write_results(con, "embed", "1", [
        Embedding(a, 1, "m", "cpu", "original", 1, False, "h", [1.0, 0.0], lead_vector=[0.0, 1.0]),
        Embedding(b, 1, "m", "cpu", "original", 1, False, "h", [0.5, 0.5]),
        Embedding(c, 1, "m", "cpu", "translation", 1, False, "h", [0.25, 0.25]),
    ])  # fmt: skip
    write_results(con, "dedup", "1",
                  [CopyResult(b, 1, "h", 2, 1, b"\0" * 8, [1, 2], [(c, "exact", 1.0)])])  # fmt: skip
    old, recent = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    write_results(con, "cluster", "1", [assign(c, "new:c"), assign(d, "new:d")], [
        state("new:c", 1, [("en", 1), ("ru", 1)], last_seen=old),   # old, but c's group's
        state("new:d", 1, last_seen=recent),
        state("new:z", 2, last_seen=old),                         # old and of no group
        NarrativeState("new:y", "other-model", 1, [1.0, 1.0], recent, []),
    ])  # fmt: skip
    n = dict(rows(con, "SELECT doc_id, narrative_id FROM narrative_members"))
    [(nz,)] = rows(con, "SELECT narrative_id FROM narratives WHERE size = 2")
    q = NarrativeLookup("m", "original", (a, b, d), datetime(2026, 1, 1, tzinfo=UTC))
    ctx = answer(con, [q])[q]
    assert isinstance(ctx, NarrativeContext)
    assert ctx.vectors == {a: [0.0, 1.0], b: [0.5, 0.5]}  # the lead vector where there is one
    group = f"cg-{c}"
    assert ctx.groups == {b: group}
    assert ctx.group_narratives == {group: n[c]}
    # vectors arrive as float32 arrays (storage/vectors.py)
    assert [
        (s.narrative_id, s.size, s.vector_sum.tolist(), s.last_seen,
         [(lang, size, part.tolist()) for lang, size, part in s.parts])
        for s in ctx.active
    ] == sorted(
        [
            (n[c], 1, [1.0, 0.0], old, [("en", 1, [1.0, 0.0]), ("ru", 1, [1.0, 0.0])]),
            (n[d], 1, [1.0, 0.0], recent, [("en", 1, [1.0, 0.0])]),
        ],
    )  # fmt: skip
    assert all(s.vector_sum.dtype == np.float32 for s in ctx.active)
    # no copy group's narrative left the window: the window alone
    q_recent = NarrativeLookup("m", "original", (d,), datetime(2026, 1, 1, tzinfo=UTC))
    assert [s.narrative_id for s in answer(con, [q_recent])[q_recent].active] == [n[d]]
    # none active in the window: the copy group's narrative alone
    q_later = NarrativeLookup("m", "original", (b,), datetime(2027, 1, 1, tzinfo=UTC))
    assert [s.narrative_id for s in answer(con, [q_later])[q_later].active] == [n[c]]
    # no window: every narrative of the model
    q_all = NarrativeLookup("m", "original", (), None)
    assert [s.narrative_id for s in answer(con, [q_all])[q_all].active] == sorted([n[c], n[d], nz])


# -- reopening --------------------------------------------------------------------------------


def test_no_model_reopen_reopens_translate_and_unfinished_downstream_rows(con):
    a, b, c, d = store(con, *"abcd")
    write_results(con, "translate", "1", [
        Translation(a, 1, "ru", "en", "no_model"),
        Translation(b, 1, "ru", "en", "no_model"),
        Translation(c, 1, "de", "en", "no_model"),
        Translation(d, 1, "ru", "en", "translated", "m", text="t"),
    ])  # fmt: skip
    write_results(con, "embed", "1", [
        Rejection("embed", "no_translation", doc_id=a, version=1),
        Embedding(b, 1, "m", "cpu", "translation", 1, False, "h", [1.0]),
        Rejection("embed", "no_translation", doc_id=c, version=1),
        Embedding(d, 1, "m", "cpu", "translation", 1, False, "h", [1.0]),
    ])  # fmt: skip
    write_results(con, "dedup", "1", [
        CopyResult(a, 1, "h", 2, 1, b"\0" * 8, [1, 2]),
        Rejection("dedup", "no_vector", doc_id=b, version=1),
    ])  # fmt: skip
    write_results(con, "cluster", "1", [Rejection("cluster", "no_vector", doc_id=a, version=1)])

    n = reopen(con, NoModelReopen(("ru", "uk")), "translate", ["embed", "dedup"])
    assert n == 2
    assert states(con, "translate") == {c: "done", d: "done"}
    assert states(con, "embed") == {b: "done", c: "rejected", d: "done"}
    assert states(con, "dedup") == {a: "done"}
    assert states(con, "cluster") == {a: "rejected"}  # not a dependent given
    assert todo(con, "translate") == [a, b]
    # the translations themselves stay until the stage rewrites them
    assert count(con, "translations WHERE status = 'no_model'") == 3
    assert reopen(con, NoModelReopen(("fr",)), "translate", ["embed"]) == 0
    assert reopen(con, NoModelReopen(()), "translate", ["embed"]) == 0
    assert states(con, "translate") == {c: "done", d: "done"}


def test_no_model_reopen_counts_only_documents_made_pending_again(con):
    (a,) = store(con, "первая версия")
    write_results(con, "translate", "1", [Translation(a, 1, "ru", "en", "no_model")])
    store_pages(con, [PageRecord(url="https://s.example/0", source="s", origin="import",
                                 fetched_at=datetime(2026, 1, 2, tzinfo=UTC),
                                 text="вторая версия")])  # fmt: skip
    write_results(
        con, "translate", "1", [Translation(a, 2, "ru", "en", "translated", "m", text="second")]
    )
    assert reopen(con, NoModelReopen(("ru",)), "translate", ["embed"]) == len(
        todo(con, "translate")
    )


def test_a_document_given_up_on_is_not_reopened(con):
    """A no_model translation whose document later kept making the stage raise (rejected
    after the attempts ran out) stays rejected: reopening it would retry it forever."""
    (a,) = store(con, "текст")
    write_results(con, "translate", "1", [Translation(a, 1, "ru", "en", "no_model")])
    con.execute("DELETE FROM stage_state")  # reopened once, then it kept failing:
    for _ in range(3):
        write_results(con, "translate", "1", [StageError(a, 1, "u", "s", "RuntimeError: x")])
    assert states(con, "translate") == {a: "rejected"}
    assert reopen(con, NoModelReopen(("ru",)), "translate", ["embed"]) == 0
    assert states(con, "translate") == {a: "rejected"}
    assert count(con, "rejections") == 1
