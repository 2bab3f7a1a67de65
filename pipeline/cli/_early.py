"""A stop signal before a command's own handlers are in place (pipeline/interrupt.py: the
imports and the set-up take half a second) ended the process with no word on stderr, and so
did one to a command that puts none in place (`sources list`). Imported first by the CLI, this
puts a handler in place that says so, with the same exit code (128 + the signal); only for
the command itself (`narrascope`, `python -m pipeline.cli`), not a program that imports it.
A command's own handlers take over while they are in place, and give this one back."""

from __future__ import annotations

import os
import signal
import sys


def _stopped(signum: int, _frame) -> None:
    os.write(2, f"error: interrupted by {signal.Signals(signum).name}\n".encode())
    os._exit(128 + signum)


def _is_the_command() -> bool:
    if sys.argv and os.path.basename(sys.argv[0]) == "narrascope":
        return True
    argv = sys.orig_argv  # `python -m pipeline.cli`: imported before __main__ is run
    return any(
        a == "-m" and b.startswith("pipeline.cli") for a, b in zip(argv, argv[1:], strict=False)
    )


if _is_the_command() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # an ignored
    signal.signal(signal.SIGTERM, _stopped)  # signal stays ignored
