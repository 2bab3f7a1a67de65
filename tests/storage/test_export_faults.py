"""`narrascope export` stopped or failing half-way, as a researcher meets it: a non-zero exit,
the previous export as it was, and nothing half-written beside --out."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, cli_env, run_cli

# `narrascope` with the export's first file written slowly: time to send a signal in the middle
SLOW = """
import sys, time
import storage.export_files as files
real = files._write_parts
def slow(*args, **kwargs):
    done = real(*args, **kwargs)
    print("wrote", args[1], flush=True)
    time.sleep(60)
    return done
files._write_parts = slow
from pipeline.cli import cli
cli(sys.argv[1:], prog_name="narrascope")
"""


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


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
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW, "--db", str(db), "export", "narratives", "--out",
         str(out), "--format", "csv"],
        cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
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
