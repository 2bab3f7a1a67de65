"""The cluster stage's output: narrative membership, each narrative's state and language parts,
merges (aliases). The lookup before a batch (the narratives it may join) is in
``storage.outputs.narrative_lookup``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from storage import means as language_means
from storage.bulk import insert_rows
from storage.documents import seen_at_sql
from storage.outputs.base import VERSIONS, Output, WriteContext, versions
from storage.outputs.narrative_lookup import (
    PLACED,
    NarrativeContext,
    NarrativeLookup,
    StoredNarrative,
    narrative_context,
)

__all__ = [
    "MEMBER_COLUMNS",
    "NARRATIVE_COLUMNS",
    "OUTPUT",
    "NarrativeAssignment",
    "NarrativeContext",
    "NarrativeLookup",
    "NarrativeMerge",
    "NarrativeState",
    "StoredNarrative",
    "apply_merge",
    "write",
    "write_parts",
    "withdraw",
]

STAGE = "cluster"


@dataclass(slots=True)
class NarrativeAssignment:
    """A document's narrative. ``narrative`` is an existing narrative id, or ``"new:<doc_id>"``
    for a narrative this batch started (storage gives it the next id). ``via`` is 'copy'
    (joined its copy group's narrative), 'nearest' (centroid similarity >= threshold) or
    'new'."""

    doc_id: str
    version: int
    narrative: int | str
    similarity: float | None
    via: str
    model_id: str
    terms: list[tuple[str, int]] = field(default_factory=list)
    #: set by ``write``: the narrative this document started took back the id of one its
    #: documents had left (a changed page alone in its narrative): no new narrative
    taken_back: bool = False
    #: set by the stage: the narrative this document started merged into another within its
    #: batch (it was given no id): no new narrative either
    merged: bool = False

    @property
    def counts(self) -> dict[str, int]:
        if self.taken_back:
            return {"narrative_taken_back": 1}
        return {"narrative_new_merged" if self.merged else f"narrative_{self.via}": 1}


@dataclass(slots=True)
class NarrativeState:
    """A narrative after the batch (batch-level output): size, vector sum, last document's
    date, and its language parts as (language, size, vector_sum)."""

    narrative: int | str
    model_id: str
    size: int
    vector_sum: list[float]
    last_seen: datetime | None
    parts: list[tuple[str, int, list[float]]]

    @property
    def counts(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True, slots=True)
class NarrativeMerge:
    """Narrative ``merged`` was folded into ``survivor`` in this batch (batch-level output)."""

    merged: int | str
    survivor: int | str
    reason: str

    @property
    def counts(self) -> dict[str, int]:
        # a narrative born in the batch and merged in it was never stored: no merge to count
        # (its document counts it, ``narrative_new_merged``)
        return {} if isinstance(self.merged, str) else {"narrative_merges": 1}


NARRATIVE_COLUMNS = [
    ("narrative_id", "BIGINT"),
    ("created_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
    ("model_id", "VARCHAR"),
    ("size", "INTEGER"),
    ("last_seen", "TIMESTAMPTZ"),
    ("vector_sum", "FLOAT[]"),
]

MEMBER_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("narrative_id", "BIGINT"),
    ("similarity", "DOUBLE"),
    ("via", "VARCHAR"),
    ("assigned_at", "TIMESTAMPTZ"),
]


def write(con, ctx: WriteContext, items: list[NarrativeAssignment], extras: list) -> None:
    """New narratives get the next ids; merges move members and leave an alias behind."""
    states = [x for x in extras if isinstance(x, NarrativeState)]
    merges = [x for x in extras if isinstance(x, NarrativeMerge)]
    # a new version of a page leaves the narrative its earlier version was placed in, which
    # is counted again without it (the stage took it out of the narrative's state as well)
    earlier = _earlier(con, items)
    if earlier:
        withdraw(con, earlier, ctx.now)
    # new narratives are numbered in the order the batch holds their first documents (the
    # order they were first seen), so ids grow with time whatever the batch's size
    keys = [r.narrative for r in items] + [s.narrative for s in states]
    new_keys = [k for k in dict.fromkeys(keys) if isinstance(k, str)]
    returning = _returning(con, [r.doc_id for r in items])
    # a narrative started by documents withdrawn from a narrative that has gone since takes
    # that narrative's id and date of creation back; the others get the next ids
    ids, created = _reclaim(new_keys, items, returning)
    for r in items:  # counted apart from the narratives formed (the run's summary, v_runs)
        r.taken_back = r.via == "new" and not r.merged and r.narrative in ids
    fresh_keys = [k for k in new_keys if k not in ids]
    if fresh_keys:
        fresh = con.execute(
            "SELECT nextval('narrative_seq') FROM range(?)", [len(fresh_keys)]
        ).fetchall()
        ids.update({k: int(row[0]) for k, row in zip(fresh_keys, fresh, strict=True)})
    real = lambda k: ids.get(k, k)  # noqa: E731
    for m in merges:
        if isinstance(m.merged, str):  # a narrative born and merged within this batch
            continue
        apply_merge(con, m.merged, real(m.survivor), m.reason, ctx.now)
    if states:
        # through Arrow (storage/bulk.py): the vector sums as Python lists cost 60 ms a batch
        insert_rows(
            con,
            "narratives",
            NARRATIVE_COLUMNS,
            [(real(s.narrative), created.get(real(s.narrative), ctx.now), ctx.now, s.model_id,
              s.size, s.last_seen, s.vector_sum) for s in states],
            on_conflict="(narrative_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "size = excluded.size, last_seen = excluded.last_seen, vector_sum = excluded.vector_sum",
        )  # fmt: skip
        write_parts(con, {real(s.narrative): s.parts for s in states})
    insert_rows(
        con,
        "narrative_members",
        MEMBER_COLUMNS,
        [(r.doc_id, real(r.narrative), r.similarity, r.via, ctx.now) for r in items],
    )
    # a document's terms replace those of its earlier version, if any (schema 18)
    insert_rows(
        con,
        "doc_term_lists",
        [("doc_id", "VARCHAR"), ("terms", "STRUCT(term VARCHAR, n INTEGER)[]")],
        [(r.doc_id, [{"term": term, "n": n} for term, n in r.terms]) for r in items],
    )
    if items:
        placed = {r.doc_id: real(r.narrative) for r in items}
        _settle(con, returning, placed, ctx.now)


def _earlier(con, items: list[NarrativeAssignment]) -> list[tuple[str, int]]:
    """(doc_id, version) of the earlier version that placed each of these documents in the
    narrative it is in, where one did: usually none (only a version above 1 is looked up)."""
    keys = [(r.doc_id, r.version) for r in items if r.version > 1]
    if not keys:
        return []
    return con.execute(
        f"SELECT s.doc_id, max(s.version) FROM stage_state s JOIN {VERSIONS} "
        "ON s.doc_id = k.doc_id AND s.version < k.version WHERE s.stage = ? "
        "AND s.status = 'done' AND s.doc_id IN (SELECT doc_id FROM narrative_members) "
        "GROUP BY 1 ORDER BY 1",
        [*versions(keys), STAGE],
    ).fetchall()


def _returning(con, doc_ids: list[str]) -> dict[str, tuple[int, datetime]]:
    """doc id -> (the narrative it was withdrawn from, that narrative's created_at), for these
    documents, where that narrative has since gone: left empty, its id neither taken back nor
    made an alias (``narrative_withdrawn``: usually empty, and a few rows when not)."""
    if not doc_ids:
        return {}
    rows = con.execute(
        "SELECT w.doc_id, w.narrative_id, w.created_at FROM narrative_withdrawn w "
        "WHERE w.doc_id IN (SELECT unnest(?::VARCHAR[])) AND NOT EXISTS (SELECT 1 FROM "
        "v_narrative_ids i WHERE i.id = w.narrative_id) ORDER BY w.narrative_id, w.doc_id",
        [doc_ids],
    ).fetchall()
    return {doc_id: (narrative_id, created_at) for doc_id, narrative_id, created_at in rows}


def _reclaim(new_keys: list[str], items: list, returning: dict) -> tuple[dict, dict]:
    """new key -> the id it takes back, and that id -> its created_at: each new narrative
    holding a returning document takes the lowest gone id among its documents' that no other
    new narrative took first (keys in order)."""
    ids: dict = {}
    created: dict = {}
    for key in new_keys:
        own = sorted({returning[r.doc_id] for r in items
                      if r.narrative == key and r.doc_id in returning})  # fmt: skip
        free = [(nid, at) for nid, at in own if nid not in created]
        if free:
            ids[key], created[free[0][0]] = free[0]
    return ids, created


def _settle(con, returning: dict, placed: dict, now) -> None:
    """These documents are placed again: a gone id that none of them took back becomes an
    alias of the narrative its first returning document joined, so that it still resolves
    (``v_narrative_ids``), and their ``narrative_withdrawn`` rows go."""
    settled = {nid for (nid,) in con.execute(
        "SELECT narrative_id FROM narratives WHERE narrative_id IN (SELECT unnest(?::BIGINT[]))",
        [sorted({nid for nid, _ in returning.values()})],
    ).fetchall()} if returning else set()  # fmt: skip
    for doc_id, (gone, _) in sorted(returning.items(), key=lambda kv: (kv[1][0], kv[0])):
        if gone not in settled:
            # the gone id, and the ids merged into it, now resolve to where it went
            con.execute(
                "UPDATE narrative_aliases SET narrative_id = ? WHERE narrative_id = ?",
                [placed[doc_id], gone],
            )
            con.execute(
                "INSERT OR REPLACE INTO narrative_aliases VALUES (?, ?, ?, ?)",
                [gone, placed[doc_id], now, "its documents came back into this narrative"],
            )
            settled.add(gone)
    con.execute(
        "DELETE FROM narrative_withdrawn WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(placed)],
    )


def write_parts(con, parts: dict) -> None:
    """Replace the language parts of these narratives: narrative id -> [(lang, size, sum)]."""
    con.execute(
        "DELETE FROM narrative_parts WHERE narrative_id IN (SELECT unnest(?::BIGINT[]))",
        [list(parts)],
    )
    insert_rows(
        con,
        "narrative_parts",
        [("narrative_id", "BIGINT"), ("lang", "VARCHAR"), ("size", "INTEGER"),
         ("vector_sum", "FLOAT[]")],
        [(nid, lang, size, total) for nid, rows in parts.items() for lang, size, total in rows],
        replace=False,
    )  # fmt: skip


def apply_merge(con, merged: int, survivor: int, reason: str, now) -> None:
    """Fold narrative ``merged`` into ``survivor``; ``merged`` stays resolvable as an alias."""
    con.execute(
        "UPDATE narrative_members SET narrative_id = ? WHERE narrative_id = ?", [survivor, merged]
    )
    con.execute(
        "UPDATE narrative_aliases SET narrative_id = ? WHERE narrative_id = ?", [survivor, merged]
    )
    con.execute("DELETE FROM narratives WHERE narrative_id = ?", [merged])
    con.execute("DELETE FROM narrative_parts WHERE narrative_id = ?", [merged])
    con.execute(
        "INSERT OR REPLACE INTO narrative_aliases VALUES (?, ?, ?, ?)",
        [merged, survivor, now, reason],
    )


def withdraw(con, keys: list[tuple[str, int]], now) -> None:
    """Take these document versions out of their narratives (see Output.withdraw), where the
    cluster stage placed them from that version (its state 'done': a rejection by the cluster
    stage itself leaves an earlier version's place alone). A narrative left with documents is
    counted again from them (``_recount``); one left with none is removed, its aliases left
    pointing at its id. Each document notes the narrative it left (``narrative_withdrawn``): sent back, it takes
    a removed narrative's id back when it starts a narrative again, or leaves that id as an
    alias of the narrative it joins (``write``)."""
    rows = con.execute(
        f"SELECT m.doc_id, m.narrative_id FROM narrative_members m JOIN {VERSIONS} "
        "ON k.doc_id = m.doc_id WHERE EXISTS (SELECT 1 FROM stage_state s WHERE s.stage = ? "
        "AND s.status = 'done' AND s.doc_id = k.doc_id AND s.version = k.version)",
        [*versions(keys), STAGE],
    ).fetchall()
    if not rows:
        return
    gone = [doc_id for doc_id, _ in rows]
    con.execute(
        "INSERT OR REPLACE INTO narrative_withdrawn SELECT m.doc_id, m.narrative_id, "
        "n.created_at, ? FROM narrative_members m JOIN narratives n USING (narrative_id) "
        "WHERE m.doc_id IN (SELECT unnest(?::VARCHAR[]))",
        [now, gone],
    )
    for table in ("narrative_members", "doc_term_lists"):
        con.execute(f"DELETE FROM {table} WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [gone])
    touched = con.execute(
        "SELECT narrative_id, model_id FROM narratives "
        "WHERE narrative_id IN (SELECT unnest(?::BIGINT[])) ORDER BY 1",
        [sorted({narrative_id for _, narrative_id in rows})],
    ).fetchall()
    for narrative_id, model_id in touched:
        _recount(con, narrative_id, model_id, now)


def _recount(con, narrative_id: int, model_id: str, now) -> None:
    """A narrative's size, last date, vector sum and language parts, from its members at the
    versions placed (``PLACED``): their lead vectors of ``model_id``, of the input most of
    them have ('original' on a tie), centred as the cluster stage centres them. A member
    with no such vector counts in the size alone; a narrative of hashed word vectors
    (nothing stored to add up) keeps its sums."""
    size, last_seen = con.execute(
        f"SELECT count(*), max({seen_at_sql('e')}) FROM narrative_members m "
        "JOIN documents d ON d.doc_id = m.doc_id "
        f"JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = {PLACED} "
        "LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = v.version "
        "WHERE m.narrative_id = ?",
        [narrative_id],
    ).fetchone()
    if not size:
        # its aliases stay, for its documents' return (narrative_withdrawn): ids merged into
        # it resolve to it again when they take it back, or to where they go (``_settle``)
        for table in ("narratives", "narrative_parts"):
            con.execute(f"DELETE FROM {table} WHERE narrative_id = ?", [narrative_id])
        return
    con.execute(
        "UPDATE narratives SET size = ?, last_seen = ?, updated_at = ? WHERE narrative_id = ?",
        [size, last_seen, now, narrative_id],
    )
    members = "FROM embeddings e JOIN narrative_members m ON m.doc_id = e.doc_id " \
              "JOIN documents d ON d.doc_id = m.doc_id " \
              f"WHERE m.narrative_id = ? AND e.model_id = ? AND e.version = {PLACED}"  # fmt: skip
    inputs = con.execute(
        f"SELECT e.input {members} GROUP BY 1 ORDER BY count(DISTINCT e.doc_id) DESC, "
        "e.input = 'original' DESC LIMIT 1",
        [narrative_id, model_id],
    ).fetchall()
    if not inputs:
        return
    kind = inputs[0][0]
    rows = con.execute(
        f"""
        WITH latest AS (
            SELECT e.doc_id, arg_max(coalesce(e.lead_vector, e.vector), e.version) AS v,
                   max(e.version) AS version
            {members} AND e.input = ? GROUP BY 1
        )
        SELECT l.lang, x.v FROM latest x
        LEFT JOIN languages l ON l.doc_id = x.doc_id AND l.version = x.version ORDER BY x.doc_id
        """,
        [narrative_id, model_id, kind],
    ).fetchall()
    means = language_means.load(con, model_id, kind)
    langs = [lang or "" for lang, _ in rows]
    vectors = language_means.centre(np.asarray([v for _, v in rows]), langs, means, "lead")
    parts: dict[str, list] = {}
    for lang, vector in zip(langs, vectors, strict=True):
        part = parts.setdefault(lang, [0, np.zeros_like(vector)])
        part[0] += 1
        part[1] = part[1] + vector
    con.execute(
        "UPDATE narratives SET vector_sum = ? WHERE narrative_id = ?",
        [vectors.sum(axis=0).astype(np.float32).tolist(), narrative_id],
    )
    write_parts(
        con,
        {narrative_id: [(lang, n, total.astype(np.float32).tolist())
                        for lang, (n, total) in sorted(parts.items())]},
    )  # fmt: skip


OUTPUT = Output(
    STAGE,
    records=(NarrativeAssignment,),
    batch_records=(NarrativeState, NarrativeMerge),
    write=write,
    answers={NarrativeLookup: narrative_context},
    withdraw=withdraw,
)
