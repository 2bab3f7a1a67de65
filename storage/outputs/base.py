"""What a stage output module declares: its records, its writer, and the lookups it answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from storage.longtext import by_row_id


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
      stage on a forced rerun or by a stage it depends on (storage/stages.py, ``withdraw``);
    - ``fingerprint(con, items)``: (doc_id, version) -> a hash of what the stages that depend
      on this one read of the stored result for each record's document version (absent where
      none is stored). A document version processed again (a forced rerun, a new stage
      version) whose fingerprint changed is withdrawn from the later stages, which then redo
      it. None: a change of this stage's result leaves the later stages' results as they are.
    """

    stage: str
    records: tuple[type, ...]
    write: Callable
    batch_records: tuple[type, ...] = ()
    answers: Mapping[type, Callable] = field(default_factory=lambda: MappingProxyType({}))
    reopen: Mapping[type, Callable] = field(default_factory=lambda: MappingProxyType({}))
    withdraw: Callable | None = None
    fingerprint: Callable | None = None


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


def stored_hashes(con, table: str, columns: str, keys: list[tuple[str, int]], where: str = "",
                  params: tuple = ()) -> dict[tuple[str, int], int]:  # fmt: skip
    """(doc_id, version) -> DuckDB's ``hash`` of ``columns`` (SQL over ``x``, the table) in
    ``table``'s row of each document version; ``where`` ("AND ...", with ``params``) narrows
    the rows. The rows are found by their key columns, then read by row id
    (storage/longtext.py), so that long texts are not decompressed for the whole table."""
    if not keys:
        return {}
    rows = con.execute(
        f"SELECT x.rowid, x.doc_id, x.version FROM {table} x JOIN {VERSIONS} "
        f"ON x.doc_id = k.doc_id AND x.version = k.version {where}",
        [*versions(keys), *params],
    ).fetchall()
    found = by_row_id(con, table, (f"hash({columns})",), rows)
    return {key: value[0] for key, value in found.items()}
