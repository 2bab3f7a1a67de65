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
    # the batch's documents that an earlier version placed: they leave those narratives
    # (storage/outputs/narratives.py ``write``), which are counted here without them
    earlier = dict(
        con.execute(
            "SELECT doc_id, narrative_id FROM narrative_members "
            "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
    )
    out.group_narratives = dict(
        con.execute(
            "SELECT c.group_id, min(m.narrative_id) FROM copy_members c "
            "JOIN narrative_members m ON m.doc_id = c.doc_id "
            "WHERE c.group_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND m.doc_id NOT IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [sorted(set(out.groups.values())), sorted(earlier)],
        ).fetchall()
    )
    active = _active(con, q.model_id, q.since, set(out.group_narratives.values()))
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
    if earlier:
        out.active = _without(con, out.active, q.model_id, sorted(earlier))
    return out


def _without(con, active: list[StoredNarrative], model_id: str, doc_ids: list[str]) -> list:
    """These narratives as they are once ``doc_ids`` leave them: counted again (``counted``)
    where they hold one, and gone where nothing else is left."""
    holding = {nid for (nid,) in con.execute(
        "SELECT DISTINCT narrative_id FROM narrative_members "
        "WHERE doc_id IN (SELECT unnest(?::VARCHAR[]))", [doc_ids]).fetchall()}  # fmt: skip
    kept = []
    for stored in active:
        if stored.narrative_id not in holding:
            kept.append(stored)
            continue
        size, last_seen, vector_sum, parts = counted(con, stored.narrative_id, model_id, doc_ids)
        if size:
            kept.append(StoredNarrative(
                stored.narrative_id, size,
                stored.vector_sum if vector_sum is None else vector_sum, last_seen,
                stored.parts if parts is None else parts,
            ))  # fmt: skip
    return kept


def counted(con, narrative_id: int, model_id: str, leave_out: list[str] = ()) -> tuple:
    """(size, last date, vector sum, language parts [(lang, size, sum)]) of a narrative counted
    from its members but ``leave_out``: their latest lead vectors of ``model_id``, of the
    input most of them have ('original' on a tie), centred as the cluster stage centres
    them. A member with no such vector counts in the size alone; the sums are None where no
    member has one (hashed word vectors: nothing stored to add up)."""
    members = "FROM narrative_members m WHERE m.narrative_id = ? " \
              "AND m.doc_id NOT IN (SELECT unnest(?::VARCHAR[]))"  # fmt: skip
    size, last_seen = con.execute(
        f"SELECT count(*), max({seen_at_sql('e')}) FROM narrative_members m "
        "JOIN documents d ON d.doc_id = m.doc_id "
        "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version "
        "LEFT JOIN extractions e ON e.doc_id = d.doc_id AND e.version = d.current_version "
        "WHERE m.narrative_id = ? AND m.doc_id NOT IN (SELECT unnest(?::VARCHAR[]))",
        [narrative_id, list(leave_out)],
    ).fetchone()
    if not size:
        return 0, None, None, None
    vectors = "FROM embeddings e WHERE e.model_id = ? AND e.doc_id IN " \
              f"(SELECT m.doc_id {members})"  # fmt: skip
    params = [model_id, narrative_id, list(leave_out)]
    inputs = con.execute(
        f"SELECT e.input {vectors} GROUP BY 1 ORDER BY count(DISTINCT e.doc_id) DESC, "
        "e.input = 'original' DESC LIMIT 1",
        params,
    ).fetchall()
    if not inputs:
        return size, last_seen, None, None
    kind = inputs[0][0]
    rows = con.execute(
        f"""
        WITH latest AS (
            SELECT e.doc_id, arg_max(coalesce(e.lead_vector, e.vector), e.version) AS v,
                   max(e.version) AS version
            {vectors} AND e.input = ? GROUP BY 1
        )
        SELECT l.lang, x.v FROM latest x
        LEFT JOIN languages l ON l.doc_id = x.doc_id AND l.version = x.version ORDER BY x.doc_id
        """,
        [*params, kind],
    ).fetchall()
    means = language_means.load(con, model_id, kind)
    langs = [lang or "" for lang, _ in rows]
    centred = language_means.centre(np.asarray([v for _, v in rows]), langs, means, "lead")
    parts: dict[str, list] = {}
    for lang, vector in zip(langs, centred, strict=True):
        part = parts.setdefault(lang, [0, np.zeros_like(vector)])
        part[0] += 1
        part[1] = part[1] + vector
    return (size, last_seen, centred.sum(axis=0),
            [(lang, n, total) for lang, (n, total) in sorted(parts.items())])  # fmt: skip
