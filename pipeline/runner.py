"""The stage runner: every stage over the documents that still need it, one transaction a batch."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from storage import connect
from storage.lookups import answer
from storage.records import Rejection
from storage.stages import (
    backlog,
    load_inputs,
    pending,
    reopen_no_model,
    reset_stage,
    write_results,
)

log = logging.getLogger(__name__)


@dataclass
class StageReport:
    stage: str
    version: str
    done: int = 0
    rejected: int = 0
    seconds: float = 0.0
    reopened: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, results: list) -> None:
        """Add up what the results say they did (cache hits, reused copies, ...)."""
        for result in results:
            for key, n in getattr(result, "counts", {}).items():
                self.counters[key] = self.counters.get(key, 0) + n

    @property
    def docs_per_s(self) -> float:
        return (self.done + self.rejected) / self.seconds if self.seconds else 0.0


@dataclass
class ProcessReport:
    stages: list[StageReport] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            s.stage: {
                "version": s.version,
                "done": s.done,
                "rejected": s.rejected,
                "seconds": round(s.seconds, 2),
                **({"reopened": s.reopened} if s.reopened else {}),
                **s.counters,
            }
            for s in self.stages
        }


def _safe_process(stage, batch, found=None) -> list:
    """Run a batch; if the stage raises, isolate the failing documents one by one."""
    try:
        results = stage.process(batch) if found is None else stage.process(batch, found)
        if len(results) != len(batch):
            raise RuntimeError(
                f"stage {stage.name} returned {len(results)} results for {len(batch)} inputs"
            )
        return results
    except Exception:  # noqa: BLE001 - a stage bug must not stop the batch; recorded below
        if len(batch) == 1:
            doc = batch[0]
            err = sys.exc_info()[1]
            log.warning("stage %s failed on %s: %s", stage.name, doc.url, err)
            return [Rejection.of(stage.name, doc, "stage_error", f"{type(err).__name__}: {err}")]
        return [r for doc in batch for r in _safe_process(stage, [doc], found)]


def run_stages(
    db_path: str | Path | None,
    stages: list,
    *,
    limit: int | None = None,
    batch_size: int = 64,
    force: bool = False,
    run_id: str | None = None,
    progress: bool = False,
) -> ProcessReport:
    """Process each stage's backlog in order. The database is open only while a batch is read
    or written, never while a model works, so other processes can get at it in between.

    A stage may ask storage for what it needs before a batch (``lookups(batch)``: cached
    translations, reusable work); the answers are passed to ``process(batch, found)``. A
    stage with ``reopen_langs()`` gets documents it could not handle before (no model) back."""
    refusals = [f"{s.name}: {s.force_refusal}" for s in stages if getattr(s, "force_refusal", "")]
    if force and refusals:
        raise ValueError(
            f"--force does not apply to {'; '.join(refusals)} (pick the stages to redo with --stage)"
        )
    report = ProcessReport()
    for stage in stages:
        stage_report = StageReport(stage.name, stage.version)
        report.stages.append(stage_report)
        if force:
            with connect(db_path) as con:
                reset_stage(con, stage.name)
        reopen_langs = getattr(stage, "reopen_langs", None)
        if reopen_langs is not None:
            dependents = [s.name for s in stages if stage.name in s.requires]
            langs = reopen_langs()
            with connect(db_path) as con:
                stage_report.reopened = reopen_no_model(con, stage.name, langs, dependents)
        with connect(db_path) as con:
            todo = backlog(con, stage.name, stage.version, stage.requires)
        if limit is not None:
            todo = min(todo, limit)
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=todo, desc=stage.name, unit="doc", file=sys.stderr, leave=False)
        started = time.perf_counter()
        remaining = todo
        while remaining > 0:
            with connect(db_path) as con:
                keys = pending(
                    con, stage.name, stage.version, stage.requires, min(batch_size, remaining)
                )
                batch = load_inputs(con, keys, with_html=stage.needs_html)
                found = answer(con, stage.lookups(batch)) if hasattr(stage, "lookups") else None
            if not batch:
                break
            results = _safe_process(stage, batch, found)
            stage_report.count(results)
            with connect(db_path) as con:
                counts = write_results(con, stage.name, stage.version, results, run_id=run_id)
            stage_report.done += counts["done"]
            stage_report.rejected += counts["rejected"]
            remaining -= len(batch)
            if bar:
                bar.update(len(batch))
        stage_report.seconds = time.perf_counter() - started
        if bar:
            bar.close()
    return report
