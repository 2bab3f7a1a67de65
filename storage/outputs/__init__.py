"""Where each stage's results go: one module per stage output, registered once, here.

A stage output module declares, side by side, its result records, the lookups its stage asks
before a batch and their typed answers, the columns and the set-based writer (see
``storage.outputs.base.Output``). The runner and storage route every record, lookup and
reopen request by its type through ``OUTPUTS``; nothing else needs to know a stage's tables.
Adding a stage: a module here (records, writer, lookups), one line in ``OUTPUTS``, a
migration for its tables (storage/migrations.py), and the stage itself (pipeline/stages.py).
"""

from __future__ import annotations

import duckdb

from storage.outputs import dedup, embed, extract, langid, narratives, signals, translate
from storage.outputs.base import Output, WriteContext

OUTPUTS: tuple[Output, ...] = (
    extract.OUTPUT,
    langid.OUTPUT,
    signals.OUTPUT,
    translate.OUTPUT,
    embed.OUTPUT,
    dedup.OUTPUT,
    narratives.OUTPUT,
)

_BY_RECORD = {t: o for o in OUTPUTS for t in (*o.records, *o.batch_records)}
_ANSWERS = {t: fn for o in OUTPUTS for t, fn in o.answers.items()}
_REOPEN = {t: fn for o in OUTPUTS for t, fn in o.reopen.items()}
_BY_STAGE = {o.stage: o for o in OUTPUTS}


def output_for(record_type: type) -> Output:
    try:
        return _BY_RECORD[record_type]
    except KeyError:
        raise TypeError(
            f"no stage output writes {record_type.__name__}: register its module in "
            "storage/outputs/__init__.py"
        ) from None


def write_outputs(con, ctx: WriteContext, items: list, extras: list) -> None:
    """Hand each output module its records of a batch (call inside the batch's transaction)."""
    grouped: dict[Output, tuple[list, list]] = {}
    for item in items:
        grouped.setdefault(output_for(type(item)), ([], []))[0].append(item)
    for extra in extras:
        grouped.setdefault(output_for(type(extra)), ([], []))[1].append(extra)
    for output, (its, exs) in grouped.items():
        output.write(con, ctx, its, exs)


def answer(con: duckdb.DuckDBPyConnection, lookups: list) -> dict:
    """Each lookup (a frozen record) mapped to its typed answer."""
    out = {}
    for q in lookups:
        fn = _ANSWERS.get(type(q))
        if fn is None:
            raise TypeError(f"no stage output answers {type(q).__name__}")
        out[q] = fn(con, q)
    return out


def reopen(con: duckdb.DuckDBPyConnection, request, stage: str, dependents: list[str]) -> int:
    """Carry out a stage's reopen request; the number of documents made pending again."""
    fn = _REOPEN.get(type(request))
    if fn is None:
        raise TypeError(f"no stage output reopens {type(request).__name__}")
    return fn(con, request, stage, dependents)


def withdraw(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, int]], stages: list[str],
             now) -> None:  # fmt: skip
    """Take these document versions ((doc_id, version) pairs) out of the named stages'
    results, in the order given (call inside the transaction that rejects them)."""
    for name in stages:
        output = _BY_STAGE.get(name)
        if output is not None and output.withdraw is not None:
            output.withdraw(con, keys, now)


def fingerprinted(stage: str) -> bool:
    """Whether the stage's output declares a ``fingerprint``."""
    output = _BY_STAGE.get(stage)
    return output is not None and output.fingerprint is not None


def fingerprints(con: duckdb.DuckDBPyConnection, stage: str, items: list) -> dict:
    """(doc_id, version) -> the stage's ``Output.fingerprint`` of its stored result for each
    record's document version; empty for a stage that declares none."""
    output = _BY_STAGE.get(stage)
    if output is None or output.fingerprint is None or not items:
        return {}
    return output.fingerprint(con, items)


__all__ = [
    "OUTPUTS",
    "Output",
    "WriteContext",
    "answer",
    "fingerprinted",
    "fingerprints",
    "output_for",
    "reopen",
    "withdraw",
    "write_outputs",
]
