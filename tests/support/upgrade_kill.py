"""An upgrade killed in the middle, then run again: the store is old or new, never broken.

Builds a synthetic store at schema 19 large enough that migration 20 (which computes the
words of every translation in Python) takes seconds, with date hints for migration 27 and
links stored both ways for migration 24; upgrades one copy without interruption; then, for
each seeded delay, upgrades another copy with `narrascope init`, kills it (SIGKILL or
SIGTERM) after the delay, checks what the store reads as, runs `init` again and compares
every table with the uninterrupted upgrade. Run by hand:

    .venv/bin/python -m tests.support.upgrade_kill --work /tmp/kill --docs 20000 --tries 6
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from storage.db import migrate
from storage.migrations import MIGRATIONS

REPO = Path(__file__).resolve().parents[2]
WORDS = "санкции перемирие граница война мир ceasefire troops sanctions grain energy".split()


def build(db: Path, docs: int, seed: int) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(str(db))
    migrate(con, [m for m in MIGRATIONS if m[0] <= 19])
    con.execute("SET TimeZone = 'UTC'")
    rows, versions, extractions, translations, terms, states = [], [], [], [], [], []
    for i in range(docs):
        doc = f"{i:016x}"
        url = f"https://s{i % 7}.example/{i}"
        rows.append((doc, url, f"s{i % 7}"))
        hint = rng.choice([None, "2026-10-01", "3000-01-01", "0001-01-01"])
        versions.append((doc, url, f"h{i}", hint))
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
        extractions.append((doc, text))
        translations.append((doc, text.upper()))
        terms.append(doc)
        states.append((doc, "dedup"))
    con.execute("CREATE TEMP TABLE r (doc_id VARCHAR, url VARCHAR, source VARCHAR)")
    con.executemany("INSERT INTO r VALUES (?, ?, ?)", rows)
    con.execute("INSERT INTO documents SELECT doc_id, url, source, now(), now(), 1 FROM r")
    con.execute("CREATE TEMP TABLE v (doc_id VARCHAR, url VARCHAR, h VARCHAR, hint VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?, ?, ?, ?)", versions)
    con.execute(
        "INSERT INTO document_versions (doc_id, version, url, source, origin, fetched_at, "
        "content_hash, text, hint_published_at) "
        "SELECT doc_id, 1, url, 's', 'import', now(), h, 'x', hint FROM v"
    )
    con.execute("CREATE TEMP TABLE t (doc_id VARCHAR, text VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", extractions)
    con.execute(
        "INSERT INTO extractions SELECT doc_id, 1, '2', NULL, NULL, NULL, NULL, text FROM t"
    )
    con.execute(
        "INSERT INTO translations SELECT doc_id, 1, '1:en', 'ru', 'en', 'translated', 'm', "
        "NULL, upper(text), 1, 0, NULL, NULL, now() FROM t"
    )
    con.execute("INSERT INTO doc_term_lists SELECT doc_id, [{'term': 'x', 'n': 1}] FROM t")
    con.execute(
        "INSERT INTO stage_state SELECT doc_id, 1, 'dedup', '1', 'done', NULL, now() FROM t"
    )
    # links both ways between neighbours (migration 24 keeps one of each pair)
    con.execute(
        "INSERT INTO copy_links SELECT a.doc_id, b.doc_id, 'near', 0.9, now() FROM t a, t b "
        "WHERE b.doc_id = printf('%016x', (('0x' || a.doc_id)::BIGINT + 1))"
    )
    con.execute(
        "INSERT INTO copy_links SELECT other_doc_id, doc_id, kind, similarity, found_at "
        "FROM copy_links"
    )
    con.close()


def dump(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "ORDER BY 1"
        ).fetchall()
    ]
    out = {}
    for t in tables:
        cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] != "applied_at"]
        out[t] = con.execute(f"SELECT count(*), sum(hash(({', '.join(cols)}))) FROM {t}").fetchone()
    out["views"] = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_type = 'VIEW'"
    ).fetchone()
    out["v_documents"] = con.execute("SELECT count(*) FROM v_documents").fetchone()
    con.close()
    return out


def init(db: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [str(REPO / ".venv/bin/python"), "-m", "pipeline.cli", "--db", str(db), "init"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def version(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--tries", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / "v19.duckdb"
    if not base.exists():
        build(base, args.docs, args.seed)
    ref = args.work / "ref.duckdb"
    shutil.copy(base, ref)
    started = time.monotonic()
    proc = init(ref)
    out, err = proc.communicate()
    took = time.monotonic() - started
    print(f"uninterrupted: exit {proc.returncode} in {took:.1f}s: {out.strip()} {err.strip()}")
    want = dump(ref)
    rng = random.Random(args.seed)
    bad = 0
    for i in range(args.tries):
        db = args.work / f"try{i}.duckdb"
        for leftover in args.work.glob(f"try{i}.duckdb*"):
            leftover.unlink()
        shutil.copy(base, db)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        delay = rng.uniform(0.5, took)
        proc = init(db)
        time.sleep(delay)
        proc.send_signal(sig)
        out, err = proc.communicate()
        try:
            between = version(db)
        except duckdb.Error as e:
            between = f"unreadable: {e}"
        again = init(db)
        out2, err2 = again.communicate()
        got = dump(db)
        same = got == want
        bad += not same or again.returncode != 0
        print(f"try {i}: {sig.name} after {delay:.1f}s -> exit {proc.returncode} "
              f"({err.strip()[-160:]!r}); schema then {between}; rerun exit {again.returncode} "
              f"{err2.strip()[-160:]!r}; same as uninterrupted: {same}")  # fmt: skip
        if not same:
            for k in sorted(set(got) | set(want)):
                if got.get(k) != want.get(k):
                    print(f"   {k}: {got.get(k)} != {want.get(k)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
