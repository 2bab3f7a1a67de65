"""Near-duplicates: narrascope's dedup stage vs a plain datasketch MinHashLSH and vs exact
hashing, on real news texts with planted copies: pairwise precision/recall/F1, time, peak RSS.

Corpus (seeded): the distinct articles of ../shared/data/semsim and clustering are the
originals (~1,600; an article whose word-3-gram Jaccard with an earlier one is >= 0.3, a wire
story run twice, is left out); every third gets one or two planted copies, one edit each (see
KINDS). Negatives: all other pairs, among them the semsim pairs of different stories on one
topic (rated >= 3) and of one story written independently (<= 1.5). Truth: an original and its
copies form a group; every pair in a group is a copy pair; found groups are scored likewise.

Methods, each in its own process (peak RSS = VmHWM): narrascope's dedup stage run by the
runner on a store made by `narrascope import` + extract + langid (not timed), copy groups
read from copy_members: translated copies off (exact hash + MinHash LSH over word 3-grams of
the normalised text, estimate >= 0.5, 128 permutations) and, with --translated, as configured
by default (+ translated copies: needs the embed stage first, ~2 s a document on two busy
cores, over an hour for the full corpus, so it is opt-in); datasketch
MinHashLSH(num_perm=128) on word 5-grams at 0.5 (its README's example) and 0.8, candidates
taken as copies and grouped transitively; sha1 of whitespace-normalised lowercased text.
Run: python -m bench.bench_neardup_peers ../shared [--quick] [--translated]
(--quick: 200 originals)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

import duckdb

from tests.support.pairs import semsim_documents, story_documents
from tests.support.rss import high_water_kib

KINDS = ("verbatim", "spacing/punctuation", "sentence added", "sentence removed",
         "boilerplate appended", "10% words replaced", "paragraphs reordered")  # fmt: skip
BOILERPLATE = (
    "Subscribe to our newsletter to get the latest news delivered to your inbox every morning. "
    "Follow us on Facebook, Twitter and Telegram. All rights reserved. Reproduction of this "
    "material is permitted only with an active hyperlink to the source. Advertising: contact our "
    "sales team. Comments are moderated; please keep them civil and on topic."
)
_SENT = re.compile(r"(?<=[.!?])\s+")


def edit(text: str, kind: str, rng: random.Random, donor: str) -> str:
    sents = _SENT.split(text)
    if kind == "spacing/punctuation":
        text = text.replace(", ", " ,  ").replace('"', "“").replace(". ", ".\n")
        return text.replace("-", " - ").replace(":", " :")
    if kind == "sentence added":
        i = rng.randrange(len(sents) + 1)
        return " ".join(sents[:i] + [rng.choice(_SENT.split(donor))] + sents[i:])
    if kind == "sentence removed" and len(sents) > 1:
        i = rng.randrange(len(sents))
        return " ".join(sents[:i] + sents[i + 1 :])
    if kind == "boilerplate appended":
        return f"{text}\n{BOILERPLATE}"
    if kind == "10% words replaced":
        words, pool = text.split(" "), donor.split()
        for i in rng.sample(range(len(words)), max(1, len(words) // 10)):
            words[i] = rng.choice(pool)
        return " ".join(words)
    if kind == "paragraphs reordered":
        paras = [p for p in text.split("\n") if p.strip()]
        if len(paras) < 3:  # one block: cut it into four at sentence ends
            k = max(1, len(sents) // 4)
            paras = [" ".join(sents[i : i + k]) for i in range(0, len(sents), k)]
        if len(paras) > 1:
            rng.shuffle(paras) if len(paras) > 2 else paras.reverse()
        return "\n".join(paras)
    return text


def distinct(urls: list[str], texts: dict[str, str], k: int = 3, jaccard: float = 0.3) -> list[str]:
    """The urls less those whose text already copies an earlier one's (wire stories run by two
    outlets): exact Jaccard of word k-shingles >= ``jaccard``, well below every method's."""
    sets = [set(_shingles(texts[u], k)) for u in urls]
    posting: dict[str, list[int]] = {}
    keep = []
    for i, s in enumerate(sets):
        shared = Counter(j for sh in s for j in posting.get(sh, ()))
        if all(n / len(s | sets[j]) < jaccard for j, n in shared.items()):
            keep.append(urls[i])
            for sh in s:
                posting.setdefault(sh, []).append(i)
    return keep


def _shingles(text: str, k: int) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    return [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]


def corpus(shared: Path, n: int, seed: int = 7) -> tuple[list[dict], int, list]:
    """Documents (url, text, group, kind), originals left out as copies, semsim pairs."""
    rng = random.Random(seed)
    semsim, rated = semsim_documents(shared)
    texts = {d["url"]: d["text"] for d in semsim + story_documents(shared)[0]}
    long = [u for u in sorted(texts) if len(texts[u]) >= 300]
    urls = distinct(long, texts)
    rng.shuffle(urls)
    docs = [{"url": u, "text": texts[u], "group": u, "kind": "original"} for u in urls[:n]]
    copies = []
    for j, d in enumerate(docs[::3]):
        for c in range(1 + (j % 4 == 0)):  # a quarter get two copies: copy-copy pairs too
            kind = KINDS[(j + c * 3) % len(KINDS)]
            text = edit(d["text"], kind, rng, texts[rng.choice(urls)])
            url = f"https://copies.example/{j}-{c}"
            copies.append({"url": url, "text": text, "group": d["url"], "kind": kind})
    rng.shuffle(copies)
    return docs + copies, len(long) - len(urls), rated


def peak_rss_mb() -> float:
    return high_water_kib() / 1024


def run_narrascope(docs: list[dict], db: Path, translated: bool) -> list[list[str]]:
    from pipeline.runner import run_stages
    from pipeline.stages import build_stages
    from storage import connect
    from storage.urls import canonical_url

    url = {canonical_url(d["url"]): d["url"] for d in docs}

    run_stages(db, build_stages(["dedup"], {"dedup": {"translated": translated}}))
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT m.group_id, d.canonical_url FROM copy_members m JOIN documents d USING (doc_id)"
        ).fetchall()
    groups: dict[str, list[str]] = {}
    for g, canonical in rows:
        groups.setdefault(g, []).append(url[canonical])
    return list(groups.values())


def run_datasketch(docs: list[dict], threshold: float) -> list[list[str]]:
    from datasketch import MinHash, MinHashLSH

    lsh, parent = MinHashLSH(threshold=threshold, num_perm=128), {}

    def root(u: str) -> str:
        while parent.get(u, u) != u:
            u = parent[u]
        return u

    for d in docs:
        m = MinHash(num_perm=128)
        m.update_batch([s.encode() for s in _shingles(d["text"], 5)])
        for other in lsh.query(m):
            parent[root(d["url"])] = root(other)
        lsh.insert(d["url"], m)
    groups: dict[str, list[str]] = {}
    for d in docs:
        groups.setdefault(root(d["url"]), []).append(d["url"])
    return list(groups.values())


def run_exact(docs: list[dict]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for d in docs:
        key = hashlib.sha1(" ".join(d["text"].lower().split()).encode()).hexdigest()
        groups.setdefault(key, []).append(d["url"])
    return list(groups.values())


def worker(method: str, work: Path) -> None:
    docs = [json.loads(line) for line in (work / "corpus.jsonl").open(encoding="utf-8")]
    started = time.perf_counter()
    if method.startswith("narrascope"):
        groups = run_narrascope(docs, work / f"{method}.duckdb", "full" in method)
    elif method == "exact":
        groups = run_exact(docs)
    else:
        groups = run_datasketch(docs, float(method.split("-")[1]))
    seconds = time.perf_counter() - started
    out = {"groups": groups, "seconds": seconds, "rss": peak_rss_mb()}
    if method.startswith("narrascope"):
        with duckdb.connect(str(work / f"{method}.duckdb"), read_only=True) as con:
            out["rejected"] = con.execute("SELECT count(*) FROM rejections").fetchone()[0]
    (work / f"{method}.json").write_text(json.dumps(out))


def prepare_store(work: Path, db: Path, stages: list[str]) -> float:
    """Import the corpus and run the stages dedup needs (in a child: no models held here)."""
    code = (
        "import sys; from pipeline.runner import run_stages; from pipeline.stages import "
        f"build_stages; run_stages(sys.argv[1], build_stages({stages!r}, {{}}))"
    )
    if not db.exists():
        cli = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "import"]
        subprocess.run([*cli, str(work / "corpus.jsonl")], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, capture_output=True)
    return time.perf_counter() - started


def pairs(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for g in groups for p in combinations(set(g), 2)}


def main(shared: Path, quick: bool, translated: bool = False) -> None:
    docs, dropped, rated = corpus(shared, 200 if quick else 100_000)
    methods = {"narrascope": "narrascope dedup stage, translated copies off (MinHash LSH + exact)"}
    if translated:
        methods["narrascope-full"] = "narrascope dedup stage as configured (+ translated copies)"
    methods |= {
        "datasketch-0.5": "datasketch MinHashLSH(threshold=0.5, num_perm=128), word 5-grams",
        "datasketch-0.8": "datasketch MinHashLSH(threshold=0.8, num_perm=128), word 5-grams",
        "exact": "exact: sha1 of whitespace-normalised lowercase text",
    }
    groups: dict[str, list[str]] = {}
    for d in docs:
        groups.setdefault(d["group"], []).append(d["url"])
    truth = pairs(list(groups.values()))
    present = {d["url"] for d in docs}
    story, topic = (
        {tuple(sorted((a, b))) for a, b, o, _ in rated if a in present and b in present and f(o)}
        for f in (lambda o: o <= 1.5, lambda o: o >= 3)
    )
    origin = {tuple(sorted((d["group"], d["url"]))): d["kind"] for d in docs if d["kind"] in KINDS}
    results, prep = {}, {}
    with tempfile.TemporaryDirectory(prefix="neardup-") as tmp:
        work = Path(tmp)
        with (work / "corpus.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps({"url": d["url"], "text": d["text"]}) + "\n" for d in docs)
        for method in methods:
            if method.startswith("narrascope"):
                needs = ["extract", "langid"] + (["embed"] if "full" in method else [])
                db = work / f"{method}.duckdb"
                if "full" in method:  # the store of the run without translated copies, + embed
                    shutil.copy(work / "narrascope.prepared", db)
                prep[method] = prepare_store(work, db, needs)
                if "full" not in method:  # (the runner leaves no .wal: closed, checkpointed)
                    shutil.copy(db, work / "narrascope.prepared")
            run = [sys.executable, "-m", "bench.bench_neardup_peers", "--worker", method, tmp]
            subprocess.run(run, check=True)
            results[method] = json.loads((work / f"{method}.json").read_text())
    print(
        "| method | precision | recall | F1 | false pairs | semsim pairs flagged: same story"
        " / other story | seconds | peak RSS (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method, name in methods.items():
        r = results[method]
        r["found"] = found = pairs(r["groups"])
        tp = len(found & truth)
        p, rec = tp / len(found) if found else 0.0, tp / len(truth)
        f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
        neg = f"{len(found & story)} of {len(story)} / {len(found & topic)} of {len(topic)}"
        row = f"{p:.3f} | {rec:.3f} | {f1:.3f} | {len(found - truth)} | {neg}"
        print(f"| {name} | {row} | {r['seconds']:.1f} | {r['rss']:.0f} |")
    print("\n| edit | copies | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for kind in KINDS:
        wanted = [p for p, k in origin.items() if k == kind]
        cells = (
            f"{sum(p in results[m]['found'] for p in wanted) / len(wanted):.3f}" for m in methods
        )
        print(f"| {kind} | {len(wanted)} | " + " | ".join(cells) + " |")
    n_orig = len(groups)
    prep_note = ", ".join(f"{m} {s:.0f} s" for m, s in prep.items())
    rejected = results["narrascope"]["rejected"]
    print(
        f"\n{n_orig} originals (the pool left out {dropped} copying others), {len(docs) - n_orig}"
        f" planted copies, {len(truth)} true copy pairs. Second table: recall of the (original,"
        f" copy) pairs per edit. The stage's store rejected {rejected} document(s) as not news"
        " (semsim's paywall, block and consent pages; a rejected page gets no copies: the"
        " stage's misses on verbatim and spacing edits are these). Seconds: the method alone;"
        f" the stages before it took {prep_note}. datasketch's LSH answers candidates, no"
        " similarity check."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", nargs="?", default="../shared", type=Path)
    parser.add_argument("--quick", action="store_true", help="200 originals")
    parser.add_argument("--translated", action="store_true", help="+ the stage as configured")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.shared)
    else:
        main(args.shared, args.quick, args.translated)
