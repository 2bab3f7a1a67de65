"""The cluster stage's lookup: for a batch, each document's lead vector and the language means,
the narrative of each document's copy group, and the narratives the batch may join."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np

from storage import means as language_means
from storage.documents import seen_at_sql
from storage.means import LanguageMeans
from storage.vectors import read_columns


@dataclass(frozen=True, slots=True)
class NarrativeLookup:
    """For a batch: each document's lead vector and the language means, the narrative of each
    document's copy group (where one member has one), and the narratives active since
    ``since``.
    Answer: NarrativeContext."""

    model_id: str
    input: str
    doc_ids: tuple[str, ...]
    since: datetime | None


@dataclass(frozen=True, slots=True)
class StoredNarrative:
    narrative_id: int
    size: int
    vector_sum: np.ndarray
    last_seen: datetime | None
    parts: list[tuple[str, int, np.ndarray]]


@dataclass(slots=True)
class NarrativeContext:
    vectors: dict[str, list[float]] = field(default_factory=dict)  # doc id -> lead vector
    means: LanguageMeans | None = None  # the language means of the vectors' model
    groups: dict[str, str] = field(default_factory=dict)  # doc id -> copy group
    group_narratives: dict[str, int] = field(default_factory=dict)  # copy group -> narrative
    active: list[StoredNarrative] = field(default_factory=list)
    # doc id -> (narrative, language, lead vector) of the earlier version placed, where one was
    earlier: dict[str, tuple] = field(default_factory=dict)
    # for the narratives of ``earlier``: the latest date of their other members (None: no
    # other member), and each of those documents' own date; the stage sets a narrative's
    # last date from them when the batch takes documents out of it
    rest_last_seen: dict[int, datetime | None] = field(default_factory=dict)
    earlier_seen: dict[str, datetime] = field(default_factory=dict)


# SQL, on ``m`` (narrative_members) and ``d`` (documents): the version that placed a member,
# which dates it. A page whose next version waits for the cluster stage, or was rejected (a
# stub, its site's boilerplate), stays the page it was, as `cluster --rebuild` takes it;
# before, a recount dated it by that next version (a stub's date kept its narrative open).
PLACED = (
    "coalesce((SELECT max(s.version) FROM stage_state s WHERE s.doc_id = m.doc_id "
    "AND s.stage = 'cluster' AND s.status = 'done'), d.current_version)"
)

_ACTIVE = "SELECT narrative_id, size, vector_sum, last_seen FROM narratives WHERE model_id = ?"


def _active(
    con: duckdb.DuckDBPyConnection, model_id: str, since: datetime | None, groups: set[int]
) -> dict:
    """The narratives active since ``since`` (all where None), and those of the batch's copy
    groups however old, ordered by id (`read_columns`). The date alone first: with the ids in
    the same WHERE (an OR), DuckDB reads every narrative's vector sum before it filters, so
    that read is left to the rare batch whose copy group's narrative left the window."""
    if since is None:
        return _read_active(con, "", [model_id])
    active = _read_active(con, " AND last_seen >= ?", [model_id, since])
    if groups <= set(active["narrative_id"]):
        return active
    where = " AND (last_seen >= ? OR narrative_id IN (SELECT unnest(?::BIGINT[])))"
    return _read_active(con, where, [model_id, since, sorted(groups)])


def _read_active(con: duckdb.DuckDBPyConnection, where: str, params: list) -> dict:
    sql = f"{_ACTIVE}{where} ORDER BY narrative_id"  # ``where`` is one of _active's constants
    return read_columns(con, sql, params, vectors=("vector_sum",))


def _dates_without(con: duckdb.DuckDBPyConnection, out: NarrativeContext, held: set) -> None:
    """The dates a narrative's last date is counted from when the batch's earlier versions
    leave it (as ``storage.outputs.narratives._recount`` counts it: the versions placed)."""
    rows = con.execute(
        f"SELECT m.narrative_id, m.doc_id, {seen_at_sql('x')} FROM narrative_members m "
        "JOIN documents d ON d.doc_id = m.doc_id "
        f"JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = {PLACED} "
        "LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = v.version "
        "WHERE m.narrative_id IN (SELECT unnest(?::BIGINT[]))",
        [sorted(held)],
    ).fetchall()
    out.rest_last_seen = dict.fromkeys(held)
    for nid, doc_id, seen in rows:
        if doc_id in out.earlier:
            out.earlier_seen[doc_id] = seen
        elif seen is not None and (
            out.rest_last_seen[nid] is None or seen > out.rest_last_seen[nid]
        ):
            out.rest_last_seen[nid] = seen


def narrative_context(con: duckdb.DuckDBPyConnection, q: NarrativeLookup) -> NarrativeContext:
    ids = list(q.doc_ids)
    out = NarrativeContext()
    out.vectors = dict(
        con.execute(
            "SELECT e.doc_id, coalesce(e.lead_vector, e.vector) FROM embeddings e "
            "JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version "
            "WHERE e.model_id = ? AND e.input = ? AND e.doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [q.model_id, q.input, ids],
        ).fetchall()
    )
    out.means = language_means.load(con, q.model_id, q.input)
    out.groups = dict(
        con.execute(
            "SELECT doc_id, group_id FROM copy_members WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
    )
    # the batch's documents that an earlier version placed: placed again, they leave those
    # narratives (the stage takes them out; storage/outputs/narratives.py ``write``)
    earlier = con.execute(
        "SELECT m.doc_id, m.narrative_id, l.lang, coalesce(e.lead_vector, e.vector) "
        "FROM narrative_members m JOIN (SELECT doc_id, max(version) AS version FROM stage_state "
        "WHERE stage = 'cluster' AND status = 'done' AND doc_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY 1) s ON s.doc_id = m.doc_id "
        "LEFT JOIN languages l ON l.doc_id = s.doc_id AND l.version = s.version "
        "LEFT JOIN embeddings e ON e.doc_id = s.doc_id AND e.version = s.version "
        "AND e.model_id = ? AND e.input = ? ORDER BY m.doc_id",
        [ids, q.model_id, q.input],
    ).fetchall()
    out.earlier = {doc_id: (nid, lang, vector) for doc_id, nid, lang, vector in earlier}
    out.group_narratives = dict(
        con.execute(
            "SELECT c.group_id, min(m.narrative_id) FROM copy_members c "
            "JOIN narrative_members m ON m.doc_id = c.doc_id "
            "WHERE c.group_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND m.doc_id NOT IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [sorted(set(out.groups.values())), sorted(out.earlier)],
        ).fetchall()
    )
    held = {nid for nid, _, _ in out.earlier.values()}
    if held:
        _dates_without(con, out, held)
    active = _active(con, q.model_id, q.since, set(out.group_narratives.values()) | held)
    parts: dict = {}
    if active["narrative_id"]:
        stored = read_columns(
            con,
            "SELECT narrative_id, lang, size, vector_sum FROM narrative_parts "
            "WHERE narrative_id IN (SELECT unnest(?::BIGINT[])) ORDER BY narrative_id, lang",
            [active["narrative_id"]],
            vectors=("vector_sum",),
        )
        for i, (narrative_id, lang, size) in enumerate(
            zip(stored["narrative_id"], stored["lang"], stored["size"], strict=True)
        ):
            parts.setdefault(narrative_id, []).append((lang, size, stored["vector_sum"][i]))
    out.active = [
        StoredNarrative(narrative_id, size, active["vector_sum"][i], last_seen,
                        parts.get(narrative_id, []))
        for i, (narrative_id, size, last_seen) in enumerate(
            zip(active["narrative_id"], active["size"], active["last_seen"], strict=True)
        )
    ]  # fmt: skip
    return out
