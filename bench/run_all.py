"""`make bench`: every benchmark, printed as the Markdown tables the README quotes.

Each benchmark runs in its own process: a child forked from a process that already holds
models inherits their pages, which would inflate the demo's measured peak RSS.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

BENCHES = [
    ("Language identification", ["bench.bench_langid", str(SHARED)]),
    ("Extraction", ["bench.bench_extraction", str(SHARED)]),
    ("Embedding models", ["bench.bench_embed_models", str(SHARED)]),
    ("Machine-written-text signals", ["bench.bench_signals", str(SHARED)]),
    ("Translate and embed stages", ["bench.bench_stages", str(SHARED)]),
    ("Similarity and language bias", ["bench.bench_similarity", str(SHARED)]),
    ("Copies and narratives at scale", ["bench.bench_copies_narratives"]),
    ("Crawling", ["bench.bench_crawl", "1000", "5000"]),
    ("Exports at scale", ["bench.bench_export", "1000", "10000", "100000"]),
    ("Dashboard at scale", ["bench.bench_dashboard", "100000"]),
    ("Demo", ["bench.bench_demo"]),
    ("Soak: twenty consecutive runs against changing sites", ["bench.bench_soak", "20"]),
]

if __name__ == "__main__":
    for title, args in BENCHES:
        print(f"## {title}\n", flush=True)
        subprocess.run([sys.executable, "-m", *args], check=True, cwd=ROOT)
        print(flush=True)
