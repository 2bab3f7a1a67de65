"""Differential check of real upgrades: a store written by an older release, opened by this code.

For each older commit (a git worktree of this repository), the old code imports one JSONL
corpus and processes it; this code then opens the store (``init``), processes it and is
compared with a store it built from scratch from the same corpus: documents, versions,
stage outcomes, rejections and their reasons, languages, copy groups and links, narratives,
every ``v_*`` view, alerts and the answers of search and similar. Run by hand (minutes: the
models are real):

    .venv/bin/python -m tests.support.upgrade_diff --work /tmp/upgrade 0c8b497 97c0eb9

The corpus (``build_corpus``): the pages of a demo store (``--demo``: a store `demo` wrote)
plus, picked by ``--seed``, pages of tests/fixtures/notnews and hostile cases that the later
migrations are about (implausible date hints, a short text one site serves at three
addresses); ``--second``: new versions of some pages, imported and processed after it;
``--config FILE``: a config for every command (``[pipeline] stages`` without embed and
translate, ``[dedup] translated = false``, ``[cluster] vectors = "words"``: no model, about
a minute a commit); ``ARGOS_PACKAGES_DIR`` with a package (tests/support/tiny_argos.py)
translates. Also upgrades the upgraded store again (nothing may change). Prints every
difference, one line each, into WORK/diff-COMMIT.txt with a count per table; exit 1 when
there is one. Expected differences, by the docs: ids of narratives and copy groups, the
rejection log (a page judged again is logged again), verdicts of pages extracted or
embedded before a rule changed (docs/notnews.md), language means and so similarities, and
results that older code computed under bugs fixed since without a stage version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tests.support.canonical import canonical_state

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
FIXTURES = REPO / "tests" / "fixtures" / "notnews"
QUERIES = ["sanctions cause hunger", "ceasefire troops", "biolabs"]
# columns that differ between two equivalent runs (times, run ids, counts of runs)
VOLATILE = (
    "_at",
    "run_id",
    "started",
    "finished",
    "duration",
    "seconds",
    "runs",
    "last_run",
    "delay",
)


def build_corpus(demo_db: Path, out: Path, seed: int) -> int:
    """The demo store's pages as JSONL, plus seeded fixtures and hostile cases."""
    con = duckdb.connect(str(demo_db), read_only=True)
    import zlib

    rows = con.execute(
        "SELECT v.url, v.source, v.hint_title, v.hint_published_at, v.html, v.html_zlib, v.text "
        "FROM document_versions v ORDER BY v.doc_id, v.version"
    ).fetchall()
    con.close()
    rng = random.Random(seed)
    lines = []
    for url, source, title, published, html, packed, text in rows:
        if html is None and packed is not None:
            html = zlib.decompress(packed).decode("utf-8")
        line = {"url": url, "source": source, **({"html": html} if html else {"text": text})}
        if title:
            line["title"] = title
        if published:
            line["published_at"] = published
        lines.append(line)
    base = lines[rng.randrange(len(lines))]
    for i, date in enumerate(("3000-01-01", "0001-01-01")):
        lines.append({**base, "url": f"https://dates.example/{i}", "published_at": date})
    notice = "Site maintenance: the page you asked for is not available right now. Try later."
    for i in range(3):
        lines.append(
            {"url": f"https://repeat.example/a{i}", "source": "repeat",
             "html": f"<html><head><title>Story {i}</title></head><body><article><h1>"
                     f"Story {i}</h1><p>{notice}</p></article></body></html>"}
        )  # fmt: skip
    fixtures = sorted(p for p in FIXTURES.glob("*.html"))
    for path in rng.sample(fixtures, min(12, len(fixtures))):
        lines.append(
            {"url": f"https://notnews.example/{path.stem}", "source": "notnews",
             "html": path.read_text(encoding="utf-8")}
        )  # fmt: skip
    rng.shuffle(lines)
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return len(lines)


OLD_RUNS = [2]
SECOND: list[Path | None] = [None]  # a second corpus, imported and processed after the first
CONFIG: list[str] = []  # --config FILE for every command, when given


def build_second(corpus: Path, out: Path, seed: int) -> int:
    """New versions of some pages of ``corpus``: articles that turn into a block page or get
    another paragraph, stubs that turn into articles."""
    rng = random.Random(seed)
    lines = [json.loads(line) for line in corpus.read_text().splitlines()]
    pages = [line for line in lines if "html" in line and "example/" not in line["url"]]
    stubs = [line for line in lines if line["url"].startswith("https://notnews.example/")]
    block = (FIXTURES / "block-ru-registry.html").read_text(encoding="utf-8")
    picked = rng.sample(pages, 6)
    second = [{**line, "html": block} for line in picked[:3]]
    second += [
        {**line, "html": line["html"].replace("</p>", " Added in an update.</p>", 1)}
        for line in picked[3:]
    ]
    second += [{**stub, "html": rng.choice(pages)["html"]} for stub in rng.sample(stubs, 3)]
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in second))
    return len(second)


def cli(code: Path, db: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    proc = subprocess.run(
        [str(PYTHON), "-m", "pipeline.cli", "--db", str(db), *CONFIG, *args],
        cwd=code, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if check and proc.returncode:
        raise RuntimeError(f"{code.name} {args}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc


TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


def _plain(value):
    """JSON-able, floats rounded, and times of today (first seen, fetched: the run's) as one."""
    if isinstance(value, str) and value.startswith(TODAY):
        return "<today>"
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, int | str | bool):
        return value
    return _plain(str(value))


def views_dump(db: Path) -> dict:
    """Every v_* view and a few tables, as multisets of rows without volatile columns."""
    con = duckdb.connect(str(db), read_only=True)
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'v\\_%' "
            "ESCAPE '\\' OR table_name IN ('copy_links', 'narratives', 'narrative_aliases', "
            "'site_repeats', 'page_meta', 'language_means', 'doc_term_lists', "
            "'translation_term_lists', 'alerts', 'narrative_withdrawn') ORDER BY 1"
        ).fetchall()
    ]
    # a narrative by its oldest member's address: ids follow the order of clustering
    keys = dict(
        con.execute(
            "SELECT m.narrative_id, min(d.canonical_url) FROM narrative_members m "
            "JOIN documents d USING (doc_id) GROUP BY 1"
        ).fetchall()
    )
    aliases = dict(con.execute("SELECT alias_id, narrative_id FROM narrative_aliases").fetchall())
    out = {}
    for name in names:
        cols = [
            r[0]
            for r in con.execute(f"DESCRIBE {name}").fetchall()
            if not any(r[0].endswith(v) or r[0] == v.strip("_") for v in VOLATILE)
        ]
        if name == "v_runs" or not cols:
            continue
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {name}").fetchall()
        ids = {"narrative_id", "id" if name == "v_narrative_ids" else "", "alias_id"}
        named = []
        for r in rows:
            row = dict(zip(cols, r, strict=True))
            for col in ids & row.keys():
                n = row[col]
                row[col] = None if n is None else keys.get(aliases.get(n, n), f"gone:{n}")
            named.append(json.dumps(_plain(row), sort_keys=True))
        out[name] = Counter(named)
    con.close()
    return out


def catalog(db: Path) -> dict:
    """Every view's and macro's SQL, every column's type, index and constraint: an upgraded
    store must have what a fresh one has (a migration changed after stores applied it
    leaves them with what it made then)."""
    con = duckdb.connect(str(db), read_only=True)
    out: dict = {}
    for name, sql in con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal"
    ).fetchall():
        out[f"view {name}"] = sql
    for name, params, sql in con.execute(
        "SELECT function_name, parameters::VARCHAR, macro_definition FROM duckdb_functions() "
        "WHERE function_type IN ('macro', 'table_macro') AND NOT internal"
    ).fetchall():
        out[f"macro {name}"] = f"{params} {sql}"
    for table, column, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal"
    ).fetchall():
        out[f"column {table}.{column}"] = kind
    for name, sql in con.execute("SELECT index_name, sql FROM duckdb_indexes()").fetchall():
        out[f"index {name}"] = sql
    for table, kind, cols in con.execute(
        "SELECT table_name, constraint_type, constraint_column_names::VARCHAR "
        "FROM duckdb_constraints()"
    ).fetchall():
        out.setdefault(f"constraints {table}", []).append(f"{kind} {cols}")
    con.close()
    return {k: sorted(v) if isinstance(v, list) else v for k, v in out.items()}


def answers(code: Path, db: Path) -> dict:
    out = {}
    semantic = ((), ("--semantic",)) if not CONFIG else ((),)
    for q in QUERIES:
        for mode in semantic:
            proc = cli(code, db, "search", *mode, q, "--format", "json")
            out[f"search {' '.join(mode)} {q}"] = (proc.returncode, _plain(_loads(proc.stdout)))
    con = duckdb.connect(str(db), read_only=True)
    docs = [r[0] for r in con.execute("SELECT doc_id FROM v_documents ORDER BY 1").fetchall()]
    con.close()
    for doc in docs[:: max(1, len(docs) // 4)] if not CONFIG else []:
        proc = cli(code, db, "similar", doc, "--format", "json")
        out[f"similar {doc}"] = (proc.returncode, _plain(_loads(proc.stdout)))
    proc = cli(code, db, "alerts", "--format", "json")
    out["alerts"] = (proc.returncode, _plain(_loads(proc.stdout)))
    return out


def _loads(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def diff(label: str, a, b, path: str = "") -> list[str]:
    """Differences between two dumps, one line each (a: upgraded, b: fresh)."""
    if isinstance(a, dict) and isinstance(b, dict):
        lines = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                side = "fresh only" if key not in a else "upgraded only"
                lines.append(f"{label} {path}/{key}: {side}: {a.get(key, b.get(key))!r:.300}")
            else:
                lines += diff(label, a[key], b[key], f"{path}/{key}")
        return lines
    if a != b:
        return [f"{label} {path}: upgraded {a!r:.400} != fresh {b!r:.400}"]
    return []


def compare(label: str, up: Path, fresh: Path) -> list[str]:
    """The differences between an upgraded store and a fresh one, one line each."""
    lines = []
    for name, a, b in (
        ("catalog", catalog(up), catalog(fresh)),
        ("state", canonical_state(up), canonical_state(fresh)),
        ("views", views_dump(up), views_dump(fresh)),
        ("answers", answers(REPO, up), answers(REPO, fresh)),
    ):
        lines += diff(f"{label} {name}", a, b)
    return lines


def process(code: Path, db: Path, runs: int) -> list[str]:
    notes = []
    for _ in range(runs):
        proc = cli(code, db, "process", "--no-progress")
        notes.append(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return notes


def run(work: Path, commits: list[str], corpus: Path) -> int:
    fresh = work / "fresh.duckdb"
    if not fresh.exists():
        cli(REPO, fresh, "import", str(corpus), check=True)
        print("fresh:", process(REPO, fresh, 2))
        if SECOND[0]:
            cli(REPO, fresh, "import", str(SECOND[0]), check=True)
            print("fresh second:", process(REPO, fresh, 2))
    want = (canonical_state(fresh), views_dump(fresh), answers(REPO, fresh))
    failed = 0
    for commit in commits:
        tree = work / f"wt-{commit}"
        if not tree.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", str(tree), commit],
                           check=True)  # fmt: skip
        old = work / f"old-{commit}.duckdb"
        if not old.exists():
            cli(tree, old, "import", str(corpus), check=True)
            print(commit, "old:", process(tree, old, OLD_RUNS[0]))
            if SECOND[0]:
                cli(tree, old, "import", str(SECOND[0]), check=True)
                print(commit, "old second:", process(tree, old, OLD_RUNS[0]))
            subprocess.run(["cp", str(old), str(old) + ".orig"], check=True)
        up = work / f"up-{commit}.duckdb"
        subprocess.run(["cp", str(old) + ".orig", str(up)], check=True)
        print(commit, "init:", cli(REPO, up, "init").stdout.strip()[-200:])
        print(commit, "new:", process(REPO, up, 2))
        got = (canonical_state(up), views_dump(up), answers(REPO, up))
        lines = diff(f"{commit} catalog", catalog(up), catalog(fresh))
        for name, a, b in zip(("state", "views", "answers"), got, want, strict=True):
            lines += diff(f"{commit} {name}", a, b)
        # a second upgrade of the upgraded store changes nothing
        print(commit, "again:", cli(REPO, up, "init").stdout.strip()[-200:], process(REPO, up, 1))
        again = (canonical_state(up), views_dump(up))
        for name, a, b in zip(("again-state", "again-views"), again, got[:2], strict=True):
            lines += diff(f"{commit} {name}", a, b)
        (work / f"diff-{commit}.txt").write_text("".join(line + "\n" for line in lines))
        summary = Counter(" ".join(line.split(" ")[:2]) + " " + line.split(" ")[2].split("/")[1]
                          for line in lines)  # fmt: skip
        for key, n in sorted(summary.items()):
            print(f"  {key}: {n}")
        print(commit, f"{len(lines)} differences (diff-{commit}.txt)")
        failed += bool(lines)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--demo", type=Path, help="a store `narrascope demo` wrote")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", type=Path, help="a config for every command (no models)")
    parser.add_argument("--second", action="store_true", help="new versions of some pages")
    parser.add_argument("--old-runs", type=int, default=2, help="`process` runs of the old code")
    args = parser.parse_args(argv)
    if args.config:
        CONFIG[:] = ["--config", str(args.config.resolve())]
    OLD_RUNS[0] = args.old_runs
    if args.second:
        SECOND[0] = args.work / "second.jsonl"
        if not SECOND[0].exists():
            corpus = args.work / "corpus.jsonl"
            print("second:", build_second(corpus, SECOND[0], args.seed), "lines")
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / "corpus.jsonl"
    if not corpus.exists():
        demo = args.demo or args.work / "demo.duckdb"
        if not demo.exists():
            cli(REPO, demo, "demo", check=True)
        print("corpus:", build_corpus(demo, corpus, args.seed), "lines")
    return run(args.work, args.commits, corpus)


if __name__ == "__main__":
    sys.exit(main())
