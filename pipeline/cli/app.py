"""The command group, its shared options and how errors become exit codes."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import click

from pipeline.config import ConfigError, load_config
from pipeline.errors import ModelError, StageFailed
from pipeline.interrupt import Interrupted
from storage.db import StorageError, resolve_db_path

#: The exit code of a failure (README: "Exit codes"); usage errors are click's 2, another
#: writer at work is 75 (storage.lock.EX_TEMPFAIL, carried by the error as ``exit_code``).
EXIT_FAILURE = 1


class CommandError(RuntimeError):
    """A command did not do what it was asked (one line, exit 1)."""


EXPECTED_ERRORS = (
    StorageError, ConfigError, ModelError, StageFailed, CommandError, ValueError, OSError,
)  # fmt: skip

# Libraries that log at ERROR for what is, to us, an ordinary rejection with a reason.
_NOISY = (
    "trafilatura", "htmldate", "courlan", "justext", "charset_normalizer", "readability",
    "sentence_transformers", "transformers", "huggingface_hub",
)  # fmt: skip


class Context:
    """What every command gets: the database path, the configuration (loaded on first use)."""

    def __init__(self, db: str | None, config: str | None, verbose: bool):
        self.db_path = resolve_db_path(db)
        self.db_given = db is not None  # --db or NARRASCOPE_DB, not the default
        self.config_path = config
        self.verbose = verbose
        self.log_file: str | None = None  # --log-file / --log-format, kept for -v after them
        self.log_format = "text"
        self._config: dict | None = None

    @property
    def config(self) -> dict:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def stages(self, names=None):
        """The stages, built from the config; a mistake in a stage's table (or an unknown
        stage in [pipeline] stages) is a config error that names the file."""
        from pipeline.stages import build_stages

        with self.naming_config():
            return build_stages(names or self.config["pipeline"]["stages"], self.config)

    @contextmanager
    def naming_config(self):
        """A value a table of the config file refuses (ValueError, ConfigError among them)
        becomes a config error that names the file."""
        from pipeline.config import config_file, in_file

        try:
            yield
        except ValueError as err:
            if getattr(err, "file_named", False):
                raise
            where = config_file(self.config_path)
            raise (in_file(f"{where}: {err}") if where else ConfigError(str(err))) from None

    def existing_db(self):
        """The database path, refusing one that does not exist (a mistyped --db must not
        "succeed" on a new, empty file)."""
        if not self.db_path.exists():
            raise StorageError(
                f"no database at {self.db_path}: run `narrascope init --db {self.db_path}` "
                "first, or crawl or import into it"
            )
        return self.db_path

    def writing(self, create: bool = False) -> AbstractContextManager:
        """The database's writer lock, for commands that write (a second writer exits 75).
        Only ``create`` (init, demo) makes a missing folder for the file: a mistyped --db in a
        cron line must not start a new store somewhere else in silence."""
        folder = self.db_path.parent
        if not create and not folder.is_dir():
            raise CommandError(
                f"no folder {folder} for the database {self.db_path.name}: create it, or run "
                f"`narrascope init --db {self.db_path}`"
            )
        return _writing(self.db_path)


@contextmanager
def _writing(db_path) -> Iterator[None]:
    """The writer lock, and while it is held SIGTERM and SIGINT end the command cleanly
    (pipeline/interrupt.py): the open batch rolls back, the run is recorded 'interrupted' and
    the lock is released before the exit (128 + the signal's number)."""
    from pipeline.interrupt import stop_signals_raise
    from storage.lock import writer_lock

    with writer_lock(db_path), stop_signals_raise():
        yield


@contextmanager
def reading_stops() -> Iterator[None]:
    """For a command that only reads (also as a decorator): SIGTERM and SIGINT (Ctrl-C) stop
    its query within a second (pipeline/interrupt.py's watch) and the command exits 128 +
    the signal's number with one line. Under Python's default, Ctrl-C waited for DuckDB's
    threads to finish the query: a runaway `sql` query ran on for minutes after it."""
    from pipeline.interrupt import Interrupted, received, stop_signals_raise

    try:
        with stop_signals_raise():
            yield
    except BaseException as err:
        if (signum := received()) is None:
            raise
        raise Interrupted(
            signum, "", "the query was stopped (this command writes nothing)"
        ) from err


def _configure_logging(verbose: bool, log_file: str | None = None, fmt: str = "text") -> None:
    from pipeline import logs
    from pipeline.errors import folder_problem

    try:
        logs.configure(verbose, log_file, fmt, noisy=_NOISY)
    except OSError as err:  # before, "[Errno 17] File exists: 'x'" for x/run.log, x a file
        logs.configure(verbose, None, fmt, noisy=_NOISY)
        raise click.BadParameter(
            f"cannot append to {log_file}: {err.filename or log_file}: {folder_problem(err)}",
            param_hint="'--log-file' (or NARRASCOPE_LOG_FILE)",
        ) from err


class Group(click.Group):
    """Turns errors into one clear line and an exit code (traceback with -v): expected ones
    as they say, anything else (a bug, an input nothing checked) named as unexpected."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and exits: click reports them
        except BrokenPipeError as err:
            if not (_stdout_gone() or _lost):  # a socket or a child's pipe, not our reader
                self._fail(ctx, err, str(err))
            _reader_gone()
        except KeyboardInterrupt:  # Ctrl-C where no handler of ours is in place: click said
            # "Aborted!" and exited 1, as for a failure (before the lock, in `models install`)
            stopped = Interrupted(signal.SIGINT, "", "it stopped before it finished")
            self._fail(ctx, stopped, str(stopped))
        except (*EXPECTED_ERRORS, Interrupted) as err:  # Interrupted: exit 128 + signal
            err = _stopped(err)
            self._fail(ctx, err, _full(err) or str(err))
        except Exception as err:  # noqa: BLE001 - one line, not a traceback, without -v
            err = _stopped(err)
            if full := _full(err):
                self._fail(ctx, err, full)
            verbose = ctx.obj is not None and getattr(ctx.obj, "verbose", False)
            where = "" if verbose else " (-v shows where)"
            message = f"unexpected {type(err).__name__}: {err}{where}"
            self._fail(ctx, err, str(err) if isinstance(err, Interrupted) else message)

    @staticmethod
    def _fail(ctx, err: Exception, message: str):
        obj = ctx.obj
        code = getattr(err, "exit_code", EXIT_FAILURE)
        if obj is not None and getattr(obj, "verbose", False):
            import traceback  # -v adds the traceback; the exit code stays (75, 143, ...)

            traceback.print_exception(err)
        from pipeline.output import terminal_safe  # a message may name what a page gave

        click.echo(f"error: {terminal_safe(message)}", err=True)
        logging.getLogger("narrascope").error(  # for --log-file: stderr has it already
            message, extra={"event": "error", "exit_code": code, "file_only": True}
        )
        sys.exit(code)


def _full(err: BaseException) -> str | None:
    """The line for a full disk, unless the error says more already (a stage's "stopped", a
    crawl's "could not write the evidence archive in DIR")."""
    from pipeline.errors import StageFailed, disk_full

    if isinstance(err, StageFailed | Interrupted | CommandError):
        return None
    return disk_full(err)


def _stopped(err: BaseException) -> BaseException:
    """``err``, or the stop signal that caused it (a signal during a DuckDB query comes out
    as "Query interrupted"; pipeline/interrupt.py)."""
    from pipeline.interrupt import received

    signum = received()
    return Interrupted(signum) if signum and not isinstance(err, Interrupted) else err


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (poll says POLLERR)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):  # no file descriptor (a test's captured output)
        return False


_lost = False  # standard output's reader stopped reading, and it goes to /dev/null since


def _reader_gone() -> None:
    """Whoever read the output stopped (``| head``): nothing to say, nothing failed. Standard
    output goes to /dev/null, so that flushing it at exit raises no second error."""
    _discard_stdout()
    sys.exit(0)


def _discard_stdout() -> None:
    import os

    global _lost
    _lost = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def say(message: str = "") -> None:
    """One line of a writing command's report on stdout. A reader that stops reading (`run
    | head -1`) ends the report, never the work: the rest goes to /dev/null, and the command
    goes on (before, `run` crawled, then exited 0 without processing)."""
    try:
        click.echo(message)
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        _discard_stdout()


def stdout_lost() -> bool:
    """Whether standard output's reader has gone (what `say` printed since went nowhere)."""
    return _lost


def _set_db(ctx, _param, value):
    if value is not None:
        obj = ctx.find_object(Context)
        obj.db_path, obj.db_given = resolve_db_path(value), True


def _set_config(ctx, _param, value):
    if value is not None:
        obj = ctx.find_object(Context)
        obj.config_path, obj._config = value, None


def _set_verbose(ctx, _param, value):
    if value:
        obj = ctx.find_object(Context)
        obj.verbose = True
        _configure_logging(True, obj.log_file, obj.log_format)


def common_options(f):
    """``--db``, ``--config`` and ``-v`` on a subcommand too: ``narrascope status --db X``
    works as well as ``narrascope --db X status``."""
    f = config_and_verbose(f)
    f = click.option("--db", expose_value=False, is_eager=True, callback=_set_db,
                     help="Database file (as before the command).")(f)  # fmt: skip
    return f


def config_and_verbose(f):
    """``--config`` and ``-v`` on a subcommand (`common_options` without ``--db``, for a
    command with a ``--db`` of its own)."""
    f = click.option("-v", "--verbose", is_flag=True, expose_value=False, is_eager=True,
                     callback=_set_verbose, help="Log more and show tracebacks on errors.")(f)  # fmt: skip
    f = click.option("--config", expose_value=False, is_eager=True, callback=_set_config,
                     help="Config TOML (as before the command).")(f)  # fmt: skip
    return f


@click.group(cls=Group)
@click.option(
    "--db",
    envvar="NARRASCOPE_DB",
    help="Database file [env NARRASCOPE_DB; default ./narrascope.duckdb].",
)
@click.option(
    "--config",
    "config",
    envvar="NARRASCOPE_CONFIG",
    help="Config TOML [env NARRASCOPE_CONFIG; default ./narrascope.toml if present].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more and show tracebacks on errors.")
@click.option(
    "--log-file",
    envvar="NARRASCOPE_LOG_FILE",
    type=click.Path(dir_okay=False),
    help="Also append every INFO record to this file (what each phase did, errors with "
    "their exit code) [env NARRASCOPE_LOG_FILE].",
)
@click.option(
    "--log-format",
    envvar="NARRASCOPE_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object a line, for log shippers [env NARRASCOPE_LOG_FORMAT].",
)
@click.version_option(package_name="narrascope")
@click.pass_context
def cli(ctx, db, config, verbose, log_file, log_format):
    """narrascope: crawl, extract, identify and connect narratives across sites and languages.

    \b
    Typical cron line (a second writer on the same database exits 75 at once):
      narrascope --db /data/ops.duckdb run --sources /data/sources.toml
    """
    _configure_logging(verbose, log_file, log_format)
    ctx.obj = Context(db, config, verbose)
    ctx.obj.log_file, ctx.obj.log_format = log_file, log_format
