"""Logging for people and for log shippers: WARNING and above on stderr as text (INFO with
-v), and with ``--log-file`` every INFO record appended to a file as well, as text or as one
JSON object a line (``--log-format json``). Commands add what happened as fields of a record
(``extra={"event": "crawl", "summary": {...}}``); the JSON line carries them as they are."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

#: the attributes every LogRecord has; anything else on a record is a field a command added
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("narrascope")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the fields a
    command added, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def _fields(record: logging.LogRecord) -> dict:
    """The fields a command added to a record (``extra=``)."""
    return {k: v for k, v in vars(record).items()
            if k not in _STANDARD and k != "file_only" and not k.startswith("_")}  # fmt: skip


class TextFormatter(logging.Formatter):
    """The log file's text lines: ``TEXT``, then the fields a command added as one JSON
    object, so that a text log holds what a JSON one does (a run's counts, its id)."""

    def __init__(self):
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        return f"{line} {json.dumps(fields, default=str, ensure_ascii=False)}"


class PrintableFormatter(logging.Formatter):
    """stderr's text lines with control characters written as escapes (``\\x1b``): a warning
    may quote what a hostile site sent (a feed's Content-Type header in feedparser's
    complaint), and an escape sequence in it must not reach the operator's terminal. Line
    breaks stay (a traceback with -v). Without ``tracebacks`` (-v), a record's traceback
    is cut to the error's type and first line: scrapy logs one for every site that is down (its robots.txt
    middleware), some sixty lines that cron mailed for one dead source."""

    def __init__(self, fmt: str, tracebacks: bool = True) -> None:
        super().__init__(fmt)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        from pipeline.output import terminal_safe

        if record.exc_info and not self.tracebacks:
            err = record.exc_info[1]
            # a copy: the log file's handler formats the same record, traceback and all
            record = logging.makeLogRecord({**vars(record), "exc_info": None, "exc_text": None})
            if err is not None:
                said = str(err).strip().splitlines()
                record.msg = f"{record.getMessage()} ({type(err).__name__}"
                record.msg += f": {said[0]})" if said else ")"
                record.args = None
        return "\n".join(map(terminal_safe, super().format(record).split("\n")))


class _NotFileOnly(logging.Filter):
    """Keeps off stderr what a command has already said there in its own words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class LogFile(logging.FileHandler):
    """``--log-file``: a record it cannot write (a full disk, a file gone read-only) is said
    once on stderr, in one line, and the command goes on: its outcome is in the database
    either way (`narrascope status`). Before, every record printed a traceback of its own
    ("--- Logging error ---") and the command still ended as if the log were whole."""

    def __init__(self, path: str) -> None:
        super().__init__(path, encoding="utf-8")  # appends
        self.lost = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        err = sys.exc_info()[1]
        if not isinstance(err, OSError):  # a record that does not format: logging's own say
            super().handleError(record)
            return
        self.lost += 1
        if self.lost == 1:
            why = getattr(err, "strerror", None) or err
            sys.stderr.write(
                f"warning: cannot append to the log file {self.baseFilename} ({why}): "
                "records that cannot be written there are lost (the run's outcome is in the "
                "database: `narrascope status`)\n"
            )


def configure(verbose: bool, log_file: str | None = None, fmt: str = "text",
              noisy: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Set up the root logger's handlers (replacing earlier ones)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = JsonFormatter() if fmt == "json" else PrintableFormatter(
        "%(levelname)s %(name)s: %(message)s", tracebacks=verbose)  # fmt: skip
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.INFO if verbose else logging.WARNING)
    stderr.setFormatter(formatter)
    stderr.addFilter(_NotFileOnly())
    root.addHandler(stderr)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = LogFile(log_file)
        handler.setLevel(logging.INFO)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
        root.addHandler(handler)
    root.setLevel(logging.INFO if (verbose or log_file) else logging.WARNING)
    for name in noisy:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)
