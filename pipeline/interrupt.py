"""Stopping a writing command cleanly on SIGTERM or SIGINT (systemd's stop, `docker stop`,
Ctrl-C).

Python's default for SIGTERM ends the process on the spot, and scrapy's handlers, which a
crawl leaves installed, turn every later SIGTERM or SIGINT into a request to stop a reactor
that no longer runs: `run` went on processing for as long as it liked after one. While a
command holds the writer lock (``Context.writing``), both signals raise ``Interrupted`` in
the main thread instead, wherever it is: the batch being written rolls back, the run is
recorded ``interrupted``, the lock is released, and the command exits 128 + the signal's
number (130 for SIGINT, 143 for SIGTERM). During a crawl scrapy's own graceful stop handles
the signal (requests in flight finish and are stored); the crawl then ends the command the
same way (crawlers/runner.py). A second signal while the first is being handled ends the
process at once, as a kill would: what was committed stays, and the next writer marks the
run abandoned.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(BaseException):
    """A stop signal arrived. A ``BaseException``, as ``KeyboardInterrupt`` is, so that no
    stage's ``except Exception`` takes it for a document's failure."""

    run_status = "interrupted"  # how storage.runs.recorded_run records the run

    def __init__(self, signum: int = signal.SIGTERM, during: str = "", what: str = "") -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        what = what or (
            "the batch in progress was rolled back, what was committed stays, and the next "
            "run goes on from there"
        )
        super().__init__(f"interrupted by {signal_name(signum)}{during}: {what}")


_received: list[int] = []  # the stop signal this process got inside ``stop_signals_raise``
_installed = False  # whether its handlers are in place now


def received() -> int | None:
    """The stop signal received, if any."""
    return _received[0] if _received else None


def check(cause: BaseException | None = None) -> None:
    """Raise ``Interrupted`` if a stop signal arrived. The handler raises it at once, but
    DuckDB turns a signal that arrives during a query into ``RuntimeError('Query
    interrupted')``, and a few reads let a failure pass on purpose (a read ahead is done
    again): the runner calls this between batches and where it sorts a failure out, and the
    CLI where it turns one into an exit code."""
    if _received:
        raise Interrupted(_received[0]) from cause


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """For the ``with`` block: SIGTERM and SIGINT raise ``Interrupted`` in the main thread
    (the handlers before it come back afterwards), unless the signal is ignored. Nothing
    changes outside the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _installed
    outermost = not _installed  # `run` holds the lock, and its alerts take it again
    if outermost:
        _received.clear()

    def handler(signum: int, _frame) -> None:
        if _received:  # again, while the first is being handled: stop now
            os.write(2, f"error: {signal_name(signum)} again: stopped at once\n".encode())
            os._exit(128 + signum)
        _received.append(signum)
        raise Interrupted(signum)

    # a signal ignored from the start stays ignored (a command a shell script starts in the
    # background, `cmd &`, has SIGINT ignored: Ctrl-C in that terminal is not for it)
    before = {s: h for s in STOP_SIGNALS if (h := signal.getsignal(s)) != signal.SIG_IGN}
    for s in before:
        signal.signal(s, handler)
    # a signal that comes while Python runs a finalizer (a __del__, a weakref callback: the
    # garbage collector runs them anywhere) raises there, and Python only prints the
    # exception: it is kept in ``_received`` instead, for the next ``check`` (the runner's,
    # and the end of every phase of a command), and not printed
    hook = sys.unraisablehook

    def unraisable(info) -> None:
        if not isinstance(info.exc_value, Interrupted):
            hook(info)

    sys.unraisablehook, _installed = unraisable, True
    try:
        yield
    finally:
        sys.unraisablehook, _installed = hook, not outermost
        for s, h in before.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
