"""Withdrawing a document version rejected after it was processed (``write_results`` with
``dependents``): what each later stage built on it goes, and what it shared with others is
counted again without it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.rebuild import map_ids
from storage import connect, means
from storage.export import ExportError, resolve_narratives
from storage.means import centre
from storage.narratives import memberships
from storage.outputs.dedup import CopyResult
from storage.outputs.embed import Embedding
from storage.outputs.extract import Extraction
from storage.outputs.langid import LanguageResult
from storage.outputs.narratives import NarrativeAssignment, NarrativeMerge, NarrativeState
from storage.records import Rejection
from storage.stages import reprocessing, write_results
from tests.storage.test_outputs import T0, rows, store, todo

SIG = np.arange(1, 129, dtype="<u4").tobytes()


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "n.duckdb") as con:
        yield con


def reject(stage: str, doc_id: str, dependents: list[str], con) -> dict:
    return write_results(
        con, stage, "2", [Rejection(stage, "not_news", "", doc_id=doc_id, version=1)],
        dependents=dependents,
    )  # fmt: skip


def test_a_copy_group_keeps_the_documents_still_linked_and_splits_where_the_links_went(con):
    a, b, c, d, e = store(con, "a", "b", "c", "d", "e")
    links = {a: [], b: [a], c: [b], d: [a], e: [c]}  # a-b-c-e, and d copies a
    for doc, others in links.items():
        matches = [(o, "near", 0.8) for o in others]
        write_results(con, "dedup", "1", [CopyResult(doc, 1, doc, 128, 1, SIG, [1, 2], matches)])
    assert len({g for (g,) in rows(con, "SELECT group_id FROM copy_members")}) == 1

    counts = reject("embed", b, ["dedup", "cluster"], con)

    assert counts == {"done": 0, "rejected": 1, "retrying": 0, "withdrawn": 1}
    groups = dict(rows(con, "SELECT doc_id, group_id FROM copy_members"))
    assert groups == {a: f"cg-{a}", d: f"cg-{a}", c: f"cg-{c}", e: f"cg-{c}"}
    assert not rows(con, "SELECT * FROM copy_links WHERE ? IN (doc_id, other_doc_id)", [b])
    assert not rows(con, "SELECT * FROM minhash WHERE doc_id = ?", [b])
    assert not rows(con, "SELECT * FROM lsh_bands WHERE doc_id = ?", [b])
    assert not rows(con, "SELECT * FROM stage_state WHERE doc_id = ? AND stage = 'dedup'", [b])
    # a document left with no copy leaves its group
    reject("embed", e, ["dedup", "cluster"], con)
    assert c not in dict(rows(con, "SELECT doc_id, group_id FROM copy_members"))


def test_a_piece_without_the_document_its_group_is_named_after_gets_a_name_of_its_own(con):
    """A later copy of that document must not find its group's name taken by strangers."""
    a, b, c, d, f = store(con, "a", "b", "c", "d", "f")
    links = {b: [], a: [b], c: [a], d: [c]}  # group cg-b: b-a-c-d
    for doc, others in links.items():
        matches = [(o, "near", 0.8) for o in others]
        write_results(con, "dedup", "1", [CopyResult(doc, 1, doc, 128, 1, SIG, [1, 2], matches)])
    assert {g for (g,) in rows(con, "SELECT group_id FROM copy_members")} == {f"cg-{b}"}

    reject("embed", a, ["dedup", "cluster"], con)  # b is left alone, c-d go on together
    write_results(con, "dedup", "1", [CopyResult(f, 1, f, 128, 1, SIG, [1], [(b, "exact", 1.0)])])

    groups = dict(rows(con, "SELECT doc_id, group_id FROM copy_members"))
    assert groups == {c: f"cg-{c}", d: f"cg-{c}", b: f"cg-{b}", f: f"cg-{b}"}


def test_a_narrative_is_counted_again_from_its_other_documents_and_goes_with_the_last(con):
    a, b, c, old = store(con, "a", "b", "c", "old")
    vectors = {a: [3.0, 0.0], b: [0.0, 2.0], c: [1.0, 1.0], old: [1.0, 0.0]}
    langs = {a: "en", b: "en", c: "de", old: "en"}
    write_results(con, "langid", "1", [LanguageResult(x, 1, langs[x], 1.0, "t") for x in langs])
    write_results(
        con, "embed", "1",
        [Embedding(x, 1, "m", "cpu", "original", 1, False, x, v, lead_vector=v)
         for x, v in vectors.items()],
    )  # fmt: skip
    write_results(
        con, "cluster", "1",
        [NarrativeAssignment(x, 1, "new:" + a, 0.9, "new", "m", []) for x in (a, b, c)]
        + [NarrativeAssignment(old, 1, "new:" + old, None, "new", "m", [])],
        [NarrativeState("new:" + a, "m", 3, [9.0, 9.0], T0, [("en", 2, [9.0, 9.0]),
                                                              ("de", 1, [1.0, 1.0])]),
         NarrativeState("new:" + old, "m", 1, [1.0, 0.0], T0, [("en", 1, [1.0, 0.0])])],
    )  # fmt: skip
    (keep,), (merged,) = rows(con, "SELECT narrative_id FROM narratives ORDER BY 1")
    write_results(con, "cluster", "1", [], [NarrativeMerge(merged, keep, "test")])
    write_results(
        con, "cluster", "1",
        [NarrativeAssignment(old, 1, keep, 0.9, "nearest", "m", [])],
        [NarrativeState(keep, "m", 4, [9.0, 9.0], T0, [("en", 3, [9.0, 9.0]),
                                                        ("de", 1, [1.0, 1.0])])],
    )  # fmt: skip

    reject("extract", c, ["langid", "embed", "dedup", "cluster"], con)

    [(size, total, last_seen)] = rows(con, "SELECT size, vector_sum, last_seen FROM narratives")
    assert size == 3
    # its last date, counted again from the documents left: the newest is `old`, stored last
    [(newest,)] = rows(con, "SELECT first_seen_at FROM documents WHERE doc_id = ?", [old])
    assert last_seen == newest
    # the three left, centred by their language's mean as the cluster stage centres them
    left = np.array([vectors[x] for x in (a, b, old)])
    expected = centre(left, ["en"] * 3, means.load(con, "m", "original"), "lead").sum(axis=0)
    assert np.allclose(total, expected, atol=1e-6)
    [(lang, part_size, part)] = rows(con, "SELECT lang, size, vector_sum FROM narrative_parts")
    assert (lang, part_size) == ("en", 3) and np.allclose(part, expected, atol=1e-6)
    assert not rows(con, "SELECT * FROM embeddings WHERE doc_id = ?", [c])
    assert not rows(con, "SELECT * FROM languages WHERE doc_id = ?", [c])

    for doc in (a, b, old):
        reject("embed", doc, ["dedup", "cluster"], con)
    for table in ("narratives", "narrative_parts", "narrative_members"):
        assert not rows(con, f"SELECT * FROM {table}"), table
    # the merged id stays an alias of the gone one, for its documents' return
    assert rows(con, "SELECT alias_id, narrative_id FROM narrative_aliases") == [(merged, keep)]


def test_a_rejection_on_a_first_run_withdraws_nothing(con):
    a, b = store(con, "a", "b")
    write_results(con, "dedup", "1", [CopyResult(a, 1, a, 128, 1, SIG, [1], [])])
    write_results(con, "dedup", "1", [CopyResult(b, 1, b, 128, 1, SIG, [1], [(a, "exact", 1.0)])])
    counts = write_results(
        con, "embed", "2", [Rejection("embed", "not_news", "", doc_id=a, version=2)],
        dependents=["dedup", "cluster"],
    )  # fmt: skip
    assert counts == {"done": 0, "rejected": 1, "retrying": 0}  # version 2 was never processed
    assert len(rows(con, "SELECT * FROM copy_members")) == 2


def test_a_later_version_rejected_leaves_the_earlier_versions_place(con):
    """A page that became a stub at its next fetch stays in its narrative and copy group as
    the article it was: only what was built on the rejected version is withdrawn."""
    a, b = store(con, "a", "b")
    write_results(con, "dedup", "1", [CopyResult(a, 1, a, 128, 1, SIG, [1], [])])
    write_results(con, "dedup", "1", [CopyResult(b, 1, b, 128, 1, SIG, [1], [(a, "exact", 1.0)])])
    write_results(
        con, "cluster", "1", [NarrativeAssignment(a, 1, "new:" + a, None, "new", "m", [])],
        [NarrativeState("new:" + a, "m", 1, [1.0, 0.0], T0, [("en", 1, [1.0, 0.0])])],
    )  # fmt: skip
    for stage in ("extract", "dedup", "cluster"):
        write_results(
            con, stage, "1", [Rejection(stage, "not_news", "", doc_id=a, version=2)],
            dependents=["dedup", "cluster"] if stage == "extract" else [],
        )  # fmt: skip
    assert rows(con, "SELECT doc_id FROM narrative_members") == [(a,)]
    assert rows(con, "SELECT size FROM narratives") == [(1,)]
    assert len(rows(con, "SELECT * FROM copy_members")) == 2


LATER = ["langid", "embed", "dedup", "cluster"]


def test_a_result_that_changed_what_later_stages_read_sends_the_document_back_to_them(con):
    """A forced rerun or a new stage version that keeps a document with another text (or
    language, or vector) takes it out of what the later stages built on the old one, so
    that they redo it; an unchanged result leaves their work alone."""
    a, b, c = store(con, "a", "b", "c")
    june = datetime(2026, 6, 1, tzinfo=UTC)
    texts = {a: "Grain subsidies extended.", b: "Fishing quotas cut.", c: "Border reopened."}
    write_results(con, "extract", "1", [Extraction(x, 1, t, title="T") for x, t in texts.items()])
    write_results(con, "langid", "1", [LanguageResult(x, 1, "en", 1.0, "t") for x in texts])
    vector = {a: [1.0, 0.0], b: [0.0, 1.0], c: [1.0, 1.0]}
    embedded = [Embedding(x, 1, "m", "cpu", "original", 1, False, x, v, lead_vector=v)
                for x, v in vector.items()]  # fmt: skip
    write_results(con, "embed", "1", embedded)
    write_results(
        con, "cluster", "1",
        [NarrativeAssignment(x, 1, "new:" + a, 0.9, "new", "m", []) for x in texts],
        [NarrativeState("new:" + a, "m", 3, [2.0, 2.0], T0, [("en", 3, [2.0, 2.0])])],
    )  # fmt: skip

    # extract v2: a as it was, b with a new text, c with a new date (no later stage's concern)
    assert reprocessing(con, "extract", "2", LATER) and not reprocessing(con, "extract", "1", LATER)
    again = [Extraction(a, 1, texts[a], title="T"), Extraction(b, 1, "Fishing quotas cut by half.",
             title="T"), Extraction(c, 1, texts[c], title="T", published_at=june)]  # fmt: skip
    counts = write_results(con, "extract", "2", again, dependents=LATER)

    assert counts == {"done": 3, "rejected": 0, "retrying": 0, "sent_back": 1}
    assert rows(con, "SELECT doc_id FROM narrative_members ORDER BY 1") == sorted([(a,), (c,)])
    assert rows(con, "SELECT size FROM narratives") == [(2,)]
    for table in ("languages", "embeddings"):
        assert rows(con, f"SELECT doc_id FROM {table} ORDER BY 1") == sorted([(a,), (c,)]), table
    assert dict(rows(con, "SELECT doc_id, text FROM extractions"))[b] == again[1].text
    assert todo(con, "langid") == [b]  # the later stages redo it
    assert not reprocessing(con, "extract", "2", LATER)  # every document is at the new version

    # the embed stage again: the same vector, or another model's, changes nothing for cluster
    same = write_results(con, "embed", "2", embedded[:1], dependents=["cluster"])
    other = Embedding(
        a, 1, "m2", "cpu", "original", 1, False, a, [0.5, 0.5], lead_vector=[0.5, 0.5]
    )
    write_results(con, "embed", "2", [other], dependents=["cluster"])
    assert "sent_back" not in same
    assert rows(con, "SELECT doc_id FROM narrative_members ORDER BY 1") == sorted([(a,), (c,)])
    moved = Embedding(a, 1, "m", "cpu", "original", 1, False, a, [0.0, 1.0], lead_vector=[0.0, 1.0])
    assert write_results(con, "embed", "2", [moved], dependents=["cluster"])["sent_back"] == 1
    assert rows(con, "SELECT doc_id FROM narrative_members") == [(c,)]


def test_a_gone_narrative_says_how_many_of_its_documents_wait_and_how_many_were_rejected(con):
    """Documents sent back come back when clustered again; one rejected for good does not,
    unless a new version or a forced stage keeps it: the message says which is which."""
    a, b = store(con, "a", "b")
    write_results(con, "extract", "1", [Extraction(x, 1, "Grain deal.", title="T") for x in (a, b)])
    write_results(con, "langid", "1", [LanguageResult(x, 1, "en", 1.0, "t") for x in (a, b)])
    vectors = lambda v: [  # noqa: E731
        Embedding(x, 1, "m", "cpu", "original", 1, False, x, v, lead_vector=v) for x in (a, b)
    ]
    write_results(con, "embed", "1", vectors([1.0, 0.0]))
    place(con, [a, b])
    [(nid,)] = rows(con, "SELECT narrative_id FROM narratives")

    write_results(con, "embed", "2", vectors([0.0, 1.0]), dependents=["cluster"])  # sent back
    with pytest.raises(ExportError) as gone:
        resolve_narratives(con, (nid,))
    assert "its 2 document(s) left it on 20" in str(gone.value)
    assert "sent back to the earlier stages to be processed again. It comes back under the " \
           "same id when they are clustered again" in str(gone.value)  # fmt: skip
    assert "rejected" not in str(gone.value)

    reject("embed", b, ["cluster"], con)
    with pytest.raises(
        ExportError,
        match=r"its 2 document\(s\) left it on .*: 1 rejected "
        r"\(embed: not_news\), 1 sent back .* when those are clustered again",
    ):
        resolve_narratives(con, (nid,))
    reject("embed", a, ["cluster"], con)
    with pytest.raises(
        ExportError,
        match=r"all 2 rejected \(embed: not_news\)\. It comes back "
        r"under the same id only if one of them is kept again: a new version of its page, or "
        r"the stage redone \(narrascope process --stage embed --force\)",
    ):
        resolve_narratives(con, (nid,))


def place(con, docs: list[str], key: str | int = "") -> None:
    """The cluster stage places ``docs`` in narrative ``key`` (a new one, by default)."""
    key = key or "new:" + docs[0]
    write_results(
        con, "cluster", "1",
        [NarrativeAssignment(x, 1, key, 0.9, "new", "m", []) for x in docs],
        [NarrativeState(key, "m", len(docs), [1.0, 0.0], T0, [("en", 1, [1.0, 0.0])])],
    )  # fmt: skip


def test_a_narrative_left_empty_keeps_its_id_for_its_documents_when_they_come_back(con):
    """Every document of a narrative withdrawn (sent back to be clustered again, or rejected):
    the narrative goes, but its id waits for them. The first narrative they start again takes
    it back with its date of creation; if they join another narrative instead, the old id
    becomes that one's alias. New stories still get new ids."""
    a, b, c, d = store(con, "a", "b", "c", "d")
    start = lambda docs, key="": place(con, docs, key)  # noqa: E731
    start([a, b])
    start([c])
    (first, born), (second, _) = rows(con, "SELECT narrative_id, created_at FROM narratives "
                                      "ORDER BY 1")  # fmt: skip
    for doc in (a, b, c):  # one at a time: `first` keeps b until b goes too
        reject("extract", doc, LATER, con)
    assert not rows(con, "SELECT * FROM narratives")
    assert sorted(rows(con, "SELECT doc_id, narrative_id FROM narrative_withdrawn")) == sorted(
        [(a, first), (b, first), (c, second)]
    )
    # `cluster --rebuild` before they are clustered again maps the gone ids as old ones
    assert memberships(con) == {a: first, b: first, c: second}
    assert map_ids({"k": {a, b}}, {first: {a, b}, second: {c}})[0] == {"k": first}

    start([b, a])  # back, started by another of them: the same id and date of creation
    assert rows(con, "SELECT narrative_id, created_at FROM narratives") == [(first, born)]
    assert sorted(rows(con, "SELECT doc_id, narrative_id FROM narrative_members")) == sorted(
        [(a, first), (b, first)]
    )
    start([c], key=first)  # c joins a's narrative: its old id resolves to that one
    assert rows(con, "SELECT id, narrative_id FROM v_narrative_ids ORDER BY id") == [
        (first, first), (second, first)
    ]  # fmt: skip
    assert not rows(con, "SELECT * FROM narrative_withdrawn")
    start([d])  # a story never seen: the next id
    assert rows(con, "SELECT max(narrative_id) FROM narratives") == [(second + 1,)]
    # b rejected for good: its note no longer counts for the narrative that lives on
    reject("extract", b, LATER, con)
    assert memberships(con) == {a: first, c: first, d: second + 1}


def test_ids_merged_into_a_narrative_left_empty_resolve_to_it_again_when_it_is_back(con):
    a, b = store(con, "a", "b")
    place(con, [a])
    place(con, [b])
    (first,), (second,) = rows(con, "SELECT narrative_id FROM narratives ORDER BY 1")
    write_results(con, "cluster", "1", [], [NarrativeMerge(second, first, "test")])
    write_results(
        con, "cluster", "1", [NarrativeAssignment(b, 1, first, 0.9, "nearest", "m", [])],
        [NarrativeState(first, "m", 2, [1.0, 0.0], T0, [("en", 2, [1.0, 0.0])])],
    )  # fmt: skip
    for doc in (a, b):
        reject("extract", doc, LATER, con)
    assert not rows(con, "SELECT * FROM narratives")
    # a rebuild now would map the gone id, and leave the alias alone
    assert memberships(con) == {a: first, b: first}
    # an export names why the id and its alias find nothing for now, rather than export nothing
    with pytest.raises(ExportError, match=f"Narrative {first} has no documents now: its 2 "):
        resolve_narratives(con, (first,))
    with pytest.raises(ExportError, match=f"{second} was merged into {first}, which has no doc"):
        resolve_narratives(con, (second,))
    with pytest.raises(ExportError, match="no narrative 999 in this database"):
        resolve_narratives(con, (999,))
    place(con, [b, a])
    assert rows(con, "SELECT id, narrative_id FROM v_narrative_ids ORDER BY id") == [
        (first, first), (second, first)
    ]  # fmt: skip
    assert resolve_narratives(con, (second, first)) == {second: first, first: first}
