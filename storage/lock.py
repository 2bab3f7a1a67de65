"""One writer per database: an advisory lock file beside it, held for a whole command.

DuckDB lets one process at a time open a file for writing, but each of our writers opens it
only per batch, so two writers would interleave their batches and each would act on what the
other has not finished (two ``process`` runs clustering the same documents twice). A writing
command therefore holds ``<database>.lock`` (``fcntl.flock``) from start to end. The kernel
drops the lock when its holder dies, ``kill -9`` included, so a stale lock never blocks: the
next writer takes it over and logs whose it was. The file holds the holder's pid, command and
start time, for the message a second writer gets. Readers take it only to upgrade a store an
older narrascope wrote (storage/db.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from storage.db import DatabaseBusy, StorageError, resolve_db_path

log = logging.getLogger(__name__)

#: The exit status of a command that found another writer at work (sysexits.h EX_TEMPFAIL):
#: "try again later", which is what a cron job should do.
EX_TEMPFAIL = 75


class LockHeld(StorageError):
    """Another process is writing to this database."""

    exit_code = EX_TEMPFAIL


def lock_path(db_path: str | os.PathLike | None) -> Path:
    """``<database>.lock`` beside the real file: a symlink to the database shares its lock."""
    db = Path(os.path.realpath(resolve_db_path(db_path)))
    return db.with_name(db.name + ".lock")


#: a URL in a command line: scheme, user info, host, and the rest
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#]*)(\S*)")


def _hide_url(found: re.Match) -> str:
    """A URL as scheme and host (port kept): webhook paths and user info carry secrets."""
    return found[1] + found[2].rsplit("@", 1)[-1] + ("/..." if found[3] else "")


def default_command() -> str:
    """This process's command line, each URL in it cut to its scheme and host (the README
    promises that only those of a webhook URL are ever printed or stored; `status` prints the
    writer's command, and a running run's row keeps it)."""
    line = " ".join([Path(sys.argv[0]).name or "python", *sys.argv[1:]])
    return _URL.sub(_hide_url, line)[:500]


class _Held:
    """A lock this process holds: its open file and how many ``with`` blocks, in any of
    its threads, are inside it. The flock is let go when the last one leaves."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.depth = 1


# realpath of the lock file -> _Held: re-entrant within a process, so `run` holds it for
# crawl and process, and the library functions it calls (and their threads) take it again.
_held: dict[str, _Held] = {}
_guard = threading.Lock()


def _forget_in_child() -> None:
    """A forked child does not hold its parent's lock: it would have to take it itself."""
    global _guard
    _held.clear()
    _guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks after boot (the 22nd field of
    ``/proc/PID/stat``): with the pid, which process it is; None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def identity(command: str | None = None) -> dict:
    """This process as a writer names itself: in its lock file, and in the row of the run it
    records (storage/runs.py), where a writer that finds its lock file deleted looks. With
    the inodes of the lock files it holds: a deleted one is still listed in ``/proc/locks``
    under its holder's pid while it lives."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "process_start": _process_start(os.getpid()),
        "lock_inodes": sorted(os.fstat(h.handle.fileno()).st_ino for h in list(_held.values())),
        "command": command or default_command(),
    }


def still_running(who: dict) -> bool:
    """Whether the writer ``who`` (``identity``) still holds its lock: another process on
    this host that ``/proc/locks`` lists as holding one of its lock files. Where the kernel
    lists no locks: its pid alive with the start time it had (a pid used again is another
    process), and none where that time is unknown, so that a row no process holds can never
    keep every writer out."""
    pid = who.get("pid") if isinstance(who, dict) else None
    if not isinstance(pid, int) or pid == os.getpid() or who.get("host") != socket.gethostname():
        return False
    flocks = _flocks()
    if flocks is not None and who.get("lock_inodes"):
        return any((pid, inode) in flocks for inode in who["lock_inodes"])
    if not _alive(pid):
        return False
    started = who.get("process_start")
    return started is not None and started == _process_start(pid)


def _read_holder(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def describe(holder: dict) -> str:
    return (
        f"pid {holder.get('pid', '?')} ({holder.get('command', 'unknown command')}, "
        f"started {holder.get('started_at', '?')})"
    )


def _acquire(path: Path, db_path, command: str | None):
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until released
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(handle)
        handle.close()
        raise LockHeld(
            f"{resolve_db_path(db_path)} is being written by {describe(holder)}; "
            "one writer at a time: try again when it has finished"
        ) from None
    except BaseException:
        handle.close()
        raise
    previous = _read_holder(handle)
    if previous.get("pid") and previous.get("pid") != os.getpid():
        state = "no longer running" if not _alive(int(previous["pid"])) else "not holding it"
        log.warning(
            "took over the writer lock of %s from %s, which is %s",
            resolve_db_path(db_path),
            describe(previous),
            state,
        )
    who = identity(command)
    del who["lock_inodes"]  # the lock is on this very file: the run's row needs them, not it
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps({**who, "started_at": datetime.now(UTC).isoformat(timespec="seconds")})
        )
        handle.flush()
    except OSError as err:  # a full disk: the lock goes, and the error names its file
        with contextlib.suppress(OSError):  # closing flushes again, and fails again
            handle.close()
        raise OSError(err.errno, err.strerror, str(path)) from err
    return handle


def _release(handle) -> None:
    try:
        handle.seek(0)
        handle.truncate()  # a cleanly released lock names nobody
        handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextmanager
def writer_lock(db_path: str | os.PathLike | None, command: str | None = None) -> Iterator[None]:
    """Hold the database's writer lock for the ``with`` block, or raise ``LockHeld`` at once
    naming the process that holds it. Re-entrant within the process (any thread)."""
    path = lock_path(db_path)
    key = str(path)
    with _guard:
        held = _held.get(key)
        first = held is None
        if held is not None:
            held.depth += 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            _held[key] = _Held(_acquire(path, db_path, command))
    try:
        if first:
            _refuse_live_writer(db_path)
        yield
    finally:
        with _guard:
            held = _held[key]
            held.depth -= 1
            if held.depth == 0:
                del _held[key]
                _release(held.handle)


def _refuse_live_writer(db_path) -> None:
    """The flock is ours, but a writer whose lock file was deleted (by hand, taken for a stale
    one) holds the lock on a file nobody else can open: its running run still names it.
    Before, a second `run` took a new lock file and wrote beside the first (both exit 0; the
    narratives were clustered twice under new ids), and `init` ran in the middle of it."""
    from storage.runs import live_writers  # storage.runs imports storage.db, as this does

    if not resolve_db_path(db_path).exists():
        return
    try:
        live = live_writers(db_path)
    except DatabaseBusy as err:  # open for writing by another process all the while
        raise LockHeld(
            f"{resolve_db_path(db_path)} is held open for writing by another process (a writer "
            "whose lock file was deleted, or another DuckDB client): try again when it has "
            f"finished ({err})"
        ) from err
    except StorageError:  # a file that does not open: the command's own open says why
        return
    if live:
        raise deleted_lock(db_path, *live[0])


def deleted_lock(db_path, run_id: str, who: dict) -> LockHeld:
    """The error for a live writer ``who`` of run ``run_id`` whose lock file was deleted."""
    return LockHeld(
        f"{resolve_db_path(db_path)} is being written by {describe(who)} (run {run_id}), "
        f"whose lock file {lock_path(db_path).name} was deleted; one writer at a time: try "
        "again when it has finished (a lock file is never stale: the lock is on it, and "
        "the system lets it go when its holder ends)"
    )


def holder(db_path: str | os.PathLike | None) -> dict | None:
    """Who holds the writer lock now (pid, command, start time), or None. Reads the file
    without locking it, so asking never gets in a writer's way. A file left by a writer that
    was killed names a pid that may since belong to another process: where the kernel lists
    its locks (Linux ``/proc/locks``), the file counts only while someone holds its lock."""
    path = lock_path(db_path)
    try:
        with open(path, encoding="utf-8") as handle:
            info = _read_holder(handle)
            held = _flocked(os.fstat(handle.fileno()))
    except OSError:
        return None
    pid = info.get("pid")
    if held is False:
        return None
    return info if pid and _alive(int(pid)) else None


def _flocked(stat: os.stat_result) -> bool | None:
    """Whether any process holds a ``flock`` on the file of ``stat``, from ``/proc/locks``
    (lines such as ``3: FLOCK  ADVISORY  WRITE 26733 fe:00:2204806 0 EOF``: the device's
    major and minor in hex, then the inode); None where the kernel does not list them. Only
    the inode is compared (an overlay file system may list another device): a lock on a file
    of the same inode elsewhere makes it True, which leaves the pid to decide, as before."""
    flocks = _flocks()
    return None if flocks is None else any(inode == stat.st_ino for _, inode in flocks)


def _flocks() -> set[tuple[int, int]] | None:
    """(pid, inode) of each ``flock`` held now, from ``/proc/locks`` (see ``_flocked``);
    None where the kernel does not list them."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    held = set()
    for line in lines:
        fields = line.split()
        if "FLOCK" not in fields or "->" in fields:  # "->": a waiter, not a holder
            continue
        try:
            at = fields.index("FLOCK")
            held.add((int(fields[at + 3]), int(fields[at + 4].rsplit(":", 1)[1])))
        except (IndexError, ValueError):
            continue
    return held
