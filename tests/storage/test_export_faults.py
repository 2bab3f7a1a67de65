"""`narrascope export` stopped or failing half-way, as a researcher meets it: a non-zero exit,
the previous export as it was, and nothing half-written beside --out."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, cli_env, run_cli

# `narrascope` that waits after each export file (up to 60 s, until SIGUSR1): time to send a
# signal in the middle, or to run another export
SLOW = """
import signal, sys, time
go = []
signal.signal(signal.SIGUSR1, lambda *_: go.append(1))  # SIGUSR1: go on
import storage.export_files as files
real = files._write_parts
def slow(*args, **kwargs):
    done = real(*args, **kwargs)
    print("wrote", args[1], flush=True)
    deadline = time.monotonic() + 60
    while not go and time.monotonic() < deadline:
        time.sleep(0.05)
    return done
files._write_parts = slow
from pipeline.cli import cli
cli(sys.argv[1:], prog_name="narrascope")
"""


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def slow_export(db: Path, kind: str, out: Path) -> subprocess.Popen:
    """`narrascope export KIND --out OUT --format csv` under SLOW."""
    return subprocess.Popen(
        [sys.executable, "-c", SLOW, "--db", str(db), "export", kind, "--out", str(out),
         "--format", "csv"],
        cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def store(tmp_path: Path) -> Path:
    db = tmp_path / "store" / "s.duckdb"
    run_cli("init", db=db)
    return db


def test_sigterm_in_the_middle_leaves_the_previous_export_and_nothing_beside(tmp_path):
    """SIGTERM (systemd's stop, `kill`, a batch scheduler's time limit) in the middle of an
    export: exit 143, one line, the previous export as it was and no half-written folder.
    Before, Python's default for SIGTERM ended the process on the spot: the hidden
    `.out.partial-*` folder with the files written so far stayed beside --out for good (Ctrl-C
    cleaned it up)."""
    db = store(tmp_path)
    out = tmp_path / "out"
    run_cli("export", "narratives", "--out", str(out), "--format", "csv", db=db)
    before = contents(out)
    proc = slow_export(db, "narratives", out)
    try:
        assert proc.stdout.readline().strip() == "wrote narratives"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "store"]
    assert contents(out) == before
    assert proc.returncode == 143, err
    assert err.startswith("error: interrupted by SIGTERM during the export") and len(
        err.strip().splitlines()) == 1, err  # fmt: skip


def test_a_killed_exports_half_written_folder_goes_with_the_next_export(tmp_path):
    """kill -9 (the OOM killer, a power cut) leaves the hidden partial folder: no handler
    runs. The next export into the same --out takes it away once nothing holds its lock
    (before, it stayed for good; audit, 2026-12-08); that of an export still writing stays."""
    db = store(tmp_path)
    out = tmp_path / "out"

    def partials() -> list[str]:
        return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.partial-"))

    killed = slow_export(db, "narratives", out)
    try:
        assert killed.stdout.readline().strip() == "wrote narratives"
        killed.kill()
        killed.wait(timeout=30)
    finally:
        killed.kill()
    [left] = partials()
    writing = slow_export(db, "copies", out)  # takes the killed one's away, and writes on
    try:
        assert writing.stdout.readline().strip() == "wrote copies"
        [ours] = partials()
        assert ours != left
        run_cli("export", "narratives", "--out", str(out), "--format", "csv", db=db)
        assert partials() == [ours]  # still writing: left alone
        assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "members.csv",
                                                         "narratives.csv"]  # fmt: skip
    finally:
        writing.kill()
        writing.wait(timeout=30)


def test_an_export_finished_meanwhile_in_the_same_folder_is_not_replaced(tmp_path):
    """Two different exports into the same new --out at once (two cron lines, two people):
    the one that finishes second finds the other's export there and is refused (exit 2) as
    if it had been there from the start. Before, it checked --out only when it began, and
    replaced the other export in silence: both exited 0, one export was gone."""
    db = store(tmp_path)
    out = tmp_path / "out"
    slow = slow_export(db, "documents", out)
    try:
        assert slow.stdout.readline().strip() == "wrote documents"  # it checked --out: empty
        run_cli("export", "copies", "--out", str(out), "--format", "jsonl", db=db)
        theirs = contents(out)
        slow.send_signal(signal.SIGUSR1)  # go on (SLOW's sleep ends)
        _, err = slow.communicate(timeout=60)
    finally:
        slow.kill()
    assert sorted(p.name for p in out.iterdir()) == ["copies.jsonl", "manifest.json"]
    assert contents(out) == theirs
    assert slow.returncode == 2 and "holds a different export" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "store"]


# `narrascope export` that gets SIGTERM as it prints its "wrote ..." line, the export done
TERM_AS_IT_PRINTS = """
import os, signal, sys
import click
real = click.echo
def echo(message=None, *args, **kwargs):
    if str(message).startswith("wrote "):
        os.kill(os.getpid(), signal.SIGTERM)
    real(message, *args, **kwargs)
click.echo = echo
from pipeline.cli import cli
cli(sys.argv[1:], prog_name="narrascope")
"""


def test_sigterm_as_the_export_says_what_it_wrote_says_the_export_is_whole(tmp_path):
    """Before, the process died with -15 and no word, though the export was whole."""
    db = store(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", TERM_AS_IT_PRINTS, "--db", str(db), "export", "narratives",
         "--out", str(out), "--format", "csv"],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (143, [
        f"error: interrupted by SIGTERM after the export: {out} was written whole (its "
        "manifest.json lists what produced it)"])  # fmt: skip
    assert {"manifest.json", "narratives.csv", "members.csv"} <= set(contents(out))
