"""End to end: `narrascope import` and `process` (every default stage, default configuration)
of the synthetic corpus of bench/corpus.py at 1,000, 10,000 and 100,000 documents, next to the
bare library calls on the same pages in the same run: trafilatura, the language detector
(py3langid, what the default ensemble runs on whole texts), Argos Translate (the tiny test
packages: their overhead is measured, not translation quality), the embedding model (e5-small or ``--embed-model``,
on the same 510-token chunks and 300-character leads the stage embeds, cut beforehand) and datasketch MinHash.

Targets (issue 15): end to end >= 85% of the bare calls' combined rate, peak RSS <= 2 GB at
every size, time linear or better in N, and the 30% copies cutting model work by about 30%.
Every measured run is its own process; peak RSS is its own high-water mark (VmHWM, polled).
``process`` runs with ``--max-duration`` set to ``--budget``: a size that does not fit stops
there as a cron run would (what it committed kept) and is reported as stopped, with the
documents each stage got through and its rate on them; the bare calls are then left out (they
are per document, measured at the sizes that finish). Above ``--bare-sample`` documents (1,000)
the bare calls run on a seeded sample of that many of the size's pages: each is a call per
document, so its rate does not depend on N, and at 10,000 documents the per-document Argos
call alone would take hours. A command still running past the budget and a margin is killed
and reported as such.

Run: python -m bench.bench_end_to_end SHARED [--sizes 1000,10000,100000] [--budget 3600]
[--bare-sample 1000] [--embed-model use-multilingual]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import corpus
from tests.support.rss import high_water_kib

LANGS = [lang for lang in corpus.LANGS if lang != "en"]
#: Seconds past ``--budget`` before a command is killed: ``process`` stops itself at the budget
#: and may finish the batch it started (up to 64 documents of the slowest stage).
KILL_MARGIN = 600


def measured(cmd: list[str], timeout: float, **kwargs) -> dict:
    """Run ``cmd``: its exit status, wall seconds and peak RSS in MiB (its own VmHWM)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, **kwargs)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, high_water_kib(proc.pid))
            if time.monotonic() - started > timeout:
                proc.kill()
                proc.wait()
                return {"rc": "timeout", "seconds": timeout, "peak_mib": peak / 1024}
            time.sleep(0.05)
        if proc.returncode:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-2000:])
    return {"rc": proc.returncode, "seconds": time.monotonic() - started, "peak_mib": peak / 1024}


def install_tiny_packages(tmp: Path) -> None:
    """Tiny Argos packages xx -> en for every corpus language (tests/support/tiny_argos.py)."""
    from tests.support.tiny_argos import build_package

    files = [str(build_package(tmp / "pkgs", lang, "en")) for lang in LANGS]
    subprocess.run([sys.executable, "-m", "pipeline.cli", "models", "install-file", *files],
                   check=True, capture_output=True)  # fmt: skip


def sample_of(items: list, k: int | None) -> list:
    """A seeded sample of ``k`` of the items, in their order; all of them where k is None or
    not smaller."""
    if k is None or k >= len(items):
        return items
    return [items[i] for i in sorted(random.Random(0).sample(range(len(items)), k))]


def bare(jsonl: Path, out: Path, model: str, sample: int | None = None) -> None:
    """The library calls alone on the same pages, each timed (a child process); on a seeded
    ``sample`` of them where there are more."""
    import py3langid
    import trafilatura
    from argostranslate import translate
    from datasketch import MinHash

    from pipeline.dedup import shingles

    pages = [json.loads(line) for line in jsonl.open(encoding="utf-8")]
    pages = sample_of(pages, sample)
    seconds: dict[str, float] = {}

    def timed(name, fn, items):
        started = time.perf_counter()
        result = [fn(x) for x in items]
        seconds[name] = time.perf_counter() - started
        return result

    texts = timed("extract (trafilatura)", lambda p: trafilatura.extract(p["html"]) or "", pages)
    langs = timed("language (py3langid)", lambda t: py3langid.classify(t)[0], texts)
    started, failed = time.perf_counter(), 0
    for lang, text in zip(langs, texts, strict=True):
        if lang in LANGS:
            try:  # the tiny packages take 256 positions: a long sentence raises
                translate.get_translation_from_codes(lang, "en").translate(text)
            except RuntimeError:
                failed += 1
    seconds["translate (Argos, tiny packages)"] = time.perf_counter() - started
    from pipeline.embed import EmbedStage, chunk_text

    stage = EmbedStage(model=model)  # only for what it embeds: title + text, and the lead
    started = time.perf_counter()
    embedder = stage.embedder  # a thin wrapper: the library's encode, then unit length
    loading = time.perf_counter() - started  # counted: the stage loads it too
    windows = []  # the stage's chunks and leads, cut before the clock starts
    for page, text in zip(pages, texts, strict=True):
        joined, lead = stage._joined(page["title"], text), stage._lead(page["title"], text)
        pieces = chunk_text(joined, embedder.count_tokens, embedder.max_tokens)
        windows += [c for c, _ in pieces][: stage.max_chunks]
        if lead != joined:  # as the stage: a short text is its own lead
            windows.append(lead)
    started = time.perf_counter()
    for i in range(0, len(windows), 64):
        embedder.encode(windows[i : i + 64])
    seconds[f"embed ({model})"] = time.perf_counter() - started + loading

    def minhash(text: str) -> MinHash:  # on the shingles the stage hashes
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles(text, 3)))
        return m

    timed("MinHash (datasketch)", minhash, texts)
    out.write_text(json.dumps({"seconds": seconds, "docs": len(pages), "translate_failed": failed}))


def edited_jaccard(docs: list[dict]) -> list[float]:
    """MinHash Jaccard (the dedup stage's) of each edited copy's text with its original's."""
    from pipeline.dedup import DedupStage, jaccard, signature

    stage = DedupStage()

    def sig(d: dict) -> np.ndarray:
        return signature("\n\n".join(d["paragraphs"]), stage.num_perm, stage.seed, stage.shingle)

    return sorted(jaccard(sig(d), sig(docs[d["copy_of"]])) for d in docs if d["kind"] == "edited")


def one_size(n: int, shared: Path, tmp: Path, budget: float, model: str,
             bare_sample: int = 1000) -> dict:  # fmt: skip
    work = tmp / str(n)
    started = time.perf_counter()
    docs = corpus.generate(n, shared)
    jsonl = corpus.write(docs, work, site=False)
    result: dict = {"n": n, "model": model, "generate_s": time.perf_counter() - started,
                    "edited_jaccard": edited_jaccard(docs)}  # fmt: skip
    db = work / "bench.duckdb"
    config = work / "narrascope.toml"  # the defaults, but for the embedding model
    config.write_text("".join(f'[{s}]\n{k} = "{model}"\n' for s, k in
                              [("embed", "model"), ("dedup", "embed_model"), ("cluster", "embed_model")]))  # fmt: skip
    cli = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config)]
    result["import"] = measured([*cli, "import", str(jsonl)], budget)
    if result["import"]["rc"] != 0:
        result["process"] = {"rc": "import failed", "seconds": 0.0, "peak_mib": 0.0}
        return result
    limit = ["--max-duration", f"{budget:.0f}"]  # stops cleanly; the kill is the backstop
    result["process"] = measured([*cli, "process", "--no-progress", *limit], budget + KILL_MARGIN)
    if result["process"]["rc"] != 0:
        return result
    from storage import connect

    with connect(db, read_only=True) as con:
        (summary,) = con.execute(
            "SELECT summary FROM runs WHERE kind = 'process' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        result["documents"] = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    result["stages"] = json.loads(summary)
    result["db_mib"] = sum(p.stat().st_size for p in work.glob("bench.duckdb*")) / 2**20
    if "stopped_early" in result["stages"]:
        return result  # no bare calls for a size that did not fit: see the docstring
    out = work / "bare.json"
    bare_cmd = ["bench.bench_end_to_end", "--bare", str(jsonl), str(out), model, str(bare_sample)]
    result["bare_run"] = measured([sys.executable, "-m", *bare_cmd], budget)
    if out.exists():
        result["bare"] = json.loads(out.read_text())
    return result


def handled(stage: dict) -> int:
    """Documents a stage finished in the run, whatever the outcome."""
    return stage.get("done", 0) + stage.get("rejected", 0) + stage.get("retrying", 0)


def through(r: dict) -> int:
    """Documents of a run stopped at its limit that its last stage handled (0 when a stage was
    never reached); documents rejected on the way never reach it."""
    stages = [v for v in r["stages"].values() if isinstance(v, dict) and "seconds" in v]
    waiting = r["stages"]["stopped_early"]["left"]
    reached = [handled(v) for v in stages]
    return min(reached) if len(stages) >= len(waiting) else 0


def bare_docs(r: dict) -> int:
    """The pages the bare calls ran on: the whole size, or its sample (``--bare-sample``)."""
    return r.get("bare", {}).get("docs", r["n"])


def report(results: list[dict]) -> None:
    print(f"Embedding model: {results[0]['model']}.\n")
    print("| documents | import s | process s | docs/s end to end | bare calls docs/s | "
          "end to end / bare | translation aside | peak RSS MiB (process) | "
          "DB MiB per 1,000 docs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p = r["process"]
        if p["rc"] == 0 and "stopped_early" in r["stages"]:
            print(f"| {r['n']:,} | {r['import']['seconds']:.0f} | stopped at its limit after "
                  f"{p['seconds']:.0f} s, {through(r):,} documents through its last stage | | | | | "
                  f"{p['peak_mib']:.0f} | |")  # fmt: skip
            continue
        if p["rc"] != 0:
            why = f"not finished within {p['seconds']:.0f} s" if p["rc"] == "timeout" else (
                f"failed ({p['rc']})")  # fmt: skip
            print(f"| {r['n']:,} | {r['import']['seconds']:.0f} | {why} | | | | | "
                  f"{p['peak_mib']:.0f} | |")  # fmt: skip
            continue
        total = r["import"]["seconds"] + p["seconds"]
        rate = r["n"] / total
        bare = r.get("bare", {}).get("seconds", {})
        sampled = bare_docs(r)
        bare_rate = sampled / sum(bare.values()) if bare else float("nan")
        # The bare Argos call is per document and slow; the stage batches and caches sentences.
        # Without translation on either side, the ratio is the rest of the pipeline's overhead.
        aside = (sum(v for k, v in bare.items() if not k.startswith("translate")) / sampled
                 / ((total - r["stages"].get("translate", {}).get("seconds", 0.0)) / r["n"])
                 if bare else float("nan"))  # fmt: skip
        print(f"| {r['n']:,} | {r['import']['seconds']:.0f} | {p['seconds']:.0f} | {rate:.2f} | "
              f"{bare_rate:.2f} | {rate / bare_rate:.0%} | {aside:.0%} | {p['peak_mib']:.0f} | "
              f"{r['db_mib'] / r['n'] * 1000:.1f} |")  # fmt: skip
    measured_ = [r for r in results if r["process"]["rc"] == 0]
    done = [r for r in measured_ if "stopped_early" not in r["stages"]]
    for r in measured_:
        if r not in done:
            left = r["stages"]["stopped_early"]["left"]
            print(f"\n{r['n']:,} documents did not fit the budget: `process` stopped at its"
                  f" --max-duration with documents waiting for "
                  + ", ".join(f"{stage} {n:,}" for stage, n in left.items() if n)
                  + ". The stage table gives its rates on the documents each stage got"
                  " through; the bare calls were not run at this size.")  # fmt: skip
    if not measured_:
        return
    for r in done:
        if bare_docs(r) < r["n"]:
            print(f"\n{r['n']:,} documents: the bare calls ran on a seeded sample of"
                  f" {r['bare']['docs']:,} of the pages (`--bare-sample`); their rates are per"
                  " document of that sample.")  # fmt: skip
        rate = r["n"] / (r["import"]["seconds"] + r["process"]["seconds"])
        slowest = max((s for s in r["stages"] if "seconds" in r["stages"][s]),
                      key=lambda s: r["stages"][s]["seconds"])  # fmt: skip
        share = r["stages"][slowest]["seconds"] / r["process"]["seconds"]
        failed = r.get("bare", {}).get("translate_failed", 0)
        print(f"\n{r['n']:,} documents: {rate * 86400:,.0f} a day on this machine; {slowest} "
              f"takes {share:.0%} of the processing time."
              + (f" The bare Argos call raised on {failed} documents (a sentence over the tiny"
                 " packages' 256 positions) and gave up on each, so its rate is flattered."
                 if failed else ""))  # fmt: skip
    stages = list(dict.fromkeys(s for r in measured_ for s, v in r["stages"].items()
                                if isinstance(v, dict) and "seconds" in v))  # fmt: skip
    print("\nDocuments a second per stage (the stage's own time; the bare call beside it; at a"
          " size that stopped at its limit, the documents the stage got through):\n")  # fmt: skip
    print("| stage | " + " | ".join(f"{r['n']:,} docs" for r in measured_) + " |")
    print("|---|" + "---|" * len(measured_))
    bare_of = {"extract": "extract", "langid": "language", "translate": "translate",
               "embed": "embed", "dedup": "MinHash"}  # fmt: skip
    for stage in stages:
        cells = []
        for r in measured_:
            s = r["stages"].get(stage)
            if r not in done:
                got = handled(s) if s else 0
                cells.append(f"{got / s['seconds']:.1f} ({got:,} docs)" if got and s["seconds"]
                             else f"- ({got:,} docs)" if got else "not reached")  # fmt: skip
                continue
            cell = f"{r['n'] / s['seconds']:.1f}" if s["seconds"] else "-"
            match = [
                k
                for k in r.get("bare", {}).get("seconds", {})
                if k.startswith(bare_of.get(stage, "?"))
            ]
            if match:
                cell += f" (bare {bare_docs(r) / r['bare']['seconds'][match[0]]:.1f})"
            cells.append(cell)
        print(f"| {stage} | " + " | ".join(cells) + " |")
    print("\nModel work not repeated (30% of the documents are copies: a tenth verbatim, a tenth"
          " edited, a tenth translated; 40% of the originals share a planted narrative part):\n")  # fmt: skip
    print("| documents | documents embedded / documents | sentences translated / sentences |")
    print("|---|---|---|")
    for r in done:
        e, t = r["stages"].get("embed", {}), r["stages"].get("translate", {})
        docs, reused = e.get("done", 0), e.get("reused_from_a_copy", 0)
        sentences, cached = t.get("sentences", 0), t.get("sentences_from_cache", 0)
        print(f"| {r['n']:,} | {docs - reused:,} / {docs:,} ({reused:,} reused an identical"
              f" text's vectors) | {sentences - cached:,} / {sentences:,} ({cached:,} from the"
              " cache: copies, narrative parts, repeated sentences) |")  # fmt: skip
    for r in done:
        if r.get("edited_jaccard"):
            j = r["edited_jaccard"]
            print(f"\n{r['n']:,} documents: the edited copies' Jaccard with their originals (the"
                  f" dedup stage's MinHash) is {j[0]:.2f}-{j[-1]:.2f}, median"
                  f" {j[len(j) // 2]:.2f}; they are embedded again (docs/benchmarks.md).")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shared", type=Path, nargs="?", default=Path("../shared"))
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--budget", type=float, default=3600, help="seconds a size may take")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--embed-model", default="e5-small", help="e.g. use-multilingual")
    parser.add_argument("--bare-sample", type=int, default=1000,
                        help="above this many documents, the bare calls run on a sample")  # fmt: skip
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = str(tmp / var.lower())
        os.environ["ARGOS_PACKAGES_DIR"] = str(tmp / "argos-packages")
        install_tiny_packages(tmp)
        for n in map(int, args.sizes.split(",")):
            results.append(one_size(n, args.shared.resolve(), tmp, args.budget, args.embed_model,
                                    args.bare_sample))  # fmt: skip
            if args.json:  # after each size: a long run that is stopped keeps what it measured
                args.json.write_text(json.dumps(results, indent=1, default=str))
            shutil.rmtree(tmp / str(n), ignore_errors=True)  # 100,000 pages take room
    report(results)


def report_file(path: Path) -> None:
    """The tables again from a ``--json`` file (of a run that was stopped, say)."""
    report(json.loads(path.read_text()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        report_file(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--bare"]:
        rest = sys.argv[4:]  # model [sample]
        bare(Path(sys.argv[2]), Path(sys.argv[3]), rest[0] if rest else "e5-small",
             int(rest[1]) if len(rest) > 1 else None)  # fmt: skip
    else:
        main()
