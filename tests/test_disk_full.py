"""A full disk under the database is one line that says so and names the file, and what was
committed stays. On a real full file system: a small tmpfs (the suite runs as root; where
mounting is not allowed, the test says so and skips)."""

import json
import os
import random
import subprocess

import pytest

from storage import connect
from tests.conftest import run_cli


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 3 MiB tmpfs here ({mounted.stderr.strip()})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_is_said_in_one_line_naming_the_file(tmp_path, small_disk):
    """Before: "error: unexpected TransactionException: TransactionContext Error: Failed to
    commit: ... (-v shows where)" from import, and "error: [Errno 28] No space left on
    device", naming no file, from a writer whose lock file could not be written."""
    rng = random.Random(1)
    words = [f"слово{n}" for n in range(5000)]
    lines = [json.dumps({"url": f"https://b.example/{n}",
                         "text": " ".join(rng.choice(words) for _ in range(400))})
             for n in range(1500)]  # fmt: skip
    corpus = tmp_path / "big.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    db = small_disk / "n.duckdb"
    proc = run_cli("import", str(corpus), db=db, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: no space left on the disk (writing {db}.wal): what was committed stays, the "
        "write in progress was rolled back; make room and run the command again"
    ]
    # the disk quite full: a writer cannot even record itself in its lock file
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # full
        pass
    finally:
        os.close(fd)
    proc = run_cli("process", "--no-progress", db=db, check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"error: no space left on the disk (writing {db}.lock): what was committed stays"
        )
    ), proc.stderr
    (small_disk / "filler").unlink()
    with connect(db, read_only=True) as con:  # the store is whole, the import recorded failed
        assert con.execute("SELECT status FROM runs WHERE kind = 'import'").fetchall() == [
            ("failed",)
        ]
