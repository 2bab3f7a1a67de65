"""Stage overhead: `process --stage translate` (tiny Argos packages: measures everything but
the model) and `--stage embed` (default model) on 2,000 mixed-language documents, next to the
bare model calls on the same texts; then the same corpus with 30% exact copies.

Every measured run is its own process (peak RSS is per process): `--child MODE DB OUT`.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LANGS = {"ru": 500, "uk": 400, "de": 400, "fr": 300, "en": 400}  # documents per language
N_COPIES = 600


def corpus(shared: Path, copies: int = 0) -> list[dict]:
    """Two-sentence documents (one sentence a paragraph); no sentence is used twice, so the
    sentence cache gets no free hits. With ``copies``, that many documents are replaced by
    exact copies (other case and spacing) of the rest."""
    docs = []
    for lang, n in LANGS.items():
        lines = (shared / "data" / "langid" / "sentences" / f"{lang}.txt").read_text().splitlines()
        for i in range(n):
            docs.append(
                {
                    "url": f"https://{lang}.example/{i}",
                    "text": f"{lines[2 * i]}\n{lines[2 * i + 1]}",
                    "lang": lang,
                }
            )
    rng = random.Random(0)
    rng.shuffle(docs)
    if copies:
        originals = docs[: len(docs) - copies]
        for i in range(copies):
            src = originals[rng.randrange(len(originals))]
            docs[len(originals) + i] = {
                "url": f"https://copy.example/{i}",
                "text": "  " + src["text"].upper().replace(" ", "  "),
                "lang": src["lang"],
            }
    return docs


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args], check=True, capture_output=True)


def prepare(tmp: Path, docs: list[dict], name: str) -> Path:
    """A database with the documents imported, extracted and language-identified (in child
    processes: Linux keeps a parent's peak RSS across exec, so the parent stays small)."""
    src = tmp / f"{name}.jsonl"
    src.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs) + "\n")
    db = tmp / f"{name}.duckdb"
    _cli("--db", str(db), "import", str(src))
    _cli("--db", str(db), "process", "--stage", "extract", "--stage", "langid", "--no-progress")
    return db


def _texts(db: Path) -> list[tuple[str, str]]:
    from storage import connect

    with connect(db, read_only=True) as con:
        return con.execute("SELECT lang, text FROM v_documents ORDER BY doc_id").fetchall()


def child(mode: str, db: Path, out: Path) -> None:
    result: dict = {}
    if mode.endswith("-stage"):
        from pipeline.runner import run_stages
        from pipeline.stages import build_stages

        stage = mode.removesuffix("-stage")
        report = run_stages(db, build_stages([stage], {}), batch_size=64).stages[0]
        result = {"seconds": report.seconds, "docs": report.done + report.rejected}
        result.update(report.counters)
    elif mode == "translate-bare":
        from argostranslate import translate

        docs = [(lang, text) for lang, text in _texts(db) if lang != "en"]
        started = time.perf_counter()
        for lang, text in docs:
            translate.get_translation_from_codes(lang, "en").translate(text)
        result = {"seconds": time.perf_counter() - started, "docs": len(_texts(db))}
    elif mode in ("translate-ctranslate2", "translate-split-ctranslate2"):
        # CTranslate2 per language on each paragraph's lines as sentences, or (split) on what
        # the stage itself translates: the package's splitter on each paragraph, each distinct
        # sentence once (the stage's sentence cache translates a repeat once too)
        from pipeline.argos_routes import routes
        from pipeline.textnorm import paragraphs

        docs = [(lang, text) for lang, text in _texts(db) if lang != "en"]
        found = routes("en")
        split = mode == "translate-split-ctranslate2"
        started = time.perf_counter()
        by_lang: dict[str, list[str]] = {}
        for lang, text in docs:
            for paragraph in paragraphs(text) if split else text.split("\n"):
                by_lang.setdefault(lang, []).extend(
                    found[lang].sentences(paragraph) if split else [paragraph]
                )
        for lang, sentences in by_lang.items():
            found[lang].translate(list(dict.fromkeys(sentences)) if split else sentences)
        result = {"seconds": time.perf_counter() - started, "docs": len(_texts(db))}
    elif mode == "embed-bare":
        from pipeline.embedders import load_embedder

        texts = [text for _, text in _texts(db)]
        started = time.perf_counter()
        model = load_embedder("e5-small")
        for i in range(0, len(texts), 64):
            model.encode(texts[i : i + 64])
        result = {"seconds": time.perf_counter() - started, "docs": len(texts)}
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result))


_MEASURED: dict = {}


#: short runs (about 10 s) whose rate moves 10-20% from one run to the next: the median of these
REPEAT = {"translate-stage": 3, "translate-ctranslate2": 3, "translate-split-ctranslate2": 3}


def measure(mode: str, db: Path, tmp: Path) -> dict:
    """``mode`` on a fresh copy of ``db``, each run in its own process, measured once per mode
    and database: ``REPEAT[mode]`` runs (default one) and the one with the median time, with
    every run's docs/s under ``rates``."""
    if (mode, db) in _MEASURED:
        return _MEASURED[(mode, db)]
    results = []
    for _ in range(REPEAT.get(mode, 1)):
        run_db = tmp / f"run-{mode}.duckdb"
        shutil.copy(db, run_db)
        out = tmp / f"{mode}.json"
        subprocess.run(
            [sys.executable, "-m", "bench.bench_stages", "--child", mode, str(run_db), str(out)],
            check=True,
        )
        results.append(json.loads(out.read_text()))
    results.sort(key=lambda r: r["seconds"])
    median = dict(results[len(results) // 2])
    median["rates"] = [r["docs"] / r["seconds"] for r in results]
    _MEASURED[(mode, db)] = median
    return median


def main(shared: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = str(tmp / var.lower())
        os.environ["ARGOS_PACKAGES_DIR"] = str(tmp / "argos-packages")
        for lang in LANGS:
            if lang != "en":
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "import sys; from tests.support.tiny_argos import build_package; "
                        "print(build_package(sys.argv[1], sys.argv[2], 'en'))",
                        str(tmp / "pkgs"),
                        lang,
                    ],
                    check=True,
                    capture_output=True,
                )
        _cli("models", "install-file", *map(str, sorted((tmp / "pkgs").glob("*.argosmodel"))))
        unique = prepare(tmp, corpus(shared), "unique")
        copied = prepare(tmp, corpus(shared, N_COPIES), "copies")

        rows = []
        for label, stage_mode, bare_modes in [
            (
                "translate (tiny Argos packages)",
                "translate-stage",
                ["translate-bare", "translate-ctranslate2", "translate-split-ctranslate2"],
            ),
            ("embed (e5-small)", "embed-stage", ["embed-bare"]),
        ]:
            stage = measure(stage_mode, unique, tmp)
            rate = stage["docs"] / stage["seconds"]
            for bare_mode in bare_modes:
                bare = measure(bare_mode, unique, tmp)
                bare_rate = bare["docs"] / bare["seconds"]
                rows.append(
                    f"| {label} | {bare_mode} | {rate:.0f} | {bare_rate:.0f} | "
                    f"{rate / bare_rate:.0%} | {stage['peak_rss_mib']:.0f} / "
                    f"{bare['peak_rss_mib']:.0f} |"
                )
        print(
            "| stage | bare call | stage docs/s | bare docs/s | stage / bare | peak RSS MiB (stage / bare) |"
        )
        print("|---|---|---|---|---|---|")
        print("\n".join(rows))
        repeated = ", ".join(
            f"{mode} {'/'.join(f'{r:.0f}' for r in measure(mode, unique, tmp)['rates'])}"
            for mode in REPEAT
        )
        print(f"\nMedians of {'/'.join(map(str, REPEAT.values()))} runs, docs/s of each run, "
              f"fastest first: {repeated}.")  # fmt: skip

        print(f"\nSame 2,000 documents with {N_COPIES} exact copies (30%):\n")
        print("| stage | corpus | seconds | model work | copies that reused earlier work |")
        print("|---|---|---|---|---|")
        for stage_mode, work in [("translate-stage", "sentences"), ("embed-stage", "chunks")]:
            for name, db in [("unique", unique), ("30% copies", copied)]:
                r = measure(stage_mode, db, tmp)
                done = r.get(work, 0) - (
                    r.get("sentences_from_cache", 0) if work == "sentences" else 0
                )
                if work == "chunks":
                    done = r.get("docs", 0) - r.get("reused_from_a_copy", 0)
                print(
                    f"| {stage_mode.removesuffix('-stage')} | {name} | {r['seconds']:.1f} | "
                    f"{done} {'sentences translated' if work == 'sentences' else 'texts embedded'}"
                    f" | {r.get('reused_from_a_copy', 0)} |"
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared"))
