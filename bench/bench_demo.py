"""The main job end to end: `narrascope demo` wall time and peak RSS (target: < 3 min on 2 cores)."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "demo", "--db", str(Path(tmp) / "d.duckdb")],
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"| narrascope demo (45 documents from 4 sources, crawl, extract, langid, translate, embed, dedup, cluster) | {wall:.1f} s | {peak:.0f} MiB peak RSS |"
    )


if __name__ == "__main__":
    main()
