"""Helpers of the Ray engine (pipeline/engines/ray_engine.py): errors in and out of workers,
the address check, and the watch on the cluster's head (ClusterWatch)."""

from __future__ import annotations

import _thread
import os
import pickle
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

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


class LostCluster(ConnectionError):
    """The Ray cluster's head stopped answering while a stage ran there."""


def _interrupted(_signum, _frame) -> None:
    raise KeyboardInterrupt


class ClusterWatch(threading.Thread):
    """Ray ends a driver whose cluster head (its GCS) has not answered for 60 s, wherever it
    is, with a log line of its own. This watch gets there first: once the head has not
    answered for ``grace`` seconds while a stage runs there (``active``), it sets ``lost``.
    The engine checks ``lost`` between its steps (``check``); the watch interrupts the main
    thread only while it is blocked on Ray (``waiting``), never while it reads or writes the
    database (DuckDB turns an interrupt into "Query interrupted", which would pass for a
    document's error). Should the process still be alive ``grace`` seconds later (a wait
    that the interrupt did not end, an exit hanging on the lost cluster), the watch writes
    the error line itself and ends it, exit status 1."""

    def __init__(self, address: str, grace: float = 15.0, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="ray-cluster-watch")
        self.address, self.grace, self.every = address, grace, every
        self.lost = ""
        self.reported = False  # the engine raised the lost cluster as its one error line
        self.active = threading.Event()  # a stage runs on the cluster: only then act
        self._lock = threading.Lock()
        self._waiting = False

    def start(self) -> None:
        """Start watching. On the main thread, the interrupt comes as SIGUSR2 with a handler
        of its own that raises KeyboardInterrupt: SIGINT may be ignored in this process (a
        command started in the background by a shell script, `cmd &`, inherits SIGINT
        ignored, and then ``interrupt_main`` does nothing), and SIGUSR2 is nobody else's."""
        self._signum = signal.SIGINT
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR2, _interrupted)
            self._signum = signal.SIGUSR2
        super().start()

    def check(self) -> None:
        """Raise the lost cluster (LostCluster), at a point where that is safe."""
        if self.lost:
            self.reported = True
            raise LostCluster(self.lost)

    @contextmanager
    def waiting(self):
        """The main thread blocks on Ray inside this block, and may be interrupted there."""
        with self._lock:
            self.check()
            self._waiting = True
        try:
            yield
        finally:
            with self._lock:
                self._waiting = False

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
                    with self._lock:
                        self.lost = (
                            f"lost the Ray cluster: its head at {self.address} has not "
                            f"answered for {self.grace:.0f} s ({err})"
                        )
                        if self._waiting:
                            _thread.interrupt_main(self._signum)
        time.sleep(self.grace)
        if not self.reported:
            try:
                os.write(2, f"error: {self.lost}; the batches written before it are kept, "
                            "run process again for the rest\n".encode())  # fmt: skip
            except OSError:
                pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
