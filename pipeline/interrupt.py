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

Python runs a signal's handler only when the main thread runs Python. A DuckDB query that
one of DuckDB's own threads executes keeps the main thread waiting in C until the query
ends, and DuckDB's check for signals is not reached meanwhile: a SIGTERM during a long
query waited for the query (a minute and more; systemd's kill comes after 90 s), even when
the handler had run: DuckDB then waits for its threads to finish the query before it
returns. A watch thread (``_QueryWatch``) hears each stop signal through
``signal.set_wakeup_fd``; if the main thread is still at the same place ``WATCH_GRACE``
seconds later, it interrupts the process's queries (``storage.db.interrupt_queries``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
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


#: how long the main thread may stay in C after a stop signal before the watch interrupts
#: the queries
WATCH_GRACE = 0.5

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
    global _watch
    watch = _QueryWatch.listen(set(before)) if outermost else None
    if outermost:
        _watch = watch
    try:
        yield
    finally:
        if watch is not None:
            _watch = None
            watch.stop()
        sys.unraisablehook, _installed = hook, not outermost
        for s, h in before.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


class _QueryWatch(threading.Thread):
    """Interrupts the process's DuckDB queries when the main thread is still where it was
    ``WATCH_GRACE`` seconds after a stop signal (see the module's docstring). It hears the
    signals through ``signal.set_wakeup_fd``, which a process has one of: where another is
    set already (an event loop's), there is no watch. A crawl's reactor takes it over;
    crawlers/runner.py takes it back after the crawl."""

    def __init__(self, signals: set[int], read_fd: int, write_fd: int) -> None:
        super().__init__(daemon=True, name="stop-signal-watch")
        self.signals, self.read_fd, self.write_fd = signals, read_fd, write_fd

    @classmethod
    def listen(cls, signals: set[int]) -> _QueryWatch | None:
        if not signals:
            return None
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        if (other := signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)) != -1:
            signal.set_wakeup_fd(other)  # someone else's: theirs stays, and no watch
            os.close(read_fd)
            os.close(write_fd)
            return None
        watch = cls(signals, read_fd, write_fd)
        watch.start()
        return watch

    def run(self) -> None:
        from storage.db import interrupt_queries

        while True:
            data = os.read(self.read_fd, 64)
            if not data or _STOP_WATCH in data:  # ``stop``
                return
            if not self.signals.intersection(data):
                continue
            where = _main_thread_at()
            time.sleep(WATCH_GRACE)
            if where is not None and _main_thread_at() == where:
                interrupt_queries()  # it waits in C: a query (or a model: then no harm)

    def stop(self) -> None:
        if (current := signal.set_wakeup_fd(-1)) not in (self.write_fd, -1):
            signal.set_wakeup_fd(current)  # someone else's took ours over: theirs stays
        os.write(self.write_fd, bytes([_STOP_WATCH]))
        self.join(timeout=2)
        os.close(self.write_fd)
        os.close(self.read_fd)

    def give_back(self) -> None:
        """Hear the signals again after a crawl: its reactor's event loop took
        ``set_wakeup_fd`` over and, stopped for good (a reactor cannot restart), keeps it."""
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)


def _main_thread_at() -> tuple | None:
    """Where the main thread is: its innermost Python frame and the instruction in it. The
    same place ``WATCH_GRACE`` seconds apart is a thread waiting in C, where no handler runs
    (its handler may have run already: DuckDB then still waits for its own threads to finish
    the query)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    return None if frame is None else (frame, frame.f_lasti)


_STOP_WATCH = 0  # the byte that ends a watch (no signal has the number 0)
_watch: _QueryWatch | None = None  # the watch of the outermost ``stop_signals_raise``


def watch_signals_again() -> None:
    """After a crawl, whose reactor's event loop took the wakeup descriptor and keeps it
    (asyncio's, stopped): the watch of ``stop_signals_raise`` hears the stop signals again."""
    if _watch is not None and threading.current_thread() is threading.main_thread():
        _watch.give_back()
