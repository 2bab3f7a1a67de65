"""Typed errors of the pipeline, and which failures are the environment's rather than a
document's.

An *environment* error (a model that cannot load, the database, memory, the disk) says
nothing about the document being processed: the stage stops at once, nothing is recorded as
rejected, and the next run retries everything. Any other exception a stage raises on a
document is that document's: it is recorded as ``stage_error`` and retried on later runs, up to
a limit (see pipeline/runner.py).
"""

from __future__ import annotations


class ModelError(RuntimeError):
    """A model cannot be installed, found or loaded."""


class StageFailed(RuntimeError):
    """A stage stopped: its environment failed, or a whole-batch stage raised. The batch was
    rolled back; the message names the stage and the cause."""

    def __init__(
        self, stage: str, cause: BaseException, *, documents: int = 0, culprit=None
    ) -> None:
        self.stage = stage
        self.cause = cause
        self.culprit = culprit  # the document the batch fails from (a StageError), if found
        where = f" on a batch of {documents} documents" if documents else ""
        blame = f"; the batch fails from {culprit.url}" if culprit is not None else ""
        super().__init__(
            f"stage {stage} stopped{where}: {type(cause).__name__}: {_first_line(cause)}"
            f" (nothing of that batch was written; the next run retries it{blame})"
        )


def folder_problem(err: OSError) -> str:
    """Why a folder could not be made or a file in it opened, in words: Python's "[Errno 17]
    File exists: 'x'" names neither the path asked for nor what is wrong with it."""
    if isinstance(err, FileExistsError | NotADirectoryError):
        return "a file is in the way"
    return err.strerror or str(err)


def disk_full(err: BaseException) -> str | None:
    """One line for a failure that is a full disk, naming the file it could not write, or
    None (where no file is named: standard output, for one, is no file to name). DuckDB says
    so inside a TransactionException ("Could not write file ...wal: No space left on
    device"), which the CLI called "unexpected"; the writer lock's OSError names its file."""
    import errno
    import re

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        found = re.search(r'Could not write file "([^"]+)": No space left on device', str(err))
        path = found[1] if found else None
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            path = err.filename
        if path:
            return (f"no space left on the disk (writing {path}): what was committed stays, "
                    "the write in progress was rolled back; make room and run the command "
                    "again")  # fmt: skip
        err = err.__cause__ or err.__context__
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"


def is_environment_error(err: BaseException) -> bool:
    """Whether a failure is the machine's or the setup's, not the document's."""
    import duckdb

    from storage.db import StorageError

    return isinstance(
        err, ModelError | StorageError | duckdb.Error | MemoryError | OSError | ImportError
    )
