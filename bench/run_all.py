"""`make bench`: every benchmark, printed as the Markdown tables the README quotes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_demo, bench_extraction, bench_langid  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"

if __name__ == "__main__":
    print("## Language identification\n")
    bench_langid.main(SHARED)
    print("\n## Extraction\n")
    bench_extraction.main(SHARED)
    print("\n## Demo\n")
    bench_demo.main()
