"""The stages on a Ray cluster: ``process`` as Ray Data ``map_batches`` steps, one writer here.

For each stage the driver (this process) does everything that touches the database, as the
local runner (pipeline/runner.py) does: it reads the pending keys and the inputs, answers the
stage's ``lookups`` in one short read-only connection, and writes each batch's results in one
transaction with the same set-based writes (``runner.record``). Only ``process`` runs on the
cluster: a window of batches becomes a dataset of one row per batch, mapped by ``_StageWorker``.
Model stages (langid, signals, translate, embed) run in an actor pool, so each worker loads its
model once per window; extraction runs as plain tasks. Results come back in batch order and are
written in that order, so DuckDB keeps one writer and the file is open only briefly.

``prepare`` runs on the driver, before the lookups: the lookups depend on it (translate's
sentence plans) and must be answered from the one database before ``process`` starts. The
lookups of a window are answered before any of its batches is written, so a text that repeats
in a later batch of the same window is embedded (translated) again; before that batch is
written its lookups are answered again and ``stage.reuse`` makes such results the earlier
batch's copies (``reused_from``), as the local runner writes them. What still differs: the
work is done twice, and translate's sentence-cache hits count only the cache as it was when
the window started. Every node needs narrascope and the stages' models (``narrascope models
install`` for translation) installed, as this machine does.

Whole-batch stages (``stage.whole_batch``: dedup, cluster) stay on the driver, in the local
runner. Their results depend on state built up batch by batch -- dedup's LSH index of every
earlier document, the incremental clustering's centroids -- so batch N cannot start before
batch N-1 is written: there is nothing to run side by side, and shipping the index to a worker
for each batch would only add copying to a sequential computation.

Failures keep the local runner's meaning. The worker isolates the documents that make a stage
raise exactly as the runner does (``runner._process``), recording them as stage errors; an
environment error, or a batch whose every document fails the same way, comes back as
``StageFailed`` and stops the stage with nothing of that batch written. A worker that dies
(killed, out of memory) is restarted and its batch retried, ``RayEngine.max_restarts`` times;
past that the Ray error stops the stage as an environment error: batches written before it
stay, nothing of the others is written, and the next run processes them.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, is_dataclass, replace

import numpy as np

from pipeline import interrupt
from pipeline.contract import Stage
from pipeline.engines.ray_support import (
    ClusterWatch,
    LostCluster,
    portable,
    ray_error,
    reachable,
    stage_failed,
)
from pipeline.errors import StageFailed, is_environment_error
from pipeline.runner import _answer, _process, _run_stage, record, run_process
from storage import connect
from storage.stage_inputs import load_inputs, pending
from storage.stages import reprocessing, reset_stage

log = logging.getLogger(__name__)

#: stages whose workers hold a model: an actor pool, each actor loads it once
ACTOR_STAGES = frozenset({"langid", "signals", "translate", "embed"})
#: the default of RayEngine.max_restarts
MAX_RESTARTS = 3
#: batches a window of a stage that reads the pages' HTML holds (see RayEngine.run_stage)
HTML_WINDOW = 4
#: and the pickled bytes past which such a window closes early (RayEngine.html_window_bytes)
HTML_WINDOW_BYTES = 128 * 1024**2

INSTALL_HINT = (
    "the Ray engine needs Ray: pip install 'narrascope[ray]' (or pip install 'ray[data]'), "
    "on this machine and on every node of the cluster"
)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data comes with the [data] extra only
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return ray


class _StageWorker:
    """One Ray Data worker: unpickles the stage once (an actor keeps it, and its model,
    for every batch it is given) and runs ``process`` on whole rows of pickled batches."""

    def __init__(self, stage_bytes: bytes) -> None:
        self.stage: Stage = pickle.loads(stage_bytes)

    def __call__(self, rows: dict) -> dict:
        payloads = [self.run(bytes(p)) for p in rows["payload"]]
        return {"index": rows["index"], "payload": np.array(payloads, dtype=object)}

    def run(self, payload: bytes) -> bytes:
        batch, found, prepared = pickle.loads(payload)
        stage = self.stage
        try:
            items, extras = _process(
                None, stage, batch, lambda part: run_process(stage, part, found, prepared)
            )
        except StageFailed as failed:
            return pickle.dumps(("failed", *portable(failed)))
        return pickle.dumps(("done", items, extras))


def _worker_stage(stage: Stage, cpus_per_worker: float) -> Stage:
    """The stage as a worker runs it: a fresh copy (no model or route the driver loaded goes
    over the wire), and a model that would start a thread per core of the node gets as many
    threads as its worker has CPUs, so workers do not oversubscribe the node."""
    if not is_dataclass(stage):
        return stage
    if getattr(stage, "threads", None) == 0:
        return replace(stage, threads=max(1, math.ceil(cpus_per_worker)))
    return replace(stage)


@dataclass
class RayEngine:
    """Runs stages on the Ray cluster at ``address`` (``None``: a local instance with
    ``num_cpus`` CPUs; ``"auto"``: the cluster this machine belongs to; ``HOST:PORT``: that
    cluster's head node). ``window`` batches are read and sent at a time: each window is one
    Ray Data run, so memory stays bounded and the actors load their models once per window."""

    address: str | None = None
    num_cpus: int | None = None
    window: int = 64
    object_store_memory: int = 256 * 1024**2
    #: how often a dead worker is restarted and its batch retried before the stage stops
    max_restarts: int = MAX_RESTARTS
    #: a window of pages' HTML closes once its batches, pickled, pass this many bytes (the
    #: batch that passes it included: one batch at least, however big)
    html_window_bytes: int = HTML_WINDOW_BYTES

    def __post_init__(self) -> None:
        self._ray = None
        self._watch: ClusterWatch | None = None

    def start(self) -> RayEngine:
        """Connect to (or start) Ray; quick, quiet, no dashboard."""
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.address:
                reachable(self.address)
                kwargs["address"] = self.address
            else:
                # "local": a new instance here, never a cluster that RAY_ADDRESS or an earlier
                # `ray start` on this machine points at
                kwargs["address"] = "local"
                kwargs["num_cpus"] = self.num_cpus
                kwargs["object_store_memory"] = self.object_store_memory
            # Ray's own log lines on this driver (C++ errors it also raises, Ray Data's notes
            # for each window) would bury narrascope's one error line: set RAY_BACKEND_LOG_LEVEL
            # (C++, when joining a cluster) or the "ray.data" logger's level to see them
            quiet = {} if "RAY_BACKEND_LOG_LEVEL" in os.environ or not self.address else {
                "RAY_BACKEND_LOG_LEVEL": "fatal"}  # fmt: skip
            try:  # and its line saying so goes nowhere (fd 2 closed: nothing to silence)
                saved = os.dup(2) if quiet else -1
            except OSError:
                quiet, saved = {}, -1
            os.environ.update(quiet)
            # ray.init installs a SIGTERM handler of its own (sys.exit(15)): a stop signal
            # must still roll back, record the run 'interrupted' and exit 143
            handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
            try:
                if quiet:
                    sys.stderr.flush()
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 2)
                    os.close(null)
                ray.init(**kwargs)
            finally:
                for s, h in handlers.items():
                    if h is not None and threading.current_thread() is threading.main_thread():
                        signal.signal(s, h)
                if quiet:
                    os.dup2(saved, 2)
                    os.close(saved)
                    os.environ.pop("RAY_BACKEND_LOG_LEVEL", None)
            logging.getLogger("ray.data").setLevel(logging.ERROR)
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            # a cluster that dies must end the run in one line, not Ray's (a ray:// client
            # may not reach the head's own address: Ray Client has its own timeouts)
            if self.address and "://" not in self.address:
                self._watch = ClusterWatch(ray.get_runtime_context().gcs_address)
                self._watch.start()
        self._ray = ray
        return self

    def _check(self) -> None:
        if self._watch is not None:
            self._watch.check()

    def _waiting(self):
        return self._watch.waiting() if self._watch is not None else nullcontext()

    def pool(self) -> tuple[int, float]:
        """(workers, CPUs each) from the cluster's CPUs: one worker per CPU, each asking for
        a little less than a whole CPU, so that Ray Data's own tasks still find room (a pool
        that takes every CPU waits forever for a task slot on a 2-CPU machine)."""
        cpus = float(self._ray.cluster_resources().get("CPU", 1.0))
        workers = max(1, int(cpus))
        return workers, round(min(1.0, cpus / workers) * 0.9, 2)

    def run_stage(self, db_path, stage, stage_report, redo, limit, batch_size, run_id, progress,
                  max_attempts, deadline=None) -> bool:  # fmt: skip
        """``runner._run_stage``'s contract, with ``process`` on the cluster."""
        if stage.whole_batch:
            return _run_stage(db_path, stage, stage_report, redo, limit, batch_size, run_id,
                              progress, max_attempts, deadline)  # fmt: skip
        ray = self._ray or self.start()._ray
        if redo:
            with connect(db_path) as con:
                reset_stage(con, stage.name)
        with connect(db_path, read_only=True) as con:
            keys = pending(con, stage.name, stage.version, stage.requires, limit, run_id)
            stage_report.again = reprocessing(
                con, stage.name, stage.version, stage_report.dependents
            )
        batches = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
        bar = None
        if progress and keys:
            from tqdm import tqdm

            bar = tqdm(total=len(keys), desc=stage.name, unit="doc", file=sys.stderr, leave=False)
        started = time.perf_counter()
        handled = 0
        if self._watch is not None:
            self._watch.active.set()
        try:
            # pages' HTML (extract) is held pickled on the driver for a whole window: a few
            # batches at a time, not 64 (64 x 64 pages of HTML would be a gigabyte). With a
            # deadline, a window is not stopped halfway: the first has one batch per worker,
            # the next as many as the time left holds at the rate so far (its model loads
            # included), so that the actors do not reload their models for every batch
            workers = self.pool()[0]
            cap = min(self.window, max(workers, HTML_WINDOW)) if stage.needs_html else self.window
            first = 0
            while first < len(batches):
                step = cap
                if deadline is not None:
                    spent = time.perf_counter() - started
                    per_doc = spent / handled if handled else 0.0
                    fits = (deadline - time.time()) / (per_doc * batch_size) if handled else 0
                    # whole rounds: batches run `workers` at a time
                    step = min(cap, max(workers, int(fits) // workers * workers))
                window = batches[first : first + step]
                if deadline is not None:
                    expected = per_doc * sum(len(b) for b in window)
                    if time.time() + expected > deadline:
                        return False
                self._check()
                rows, used = self._load(db_path, stage, window)
                first += used
                for items, extras in self._window(ray, db_path, stage, rows):
                    self._check()  # a lost cluster stops the stage here, never mid-write
                    interrupt.check()  # a stop signal that a read let pass
                    record(db_path, stage, stage_report, items, extras, run_id, max_attempts)
                    handled += len(items)
                    if bar:
                        bar.update(len(items))
            return True
        except KeyboardInterrupt:
            if self._watch is None or not self._watch.lost:
                raise
            self._watch.reported = True
            raise StageFailed(stage.name, ConnectionError(self._watch.lost)) from None
        except LostCluster as err:
            raise StageFailed(stage.name, ConnectionError(str(err))) from None
        finally:
            if self._watch is not None:
                self._watch.active.clear()
            stage_report.seconds = time.perf_counter() - started
            if bar:
                bar.close()

    def _load(self, db_path, stage: Stage, keys: list[list]) -> tuple[list[dict], int]:
        """Read a window's batches, prepare them and answer their lookups: the rows to send,
        and how many of ``keys`` they cover (all, but for a stage that reads the pages' HTML,
        which stops at the batch that takes the window past ``html_window_bytes``)."""
        rows: list[dict] = []
        size = 0
        keep = type(stage).reuse is not Stage.reuse  # reuse() needs the batch at write time
        for index, batch_keys in enumerate(keys):
            if stage.needs_html and size > self.html_window_bytes:
                return rows, index
            with connect(db_path, read_only=True) as con:
                batch = load_inputs(con, batch_keys, with_html=stage.needs_html,
                                    with_translation=stage.needs_translation)  # fmt: skip
            if not batch:
                continue
            try:
                prepared = stage.prepare(batch)
                found = _answer(db_path, stage.lookups(batch, prepared))
            except Exception as err:
                if is_environment_error(err):
                    raise StageFailed(stage.name, err) from err
                # the runner retries such a batch document by document; on the driver the
                # simplest faithful answer is the runner itself, for this batch
                log.info("stage %s: prepare/lookups raised (%s); batch run here", stage.name, err)
                rows.append({"index": index, "payload": b"", "local": batch})
                continue
            payload = pickle.dumps((batch, found, prepared))
            size += len(payload)
            rows.append({"index": index, "payload": payload,
                         **({"batch": batch, "prepared": prepared} if keep else {})})  # fmt: skip
        return rows, len(keys)

    def _window(self, ray, db_path, stage: Stage, rows: list[dict]):
        """Process a window's rows on the cluster; yield (items, extras) per batch, in order.
        Raises StageFailed at the first batch that stops the stage."""
        remote = [r for r in rows if r["payload"]]
        results = self._map(ray, stage, remote)
        try:
            yield from self._in_order(db_path, stage, rows, results)
        finally:
            if self._watch is None or not self._watch.lost:
                results.close()  # a stage that stopped: end the Ray Data run while Ray is up

    def _in_order(self, db_path, stage: Stage, rows: list[dict], results):
        written = False  # a batch of this window is written: later ones' lookups may differ
        for row in rows:
            if not row["payload"]:
                yield _process(db_path, stage, row["local"])
                written = True
                continue
            try:
                with self._waiting():
                    payload = next(results)
            except LostCluster:
                raise
            except Exception as err:  # a worker that died past its retries, a lost node
                error = RuntimeError(ray_error(err, self.max_restarts))
                raise StageFailed(stage.name, error) from err
            outcome = pickle.loads(payload)
            if outcome[0] == "failed":
                failed = stage_failed(*outcome[1:])
                raise failed from failed.cause
            items = outcome[1]
            if written and "batch" in row:
                # what the earlier batches of this window wrote, as the local runner's
                # lookups for this batch would have seen it: their copies are reused
                batch, prepared = row["batch"], row["prepared"]
                try:
                    found = _answer(db_path, stage.lookups(batch, prepared))
                    items = stage.reuse(batch, items, found, prepared)
                except Exception as err:
                    interrupt.check(err)
                    raise StageFailed(stage.name, err) from err
            yield items, outcome[2]
            written = True

    def _map(self, ray, stage: Stage, rows: list[dict]):
        """The batches through ``_StageWorker`` on the cluster: their pickled outcomes, in order."""
        workers, cpus = self.pool()
        ds = ray.data.from_items(
            [{"index": r["index"], "payload": r["payload"]} for r in rows],
            override_num_blocks=len(rows),
        )
        ds.context.execution_options.preserve_order = True  # Ray started elsewhere too
        stage_bytes = pickle.dumps(_worker_stage(stage, cpus))
        size = min(workers, len(rows))
        if stage.name in ACTOR_STAGES:
            fn, fn_args = _StageWorker, {"fn_constructor_args": (stage_bytes,)}
            compute = ray.data.ActorPoolStrategy(size=size)
            # a dead actor is restarted and its batch retried, a bounded number of times
            retries = {"max_restarts": self.max_restarts, "max_task_retries": self.max_restarts}
        else:
            fn, fn_args = _StageWorker(stage_bytes).__call__, {}
            compute = ray.data.TaskPoolStrategy(size=size)
            retries = {"max_retries": self.max_restarts}
        with warnings.catch_warnings():
            # Ray 2.60 deprecates retry settings as remote args (2.64 removes them; pinned
            # below that in pyproject.toml) and names no replacement yet
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(fn, batch_size=1, batch_format="numpy", compute=compute,
                                num_cpus=cpus, **fn_args, **retries)  # fmt: skip
        for row, expected in zip(ds.iter_rows(), rows, strict=False):
            if int(row["index"]) != expected["index"]:
                raise RuntimeError(
                    f"batch {row['index']} came back in place of {expected['index']}"
                )
            yield row["payload"]


__all__ = ["ACTOR_STAGES", "RayEngine"]
