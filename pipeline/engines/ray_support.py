"""Helpers of the Ray engine (pipeline/engines/ray_engine.py): errors in and out of workers,
and the address check."""

from __future__ import annotations

import _thread
import os
import pickle
import socket
import sys
import threading
import time

from pipeline.errors import StageFailed


def portable(failed: StageFailed) -> tuple:
    """What the driver needs to raise the worker's StageFailed again (the exception itself
    does not unpickle: its constructor takes more than its message). The cause goes as text
    when it does not pickle (a C extension's exception)."""
    try:
        pickle.loads(pickle.dumps(failed.cause))
        cause = failed.cause
    except Exception:  # noqa: BLE001 - any unpicklable cause is sent as its text
        cause = RuntimeError(f"{type(failed.cause).__name__}: {failed.cause}")
    return str(failed), failed.stage, cause


def stage_failed(message: str, stage: str, cause: BaseException) -> StageFailed:
    """The worker's StageFailed, raised here: same message, stage and cause."""
    out = StageFailed.__new__(StageFailed)
    RuntimeError.__init__(out, message)
    out.stage, out.cause, out.culprit = stage, cause, None
    return out


def ray_error(err: BaseException, retries: int) -> str:
    """One line for an error out of the Ray run: a worker or node lost past its retries, or
    the error a worker raised (narrascope missing on a node, an object store that is full)."""
    from ray import exceptions as rex

    lost = (rex.ActorDiedError, rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError)
    cause = getattr(err, "cause", None) if isinstance(err, rex.RayTaskError) else None
    shown = cause if cause is not None and not isinstance(cause, lost) else err
    first = (str(shown).strip().splitlines() or [""])[0]
    first = f"{type(shown).__name__}: {first}" if first else type(shown).__name__
    if isinstance(shown, lost) or isinstance(err, lost):
        return (
            f"the Ray cluster lost a worker or node past {retries} retries ({first}); "
            "the batches written before it are kept, run process again for the rest"
        )
    return (
        f"a Ray worker failed ({first}); the batches written before it are kept, run process "
        "again for the rest"
    )


def reachable(address: str) -> None:
    """A HOST:PORT that nothing answers at fails at once, in one line (``ray.init`` would
    retry for minutes). ``auto`` and ``ray://`` addresses are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ConnectionError(f"no Ray cluster answers at {address}: {err}") from err


class ClusterWatch(threading.Thread):
    """Ray ends a driver whose cluster head (its GCS) has not answered for 60 s, wherever it
    is, with a log line of its own. This watch gets there first: once the head has not
    answered for ``grace`` seconds while a stage runs there (``active``), it interrupts the
    main thread, which the engine turns into ``StageFailed`` (one error line; each batch is
    one transaction, so none is half written); should the exit then hang on the lost
    cluster, it ends the process ``grace`` seconds later, exit status 1."""

    def __init__(self, address: str, grace: float = 15.0, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="ray-cluster-watch")
        self.address, self.grace, self.every = address, grace, every
        self.lost = ""
        self.active = threading.Event()  # a stage runs on the cluster: only then act

    def run(self) -> None:
        host, _, port = self.address.rpartition(":")
        since = None
        while not self.lost:
            time.sleep(self.every)
            try:
                socket.create_connection((host, int(port)), timeout=5).close()
                since = None
            except OSError as err:
                since = since or time.monotonic()
                if time.monotonic() - since >= self.grace and self.active.is_set():
                    self.lost = (
                        f"lost the Ray cluster: its head at {self.address} has not answered "
                        f"for {self.grace:.0f} s ({err})"
                    )
        _thread.interrupt_main()
        time.sleep(self.grace)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
