"""What a stage output module declares: its records, its writer, and the lookups it answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What every writer gets besides its rows: the stage version the rows are recorded
    with, the run, and one timestamp for the whole batch."""

    stage: str
    stage_version: str
    run_id: str | None
    now: datetime


@dataclass(frozen=True, eq=False)
class Output:
    """Where one stage's results go, declared once in the stage's storage module.

    - ``records``: per-document result types (one per input document, in a stage's results);
    - ``batch_records``: batch-level outputs (``BatchResult.outputs``), e.g. narrative
      merges, written in the same transaction;
    - ``write(con, ctx, items, extras)``: writes a whole batch with set-based statements;
    - ``answers``: lookup type -> ``answer(con, lookup)``, the typed answer a stage gets
      before ``process``;
    - ``reopen``: reopen-request type -> ``reopen(con, request, stage, dependents)``, which
      makes documents pending again (e.g. after a model was installed) and returns how many;
    - ``withdraw(con, keys, now)``: takes out what the stage stored from these document
      versions ((doc_id, version) pairs) when one is rejected after it was processed, by this
      stage on a forced rerun or by a stage it depends on (storage/stages.py, ``withdraw``).
    """

    stage: str
    records: tuple[type, ...]
    write: Callable
    batch_records: tuple[type, ...] = ()
    answers: Mapping[type, Callable] = field(default_factory=lambda: MappingProxyType({}))
    reopen: Mapping[type, Callable] = field(default_factory=lambda: MappingProxyType({}))
    withdraw: Callable | None = None


#: document versions as a table ``k`` (doc_id, version) in SQL; parameters: ``versions(keys)``
VERSIONS = "(SELECT unnest(?::VARCHAR[]) AS doc_id, unnest(?::INTEGER[]) AS version) k"


def versions(keys: list[tuple[str, int]]) -> list[list]:
    """The parameters of ``VERSIONS`` for (doc_id, version) pairs."""
    return [[d for d, _ in keys], [v for _, v in keys]]


def delete_versions(con, table: str, keys: list[tuple[str, int]]) -> None:
    """Delete ``table``'s rows of these document versions ((doc_id, version) pairs)."""
    con.execute(
        f"DELETE FROM {table} x USING {VERSIONS} "
        "WHERE x.doc_id = k.doc_id AND x.version = k.version",
        versions(keys),
    )
