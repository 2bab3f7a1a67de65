"""The benchmarks' own tools: the synthetic corpus (what it promises to plant), the peak-memory
measurement of a child process and `make bench`'s reading of its tables into results.json."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench import corpus
from bench.bench_end_to_end import edited_jaccard, measured, report, sample_of
from bench.pair_ceiling import f1_curve
from bench.run_all import BENCHES, selected, tables
from pipeline.dedup import DedupStage
from tests.support.pairs import pairwise_scores


def _words(d: dict) -> int:
    return sum(len(p.split()) for p in d["paragraphs"] if p != corpus.CHATBOT_TAIL)


def _body(d: dict) -> list[str]:
    return [p for p in d["paragraphs"] if p != corpus.CHATBOT_TAIL]


def test_the_corpus_plants_what_it_promises_and_is_seeded(shared, tmp_path):
    docs = corpus.generate(600, shared)
    assert [d["url"] for d in docs] == [d["url"] for d in corpus.generate(600, shared)]
    assert len({d["url"] for d in docs}) == 600

    kinds = Counter(d["kind"] for d in docs)
    assert kinds == {"original": 420, "verbatim": 60, "edited": 60, "translated": 60}
    assert set(Counter(d["lang"] for d in docs)) == {"ru", "uk", "en", "de", "fr"}
    originals = [d for d in docs if d["kind"] == "original"]
    assert all(300 <= _words(d) <= 1600 for d in originals), sorted(map(_words, originals))[:3]
    carrying = [d for d in originals if d["narrative"]]
    assert 0.3 < len(carrying) / len(originals) < 0.5
    assert not any(d["narrative"] for d in originals if d["lang"] == "fr")
    assert 0.02 < sum(corpus.CHATBOT_TAIL in d["paragraphs"] for d in docs) / len(docs) < 0.09

    by_i = {d["i"]: d for d in docs}
    for d in docs:
        src = by_i.get(d["copy_of"])
        if d["kind"] == "verbatim":
            assert d["paragraphs"] == src["paragraphs"]
        elif d["kind"] == "edited":
            assert d["paragraphs"] != src["paragraphs"] and d["lang"] == src["lang"]
        elif d["kind"] == "translated":
            assert d["lang"] != src["lang"] and d["narrative"] == src["narrative"]
            assert d["paragraphs"][: len(d["core"])] == d["core"]
        if src:
            assert src["kind"] == "original" and d["published"] > src["published"]
            assert d["host"] != src["host"]
    # on the generated text, an edited copy is a near copy by the dedup stage's rule, and not
    # the same text
    jaccards = edited_jaccard(docs)
    assert len(jaccards) == 60 and jaccards[0] >= DedupStage().threshold and jaccards[-1] < 0.95

    jsonl = corpus.write(docs[:40], tmp_path)
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["url"] for r in lines] == [d["url"] for d in docs[:40]]
    sitemap = (tmp_path / "site" / "sitemap.xml").read_text()
    assert len(re.findall("<loc>", sitemap)) == 40
    mirror = next(d for d in docs[:40] if d["site"] == "mirror")
    page = (tmp_path / "site" / mirror["url"].split("://", 1)[1]).read_bytes()
    assert mirror["title"][:20] in html.unescape(page.decode("cp1251"))  # as its meta says


def test_peak_memory_is_the_childs_own(tmp_path):
    """Not the parent's: a child forked from a big parent would report the parent's RSS."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: 300 MiB resident
    small = measured([sys.executable, "-c", "pass"], timeout=60)
    big = measured([sys.executable, "-c", "b = b'x' * (200 * 2**20); import time; time.sleep(0.3)"],
                   timeout=60)  # fmt: skip
    assert small["rc"] == 0 and small["peak_mib"] < 100, small
    assert 200 < big["peak_mib"] < 300, big
    del ballast


def test_a_size_that_stops_at_its_budget_is_reported_with_what_it_got_through(capsys):
    """A size over budget: its row says it stopped, and each stage's rate is on the documents it
    handled, not on the size (a stage it never reached says so)."""

    def stage(done, seconds, rejected=0):
        return {"version": "1", "done": done, "rejected": rejected, "seconds": seconds}

    timing = {"rc": 0, "seconds": 100.0, "peak_mib": 800.0}
    whole = {"n": 100, "model": "e5-small", "import": timing, "process": timing, "db_mib": 3.0,
             "stages": {"extract": stage(95, 5, rejected=5), "embed": stage(95, 90),
                        "cluster": stage(95, 1)},
             "bare": {"seconds": {"extract": 1.0, "embed (e5-small)": 80.0}}}  # fmt: skip
    stopped = {"n": 1000, "model": "e5-small", "import": timing, "db_mib": 30.0,
               "process": {"rc": 0, "seconds": 3600.0, "peak_mib": 900.0},
               "stages": {"extract": stage(950, 50, rejected=50), "embed": stage(300, 3000),
                          "stopped_early": {"reason": "max_duration",
                                            "left": {"extract": 0, "embed": 650, "cluster": 0}}}}  # fmt: skip
    report([whole, stopped])
    out = capsys.readouterr().out
    assert (
        "| 1,000 | 100 | stopped at its limit after 3600 s, 0 documents through its last stage |"
        in out
    )
    assert "documents waiting for embed 650." in out
    rows = {line.split(" | ")[0]: line for line in out.splitlines() if line.startswith("| ")}
    assert rows["| extract"].endswith("| 20.0 (1,000 docs) |")  # 1,000 handled in 50 s
    assert rows["| embed"].endswith("| 0.1 (300 docs) |")
    assert rows["| cluster"].endswith("| not reached |")
    assert "| 100 | 100 | 100 | 0.50 |" in out  # the whole size as before


def test_bare_calls_on_a_sample_are_rated_per_document_of_the_sample(capsys):
    """Above --bare-sample documents the bare calls run on a seeded sample: their rates, and the
    ratio to the pipeline, are per document of the sample, and the report says so."""
    items = list(range(10_000))
    picked = sample_of(items, 1000)
    assert picked == sample_of(items, 1000) and picked == sorted(set(picked))
    assert len(picked) == 1000 and picked[-1] > 9000  # drawn from the whole size
    assert sample_of(items[:500], 1000) == items[:500]

    def stage(done, seconds):
        return {"version": "1", "done": done, "rejected": 0, "seconds": seconds}

    timing = {"rc": 0, "seconds": 1000.0, "peak_mib": 800.0}
    run = {"n": 10_000, "model": "e5-small", "import": {**timing, "seconds": 0.0},
           "process": timing, "db_mib": 300.0,
           "stages": {"translate": stage(10_000, 200), "embed": stage(10_000, 800)},
           "bare": {"docs": 1000, "seconds": {"translate (Argos)": 500.0,
                                             "embed (e5-small)": 500.0}}}  # fmt: skip
    report([run])
    out = capsys.readouterr().out
    # end to end 10 docs/s; bare 1,000 docs in 1,000 s: 1 doc/s; translation aside 12.5 vs 2
    assert "| 10,000 | 0 | 1000 | 10.00 | 1.00 | 1000% | 625% | 800 | 30.0 |" in out
    assert "| embed | 12.5 (bare 2.0) |" in out
    assert "seeded sample of 1,000 of the pages" in out


def test_make_bench_reads_every_table_of_a_benchmark():
    output = (
        "| method | F1 | docs/s |\n|---|---|---|\n| ours | 0.95 | 9 |\n| peer | 0.93 | 19 |\n"
        "\nA note.\n\n| size | seconds |\n|---|---|\n| 1,000 | 12 |\n"
    )
    found = tables(output)
    assert [t["columns"] for t in found] == [["method", "F1", "docs/s"], ["size", "seconds"]]
    assert found[0]["rows"][1] == {"method": "peer", "F1": "0.93", "docs/s": "19"}
    assert found[1]["rows"] == [{"size": "1,000", "seconds": "12"}]


def test_make_bench_only_runs_the_benchmarks_named():
    """`make bench ONLY="extraction, bench_langid"`: those two run, every other one is named as
    left out, and a name that matches no benchmark stops the run before anything starts."""
    chosen = selected(BENCHES, "extraction, bench_langid", quick=False)
    ran = [args[0] for _, args, _ in chosen if args]
    assert ran == ["bench.bench_extraction", "bench.bench_langid"]
    assert all(why == "left out by ONLY=extraction, bench_langid" for _, a, why in chosen if not a)
    assert len(chosen) == len(BENCHES)
    quick = selected(BENCHES, "extraction,soak", quick=True)
    assert [(a, w) for t, a, w in quick if "Soak" in t] == [(None, "left out of QUICK=1")]
    assert [a[-1] for _, a, _ in quick if a] == ["--quick"]  # extraction, its quick form
    # a tool under bench/ without the bench_ prefix is named as its module is
    blind = selected(BENCHES, "signals_blind", quick=True)
    assert [a for _, a, _ in blind if a] == [["bench.signals_blind"]]
    with pytest.raises(SystemExit, match="extractoin"):
        selected(BENCHES, "extractoin")
    with pytest.raises(SystemExit, match="names no benchmark"):
        selected(BENCHES, ",")


def test_make_bench_passes_its_settings_to_the_runner():
    """The Makefile's own recipe runs (the peers' install left out) and ONLY, with spaces in
    it, reaches bench/run_all.py, which refuses the unknown name before anything runs."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["make", "-s", "-C", str(root), "bench", "BENCH_STAMP=", f"BIN={Path(sys.executable).parent}",
         "ONLY=extraction, no_such", "QUICK=1", "SHARED=/nowhere"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "ONLY names no benchmark: no_such" in done.stderr, done.stderr


def test_the_pairwise_ceiling_scores_f1_per_threshold():
    """bench/pair_ceiling: a pair is one story when its score reaches the threshold, scored as
    the gates score pairs (tests.support.pairs.pairwise_scores) at every threshold."""
    score = np.array([0.9, 0.8, 0.3])
    same = np.array([True, False, True])
    # at 0.5: one right, one wrongly joined, one missed; at 0.2 all joined; at 1.0 none
    assert f1_curve(score, same, np.array([0.5, 0.2, 1.0])).tolist() == [0.5, 0.8, 0.0]
    rng = np.random.default_rng(0)
    score, same = rng.random(200), rng.random(200) < 0.4
    pairs = [(i, i, bool(ok)) for i, ok in enumerate(same)]
    thresholds = np.round(np.arange(0.0, 1.01, 0.05), 2)
    expected = [pairwise_scores(lambda a, _, t=t: score[a] >= t, pairs)["f1"] for t in thresholds]
    assert np.allclose(f1_curve(score, same, thresholds), expected)


def test_the_translated_copies_table_counts_each_pair_once():
    """A planted translation is one pair, found from either end (the table once counted it
    twice, which the README's prose then quoted beside the centred gate's pair counts)."""
    from bench.translations import translated_table

    one = np.array([[1.0, 0.0]] * 2)
    variants = ("lead, raw (before)", "whole text, raw", "lead, centred",
                "whole text, centred", "document (lead + text, centred)")  # fmt: skip
    demo = {
        "urls": [
            "http://en.example/the-ceasefire-that-nobody-wants.html",
            "http://ru.example/peremirie-kotorogo-ne-hochet-bryussel.html",
        ],  # fmt: skip
        "langs": ["en", "ru"],
        "lengths": np.array([1000.0, 1100.0]),
        "variants": dict.fromkeys(variants, one),
    }
    rows = translated_table(demo)
    assert rows[2] == "| 0.30 | " + " | ".join(["1 / 0"] * 5) + " |"


def test_the_stopwords_table_counts_what_spacys_lists_take_out(tmp_path, capsys):
    """bench/stopwords.py: per language, the top-10 terms (the package's lists alone) that
    spaCy's list would take out, and whether it is added now; the lists are restored."""
    from bench import stopwords
    from pipeline import labels

    semsim = tmp_path / "data" / "semsim"
    semsim.mkdir(parents=True)
    german = "Wegen der Sanktionen wurde mehr Gas gekauft, sagte der Minister in Berlin."
    spanish = "El acuerdo de paz fue firmado en Madrid por el ministro y el acuerdo sigue."
    with open(semsim / "pairs.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pair_id", "lang1", "lang2", "Overall", "text1", "text2"])
        w.writerow(["1_2", "de", "es", "4.0", german, spanish])
    stopwords.main([str(tmp_path)])
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert " | yes | " in rows["de"] and "wegen 1" in rows["de"] and "mehr 1" in rows["de"]
    assert " | no | " in rows["es"] and "acuerdo 1" in rows["es"]
    assert "de" in labels.SPACY_ADDED and "wegen" not in dict(labels.terms(german, lang="de"))
