"""The embed stage's output: one vector (and a lead vector) per document version, and stored
vectors of identical texts to reuse."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from storage import means
from storage.bulk import insert_rows
from storage.outputs.base import Output, WriteContext, delete_versions, stored_hashes


@dataclass(slots=True)
class Embedding:
    """One document version's vector: unit length, pooled over ``chunks`` chunks of ``input``
    ('original' or 'translation') by the model ``model_id`` running on ``runtime``."""

    doc_id: str
    version: int
    model_id: str
    runtime: str
    input: str
    chunks: int
    truncated: bool
    text_hash: str
    vector: list[float]
    reused_from: str | None = None
    lead_vector: list[float] | None = None  # title + lead only: the story, for narratives

    @property
    def counts(self) -> dict[str, int]:
        out = {"chunks": self.chunks}
        if self.reused_from == self.doc_id:  # a forced run, the text unchanged
            out["reused_its_stored_vector"] = 1
        elif self.reused_from:
            out["reused_from_a_copy"] = 1
        if self.truncated:
            out["truncated_over_max_chunks"] = 1
        return out


@dataclass(frozen=True, slots=True)
class VectorReuseLookup:
    """Stored vectors of documents with the same normalised input text, same model and
    input. Answer: {text_hash: ReusableVector}."""

    model_id: str
    input: str
    hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReusableVector:
    doc_id: str
    chunks: int
    truncated: bool
    runtime: str
    vector: list[float]
    lead_vector: list[float] | None


COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage_version", "VARCHAR"),
    ("model_id", "VARCHAR"),
    ("runtime", "VARCHAR"),
    ("dim", "INTEGER"),
    ("input", "VARCHAR"),
    ("chunks", "INTEGER"),
    ("truncated", "BOOLEAN"),
    ("text_hash", "VARCHAR"),
    ("reused_from", "VARCHAR"),
    ("embedded_at", "TIMESTAMPTZ"),
    ("vector", "FLOAT[]"),
    ("lead_vector", "FLOAT[]"),
]


def write(con, ctx: WriteContext, items: list[Embedding], _extras: list) -> None:
    insert_rows(
        con,
        "embeddings",
        COLUMNS,
        [
            (
                r.doc_id,
                r.version,
                ctx.stage_version,
                r.model_id,
                r.runtime,
                len(r.vector),
                r.input,
                r.chunks,
                r.truncated,
                r.text_hash,
                r.reused_from,
                ctx.now,
                r.vector,
                r.lead_vector,
            )
            for r in items
        ],  # fmt: skip
    )
    # the language means follow the vectors, in the same transaction
    for model_id, input_kind in sorted({(r.model_id, r.input) for r in items}):
        means.refresh(con, model_id, input_kind, ctx.now)


def vector_reuse(con: duckdb.DuckDBPyConnection, q: VectorReuseLookup) -> dict[str, ReusableVector]:
    if not q.hashes:
        return {}
    rows = con.execute(
        """
        SELECT text_hash, arg_min(doc_id, embedded_at), arg_min(chunks, embedded_at),
               arg_min(truncated, embedded_at), arg_min(runtime, embedded_at),
               arg_min(vector, embedded_at), arg_min(lead_vector, embedded_at)
        FROM embeddings
        WHERE model_id = ? AND input = ? AND text_hash IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY 1
        """,
        [q.model_id, q.input, list(q.hashes)],
    ).fetchall()
    return {r[0]: ReusableVector(*r[1:]) for r in rows}


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take out these document versions' embeddings (see Output.withdraw)."""
    delete_versions(con, "embeddings", keys)


def fingerprint(con, items: list[Embedding]) -> dict:
    """What later stages read of an embedding: the vector and the lead vector of the model
    and input the stage ran (see Output.fingerprint); another model's vectors do not count."""
    out = {}
    for ran in sorted({(r.model_id, r.input) for r in items}):
        keys = [(r.doc_id, r.version) for r in items if (r.model_id, r.input) == ran]
        out.update(stored_hashes(con, "embeddings", "x.vector, x.lead_vector", keys,
                                 "AND x.model_id = ? AND x.input = ?", ran))  # fmt: skip
    return out


OUTPUT = Output(
    "embed",
    records=(Embedding,),
    write=write,
    answers={VectorReuseLookup: vector_reuse},
    withdraw=withdraw,
    fingerprint=fingerprint,
)
