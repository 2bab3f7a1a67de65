"""Ray overhead: the embed stage (default model) with the local engine and with the Ray engine on
a local Ray instance of the same CPUs, on the same documents, in one run; a Markdown table.

    PYTHONPATH=. python bench/bench_ray.py [N_DOCS] [CPUS] [BATCH]   # default: 100, 2, 64

Each batch goes to one Ray worker whole: with fewer batches than workers, or batches of
unequal sizes (100 documents in batches of 64: 64 + 36), the workers finish at different times
and Ray trails the local engine (whose one process uses every CPU on every batch) by that much.

The documents are bench/corpus.py's generated articles (300-1,500 words, mixed languages),
imported and extracted once; each engine embeds its own copy of that database. Ray's start
(``ray.init``) is timed apart from the stage; the stage's time includes starting its actors
and loading the model in each, as the local time includes loading it once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import generate, write  # noqa: E402
from pipeline.embed import EmbedStage  # noqa: E402
from pipeline.runner import run_stages  # noqa: E402


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args], check=True,
                   capture_output=True, env={**os.environ, "NARRASCOPE_CONFIG": ""})  # fmt: skip


def main(n: int = 100, cpus: int = 2, batch: int = 64) -> None:
    shared = Path(os.environ.get("SHARED", ROOT.parent / "shared"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        corpus = write(generate(n, shared), tmp / "corpus", site=False)
        base = tmp / "base.duckdb"
        _cli("--db", str(base), "import", str(corpus))
        _cli("--db", str(base), "process", "--stage", "extract", "--no-progress")
        rows = []
        local = shutil.copy(base, tmp / "local.duckdb")
        report = run_stages(local, [EmbedStage()], batch_size=batch).stages[0]
        rows.append(("local", cpus, 0.0, report))

        from pipeline.engines.ray_engine import RayEngine

        started = time.perf_counter()
        engine = RayEngine(num_cpus=cpus).start()
        init = time.perf_counter() - started
        on_ray = shutil.copy(base, tmp / "ray.duckdb")
        report = run_stages(on_ray, [EmbedStage()], batch_size=batch,
                            run_stage=engine.run_stage).stages[0]  # fmt: skip
        rows.append(("ray", cpus, init, report))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base_rate = rows[0][3].docs_per_s
    print(f"\nembed stage, {n} generated articles, default model, batch {batch}\n")
    print("| engine | CPUs | ray.init s | stage s | docs | docs/s | vs local |")
    print("|---|---|---|---|---|---|---|")
    for name, n_cpus, init, r in rows:
        docs = r.done + r.rejected
        print(f"| {name} | {n_cpus} | {init:.1f} | {r.seconds:.1f} | {docs} | "
              f"{r.docs_per_s:.2f} | {r.docs_per_s / base_rate:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
