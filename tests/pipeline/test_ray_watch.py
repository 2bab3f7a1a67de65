"""The Ray engine's cluster watch (pipeline/engines/ray_support.py), without Ray: it may
interrupt the main thread only while that thread waits on Ray, never while it reads or
writes the database; elsewhere the engine finds the lost cluster when it checks. Each case
runs in its own process: the watch ends its process once the cluster is lost."""

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, time
from pipeline.engines.ray_support import ClusterWatch, LostCluster
watch = ClusterWatch("127.0.0.1:{port}", grace=1.0, every=0.05)
watch.active.set()
watch.start()
{body}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def run(body: str, sigint_ignored: bool = False) -> subprocess.CompletedProcess:
    code = SCRIPT.format(port=closed_port(), body=textwrap.dedent(body))
    # a command a shell script starts in the background (`narrascope ... &`) has SIGINT ignored
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT)},
                          preexec_fn=ignore)  # fmt: skip


def test_no_interrupt_outside_a_wait_on_ray():
    """Busy outside ``waiting`` (as in a DuckDB write) while the cluster is lost: nothing is
    interrupted; the next check raises LostCluster, and the process ends with status 1."""
    proc = run("""
        until = time.monotonic() + 1.6
        while time.monotonic() < until:  # "writing a batch"
            sum(range(1000))
        print("write finished", flush=True)
        try:
            watch.check()
        except LostCluster as err:
            print("checked:", err, flush=True)
        time.sleep(5)
        print("still alive", flush=True)
    """)
    assert "write finished" in proc.stdout, proc.stderr
    assert "checked: lost the Ray cluster: its head at 127.0.0.1:" in proc.stdout
    assert "still alive" not in proc.stdout
    assert proc.returncode == 1
    assert "KeyboardInterrupt" not in proc.stderr and "error:" not in proc.stderr


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint", "sigint-ignored"])
def test_a_wait_on_ray_is_interrupted_and_an_unreported_loss_gets_its_line(sigint_ignored):
    """Blocked inside ``waiting``: interrupted, also where SIGINT is ignored. Had the engine
    not reported the loss, the watch writes the one error line itself before it ends the
    process."""
    proc = run(
        """
        try:
            with watch.waiting():
                for _ in range(100):  # "next(results)": Ray's wait polls
                    time.sleep(0.1)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        time.sleep(5)
    """,
        sigint_ignored,
    )
    assert "interrupted" in proc.stdout, proc.stderr
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the Ray cluster: its head at ")
