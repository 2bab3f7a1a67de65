"""The stage runner: every stage over the documents that still need it, one transaction a batch.

For each batch: read the inputs (a short read), ``prepare`` with the database closed, answer
the stage's lookups (a short read), ``process`` with the database closed, write the results
(one transaction). The write's connection then reads the next batch, and its lookups when the
stage has no ``prepare``, so a batch costs one open of the file, not three. The file is never
open while a model or any other CPU work runs, so readers (``narrascope sql``, the dashboard)
get their turn between batches; other writers are kept out for the whole run by the writer
lock (storage/lock.py).

Failures (the contract: pipeline/contract.py):
- an environment error (pipeline/errors.py) stops the stage, and the run, at once: nothing of
  the batch is written, no document is blamed, the next run retries everything;
- a whole-batch stage (dedup, cluster) that raises stops the same way: its batch is never
  split, since a document processed without the rest of its batch would see the wrong state;
- any other stage that raises has its batch retried one document at a time; the documents
  that raise on their own are recorded as stage errors and retried on later runs, up to
  ``max_attempts`` runs, then rejected (``stage_error``) and listed by ``status``.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pipeline import interrupt
from pipeline.contract import Stage, stage_settings
from pipeline.errors import StageFailed, is_environment_error
from pipeline.reports import ProcessReport, StageReport
from pipeline.stages import downstream
from storage import connect
from storage.db import transaction
from storage.lock import writer_lock
from storage.outputs import answer, reopen
from storage.records import BatchResult, DocInput, StageError
from storage.runs import new_run_id
from storage.stage_inputs import PendingKeys, backlog, load_inputs
from storage.stages import MAX_ATTEMPTS, reprocessing, reset_stage, write_results

log = logging.getLogger(__name__)


@dataclass
class _LaterStages:
    """Document versions that the stages depending on this one had processed, taken out of
    their results in this run (a forced rerun, a new stage version): ``withdrawn`` ones were
    rejected now; ``sent_back`` ones changed what those stages read, and they redo them."""

    kind: str  # "withdrawn" or "sent_back"
    n: int

    @property
    def counts(self) -> dict[str, int]:
        return {_LATER_STAGES[self.kind]: self.n}


_LATER_STAGES = {
    "withdrawn": "withdrawn_from_later_stages",
    "sent_back": "sent_back_to_later_stages",
}


def _answer(db_path, lookups: list) -> dict:
    if not lookups:
        return {}
    with connect(db_path, read_only=True) as con:
        return answer(con, lookups)


def _attempt(db_path, stage: Stage, batch: list[DocInput]) -> tuple[list, list]:
    """prepare, lookups, process for one batch: (items, batch-level outputs)."""
    prepared = stage.prepare(batch)
    found = _answer(db_path, stage.lookups(batch, prepared))
    return run_process(stage, batch, found, prepared)


def run_process(stage: Stage, batch: list[DocInput], found: dict, prepared) -> tuple[list, list]:
    """``process`` for one batch whose lookups are answered: (items, batch-level outputs)."""
    out = stage.process(batch, found, prepared)
    items, extras = (out.items, out.outputs) if isinstance(out, BatchResult) else (out, [])
    if len(items) != len(batch):
        raise StageFailed(
            stage.name,
            RuntimeError(f"returned {len(items)} results for {len(batch)} inputs (a stage bug)"),
        )
    return list(items), list(extras)


def _process(db_path, stage: Stage, batch: list[DocInput], attempt=None,
             found: dict | None = None) -> tuple[list, list]:  # fmt: skip
    """Run one batch; isolate the documents that make a per-document stage raise.
    ``attempt(batch)`` runs a batch (default: ``_attempt`` against ``db_path``). ``found``:
    the batch's lookups, already answered (by ``_next_batch``), for its first attempt."""
    retry = attempt or (lambda part: _attempt(db_path, stage, part))
    # prepared=None: _next_batch answers lookups only for a stage with no prepare
    first = retry if found is None else (lambda part: run_process(stage, part, found, None))
    try:
        return first(batch)
    except StageFailed:
        raise
    except Exception as err:
        interrupt.check(err)  # a stop signal, not the documents' failure
        if is_environment_error(err):
            raise StageFailed(stage.name, err) from err
        if stage.whole_batch:
            culprit = _culprit(db_path, stage, batch)
            raise StageFailed(
                stage.name, err, documents=len(batch),
                culprit=StageError.of(culprit, err) if culprit is not None else None,
            ) from err  # fmt: skip
        if len(batch) == 1:
            return [StageError.of(batch[0], err)], []
    items: list = []
    extras: list = []
    for doc in batch:
        one, more = _process(db_path, stage, [doc], retry)
        items += one
        extras += more
    errors = {i.error for i in items if isinstance(i, StageError)}
    if len(errors) == 1 and len(items) >= 3 and all(isinstance(i, StageError) for i in items):
        # every document failed the same way: that is the stage's setup, not the documents
        raise StageFailed(stage.name, RuntimeError(errors.pop()), documents=len(batch))
    return items, extras


def _culprit(db_path, stage: Stage, batch: list[DocInput]) -> DocInput | None:
    """The document a whole-batch stage's failing batch fails from: the last one of the
    shortest failing prefix (a binary search; nothing is written). None when a prefix fails
    for an environment reason instead."""
    lo, hi = 1, len(batch)
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            _attempt(db_path, stage, batch[:mid])
            lo = mid + 1
        except Exception as err:  # noqa: BLE001 - only looking for where it starts failing
            interrupt.check(err)
            if is_environment_error(err):
                return None
            hi = mid
    return batch[lo - 1]


def _write(db_path, stage: Stage, items: list, extras: list, run_id, max_attempts,
           then=None, written=None, dependents=(), again=True):  # fmt: skip
    """Write a batch's results (one transaction). A write that fails (disk full, I/O error)
    has been rolled back: the stage stops as for any other environment error.
    ``written(counts)`` is told what the committed write did, before ``then(con)`` reads on
    in the same connection (the next batch's inputs: one open of the file a batch instead of
    three); returns what ``then`` returned."""
    try:
        with connect(db_path) as con:
            counts = write_results(con, stage.name, stage.version, items, extras,
                                   run_id=run_id, max_attempts=max_attempts,
                                   dependents=dependents, again=again)  # fmt: skip
            if written is not None:
                written(counts)
            return _read_ahead(con, then)
    except Exception as err:
        interrupt.check(err)
        if is_environment_error(err):
            raise StageFailed(stage.name, err) from err
        raise


def _read_ahead(con, then):
    """``then(con)`` after a committed write; None when it fails, so that the caller reads on
    its own (where a failing read is handled as any other) and the write still counts."""
    if then is None:
        return None
    try:
        return then(con)
    except Exception as err:  # noqa: BLE001 - the caller's own read reports it
        log.debug("reading ahead after a write failed (%s); reading again", err)
        return None


def record(db_path, stage: Stage, stage_report: StageReport, items: list, extras: list, run_id,
           max_attempts, then=None):  # fmt: skip
    """Write one processed batch (one transaction) and add it to the stage's report; returns
    what ``then(con)`` read after the write in the same connection (see ``_write``)."""

    def written(counts: dict) -> None:  # counted as soon as committed, before reading on
        for failure in (r for r in items if isinstance(r, StageError)):
            log.warning("stage %s failed on %s: %s", stage.name, failure.url, failure.error)
        stage_report.count([r for r in items if not isinstance(r, StageError)] + extras)
        stage_report.done += counts["done"]
        stage_report.rejected += counts["rejected"]
        stage_report.retrying += counts["retrying"]
        for kind in ("withdrawn", "sent_back"):
            if counts.get(kind):
                stage_report.count([_LaterStages(kind, counts[kind])])

    return _write(db_path, stage, items, extras, run_id, max_attempts, then, written,
                  stage_report.dependents, stage_report.again)  # fmt: skip


def _reopen(db_path, pipeline: list[Stage]) -> dict[str, int]:
    """Let every configured stage reopen what waited for it (an installed model), with the
    documents its downstream stages rejected for want of it, whatever stages run now."""
    reopened: dict[str, int] = {}
    for stage in pipeline:
        requests = stage.reopen()
        if not requests:
            continue
        dependents = downstream(stage.name, pipeline)
        with connect(db_path) as con, transaction(con):
            n = sum(reopen(con, r, stage.name, dependents) for r in requests)
        if n:
            reopened[stage.name] = n
    return reopened


def run_stages(
    db_path: str | Path | None,
    stages: list[Stage],
    *,
    pipeline: list[Stage] | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    force: bool | list[str] = (),
    run_id: str | None = None,
    progress: bool = False,
    report: ProcessReport | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    deadline: float | None = None,
    run_stage=None,
) -> ProcessReport:
    """Process each stage's backlog in order, holding the database's writer lock.

    ``pipeline`` is every configured stage (default: ``stages``): what a reopened stage's
    downstream is. ``force`` names the stages to redo for every document (``True``: all of
    ``stages``; a stage with a ``force_refusal`` refuses). ``report`` is filled in as the
    run goes, so a caller still has what was done when a stage stops with ``StageFailed``.

    ``deadline`` (wall-clock, ``time.time()``): no batch is started that is expected to end
    after it (at the rate of the stage's earlier batches in this run); the stages stop there
    and ``report.left`` says how many documents each would still process.

    ``run_stage`` processes one stage's backlog (default: ``_run_stage``, in this process;
    pipeline/engines/ray_engine.py passes its own, same signature)."""
    report = report if report is not None else ProcessReport()
    run_id = run_id or new_run_id("process")
    pipeline = pipeline or stages
    redo = {s.name for s in stages} if force is True else set(force or ())
    refusals = [
        f"{s.name}: {s.force_refusal}" for s in stages if s.name in redo and s.force_refusal
    ]
    if refusals:
        raise ValueError(
            f"--force does not apply to {'; '.join(refusals)} (pick the stages to redo with --stage)"
        )
    run_stage = run_stage or _run_stage
    with writer_lock(db_path):
        reopened = _reopen(db_path, pipeline)
        for stage in stages:
            stage_report = StageReport(
                stage.name,
                stage.version,
                reopened=reopened.get(stage.name, 0),
                settings=stage_settings(stage),
                dependents=downstream(stage.name, pipeline),
            )
            report.stages.append(stage_report)
            finished = run_stage(db_path, stage, stage_report, stage.name in redo, limit,
                                 batch_size, run_id, progress, max_attempts, deadline)  # fmt: skip
            if not finished:
                with connect(db_path, read_only=True) as con:
                    report.left = {s.name: backlog(con, s.name, s.version, s.requires, run_id)
                                   for s in stages}  # fmt: skip
                log.warning("processing stopped at the deadline: %s", report.left)
                break
    return report


def _next_batch(con, *, stage: Stage, keys: PendingKeys, size: int
                ) -> tuple[list[DocInput], dict | None]:  # fmt: skip
    """The stage's next ``size`` pending documents, and their lookups answered in the same
    read when the stage has no ``prepare`` to run first (None otherwise)."""
    taken = keys.take(con, size)
    batch = load_inputs(con, taken, with_html=stage.needs_html, located=keys.located,
                        with_translation=stage.needs_translation)  # fmt: skip
    keys.served(len(taken))
    if not batch or type(stage).prepare is not Stage.prepare:
        return batch, None
    try:
        return batch, answer(con, stage.lookups(batch, None))
    except Exception as err:  # noqa: BLE001 - the batch's attempt asks again and handles it
        log.debug("answering %s's lookups with its batch failed (%s)", stage.name, err)
        return batch, None


def _batches(stage: Stage, run_id):
    """``next_batch(con, size=N)`` over the stage's pending keys, read afresh from here."""
    keys = PendingKeys(stage.name, stage.version, stage.requires, run_id)
    return partial(_next_batch, stage=stage, keys=keys)


def _run_stage(db_path, stage, stage_report, redo, limit, batch_size, run_id, progress,
               max_attempts, deadline=None) -> bool:  # fmt: skip
    """Process the stage's backlog; False when it stopped at the deadline. A batch holds
    ``batch_size`` times the stage's ``batch_factor`` documents."""
    batch_size *= stage.batch_factor
    if redo:
        with connect(db_path) as con:
            reset_stage(con, stage.name)
    with connect(db_path, read_only=True) as con:
        todo = backlog(con, stage.name, stage.version, stage.requires, run_id)
        stage_report.again = reprocessing(con, stage.name, stage.version, stage_report.dependents)
    if limit is not None:
        todo = min(todo, limit)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=todo, desc=stage.name, unit="doc", file=sys.stderr, leave=False)
    started = time.perf_counter()
    remaining = todo
    next_batch = _batches(stage, run_id)
    batch = found = None  # the next batch and its lookups, when the last write read them ahead
    try:
        while remaining > 0:
            interrupt.check()  # a stop signal that a read let pass (pipeline/interrupt.py)
            if deadline is not None:
                spent, handled = time.perf_counter() - started, todo - remaining
                expected = spent / handled * min(batch_size, remaining) if handled else 0.0
                if time.time() + expected > deadline:
                    return False
            if batch is None:
                with connect(db_path, read_only=True) as con:
                    batch, found = next_batch(con, size=min(batch_size, remaining))
            if not batch:
                break
            try:
                items, extras = _process(db_path, stage, batch, found=found)
            except StageFailed as failed:
                if failed.culprit is None:
                    raise
                with connect(db_path) as con:  # counted: after max_attempts it is set aside
                    counts = write_results(con, stage.name, stage.version, [failed.culprit],
                                           run_id=run_id, max_attempts=max_attempts,
                                           dependents=stage_report.dependents)  # fmt: skip
                if not counts["rejected"]:
                    raise
                # set aside (stage_error): the stage goes on without it, from a fresh read
                log.warning("stage %s set %s aside after %d failed runs: %s", stage.name,
                            failed.culprit.url, max_attempts, failed.culprit.error)  # fmt: skip
                stage_report.rejected += 1
                if counts.get("withdrawn"):
                    stage_report.count([_LaterStages("withdrawn", counts["withdrawn"])])
                remaining -= 1
                if bar:
                    bar.update(1)
                next_batch = _batches(stage, run_id)
                batch = found = None
                continue
            left = remaining - len(batch)
            ahead = partial(next_batch, size=min(batch_size, left)) if left > 0 else None
            done = len(batch)
            batch, found = record(db_path, stage, stage_report, items, extras, run_id,
                                  max_attempts, then=ahead) or (None, None)  # fmt: skip
            remaining = left
            if bar:
                bar.update(done)
        return True
    finally:
        stage_report.seconds = time.perf_counter() - started
        if bar:
            bar.close()
