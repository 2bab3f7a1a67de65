"""The hidden folders an export writes beside ``--out`` (storage/export.py): the partial one it
writes into, swapped in once complete, and the old export set aside during the swap.

A partial folder holds a lock file, flocked for as long as its export runs. An export killed
outright (kill -9, the OOM killer, a power cut) leaves its partial folder behind, and the next
export into the same ``--out`` takes it away once nothing holds its lock: a process id would
not tell, as another PID namespace (a container) sees other ids, and ids are reused. Only
this host's partial folders are judged: on a shared drive another host's may still be written,
and its lock may not be seen here. Names are cut to the file system's 255 bytes."""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
from pathlib import Path

HOST = re.sub(r"[^A-Za-z0-9.]", "_", os.uname().nodename)[:40] or "host"
LOCK = ".writing"
_TOKEN = re.compile(r"[0-9a-f]{8}")
_NAME_MAX = 255


def _cut(out_dir: Path, suffix: str) -> str:
    """``.NAME`` + ``suffix``, NAME cut (at a character) so that the whole fits 255 bytes."""
    budget = _NAME_MAX - 1 - len(suffix.encode()) - 8  # 8: the token
    name = out_dir.name.encode()[:budget].decode("utf-8", "ignore")
    return f".{name}{suffix}"


def _partial_prefix(out_dir: Path) -> str:
    return _cut(out_dir, f".partial-{HOST}-")


def old_folder(out_dir: Path) -> Path:
    """Where the export being replaced is set aside during the swap."""
    return out_dir.parent / f"{_cut(out_dir, '.old-')}{secrets.token_hex(4)}"


def make_partial(out_dir: Path) -> tuple[Path, int]:
    """A new partial folder beside ``out_dir`` and the descriptor holding its lock."""
    partial = out_dir.parent / f"{_partial_prefix(out_dir)}{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        fd = os.open(partial / LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return partial, fd


def unlock(partial: Path, fd: int) -> None:
    """Take the lock file out of a finished partial folder (before it is swapped in), and
    let go of its lock."""
    try:
        (partial / LOCK).unlink(missing_ok=True)
    finally:
        os.close(fd)


def remove_stale_partials(out_dir: Path) -> None:
    """Remove this host's partial folders of ``out_dir`` whose lock nobody holds."""
    prefix = _partial_prefix(out_dir)
    try:
        found = [p for p in out_dir.parent.iterdir()
                 if p.name.startswith(prefix) and _TOKEN.fullmatch(p.name[len(prefix):])]  # fmt: skip
    except OSError:  # no parent yet, or not readable: the export's own mkdir says why
        return
    for folder in found:
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            fd = os.open(folder / LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # no lock file: being swapped in now, or not an export's
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its export is still writing
            continue
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
