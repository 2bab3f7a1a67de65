"""A seeded randomized check of `narrascope export` as a researcher reads it.

One store a seed: demo articles and copies of them on odd URLs of odd sources, imported as
JSON lines with hostile titles and texts (CR, LF, CRLF, NUL and other control characters,
quotes, commas, tabs, leading = + - @, emoji and astral characters, RTL marks, U+2028, a
very long text, an empty title beside a missing one), odd dates (a day, naive, +05:30, none,
far ahead), language hints, pages without a source and one the extract stage rejects, then
`process`ed by the real pipeline; sources tagged as a crawl records them, and a merged
narrative id. Then random exports through the CLI (kind, format, --since/--until, --source,
--source-tag, --narrative with merged ids, --min-sites, --lang, --no-text; at times in
chunks of a few rows), each checked against the views (tests/support/export_oracle.py): row
for row and value for value, NULL apart from an empty string; the manifest's columns, rows,
bytes, sha256 and fingerprint (`sha256sum *.ext | sha256sum`); no title or text with
--no-text; nothing but the export in --out and nothing beside it; DuckDB and pandas read the
same rows. The manifest's `command`, run again, gives the same files; another export into
that folder is refused and leaves it as it was.

One seed of a dozen exports runs in the suite (about 20 s, most of it `process` with the real
models); NARRASCOPE_RANDOM_SEEDS=N runs N seeds, NARRASCOPE_EXPORT_VARIANTS=M M exports each."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from crawlers.demo.server import load_articles
from pipeline.cli import cli
from storage import connect, export_files
from storage.sources import SourceRow, record_sources
from tests.conftest import ROOT, cli_env, run_cli
from tests.support.export_oracle import (
    COLUMNS,
    FILES,
    TEXT_COLUMNS,
    Store,
    bound,
    read_back,
    same,
)

SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))
VARIANTS = int(os.environ.get("NARRASCOPE_EXPORT_VARIANTS", "12"))
FORMATS = ("parquet", "csv", "jsonl")
CHUNKS = export_files.CHUNK_ROWS
HOSTILE = [
    "=cmd|' /C calc'!A0", "+1+2", "-3", "@SUM(A1)", 'say "hi", then go', "a\x00b",
    "bell\x07esc\x1b[31m", "\u202eRTL\u200f", "\u200bzero width", "tab\there", "cr\ronly",
    "lf\nonly", "crlf\r\nboth", "😀 𝄞 𠜎", "NULL", "null", "", "  spaced  ", "\ufeffbom",
    "\\back\\slash", "<b>tag</b>", "a\u2028b\u2029c", "\x7fdel\x85nel", '""', ",", '"',
]  # fmt: skip
ODD_URLS = [
    "https://odd.example/a,b?x=\"q\"&y='z'", "https://odd.example/%E2%9C%93?p=1;2",
    "https://пример.example/статья", "https://odd.example/path with space",
    "https://odd.example/=x+y@z", "https://odd.example/tab%09here\u202e",
]  # fmt: skip
ODD_SOURCES = ["odd,source", 'odd "q" source', "ünïcødé 😀", "-copier", "=copier"]


def hostile_records(rng: random.Random) -> list[dict]:
    articles = load_articles()
    rng.shuffle(articles)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    out = []
    for a in articles[: rng.randint(10, 16)]:
        rec = {"url": f"https://{a['site']}.example/{a['slug']}", "title": a["title"],
               "text": a["body"], "source": f"demo-{a['site']}"}  # fmt: skip
        r = rng.random()
        if r < 0.5:
            rec["title"] = rng.choice(HOSTILE) + rec["title"] + rng.choice(HOSTILE)
        elif r < 0.6:
            del rec["title"]
        elif r < 0.7:
            rec["title"] = ""
        if rng.random() < 0.5:
            rec["text"] = f"{rng.choice(HOSTILE)}\n\n{rec['text']}\r\n\r\n{rng.choice(HOSTILE)}"
        when = now + timedelta(hours=rng.uniform(0, 480))
        r = rng.random()
        if r < 0.5:
            rec["published_at"] = when.isoformat()
        elif r < 0.8:  # a date, a naive time, another offset, no date, a date far ahead
            rec["published_at"] = rng.choice([
                when.date().isoformat(), when.strftime("%Y-%m-%dT%H:%M:%S"),
                when.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
                "yesterday", "2099-01-01T00:00:00Z", when.strftime("%Y-%m-%d %H:%M"),
            ])  # fmt: skip
        if rng.random() < 0.15:
            del rec["source"]
        if rng.random() < 0.15:
            rec["lang"] = rng.choice(["", "pt-BR", "xx-yy", a["lang"].upper(), a["lang"]])
        out.append(rec)
    for i in range(rng.randint(3, 6)):  # copies on odd URLs of odd sources
        rec = dict(rng.choice(out))
        rec["url"] = f"{rng.choice(ODD_URLS)}/{i}"
        rec["source"] = rng.choice(ODD_SOURCES)
        out.append(rec)
    out.append({"url": "https://junk.example/denied", "text": "Access denied", "source": "junk"})
    long = articles[-1]
    out.append({"url": "https://long.example/x", "title": "long " * 60, "source": "-copier",
                "text": (long["body"] + "\n\n") * 40})  # fmt: skip
    return out


def build_store(tmp: Path, rng: random.Random) -> Path:
    db = tmp / "store.duckdb"
    src = tmp / "in.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=rng.random() < 0.5)
                             for r in hostile_records(rng)) + "\n", encoding="utf-8")  # fmt: skip
    run_cli("init", db=db)
    run_cli("import", str(src), db=db)
    run_cli("process", "--no-progress", db=db)
    with connect(db) as con:
        names = [r[0] for r in con.execute(
            "SELECT DISTINCT source FROM documents WHERE source IS NOT NULL").fetchall()]  # fmt: skip
        record_sources(con, [
            SourceRow(name, f"https://{i}.example/", [], [],
                      {"country": rng.choice(["RU", "DE", "ü,\"x\""]), "n": str(i % 2)},
                      [], None)
            for i, name in enumerate(sorted(names)) if rng.random() < 0.8
        ])  # fmt: skip
        # a narrative merged into another: its id resolves to the one it went into
        ids = [r[0] for r in con.execute("SELECT narrative_id FROM narratives").fetchall()]
        con.execute("INSERT INTO narrative_aliases VALUES (?, ?, now(), 'test')",
                    [max(ids) + 1000, rng.choice(ids)])  # fmt: skip
    return db


def random_export(rng: random.Random, store: Store) -> tuple[str, str, list[str], dict, bool]:
    """(kind, format, CLI options, the same filters for the oracle, --no-text)."""
    kind, fmt = rng.choice(list(FILES)), rng.choice(FORMATS)
    args, f = [], {}
    seen = sorted(d["seen_at"] for d in store.docs.values())
    if rng.random() < 0.4:
        t = rng.choice(seen)
        given = rng.choice([t.date().isoformat(), t.isoformat(), t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "36500d"])  # fmt: skip
        args += ["--since", given]
        f["since"] = bound(given, end=False)
    if rng.random() < 0.3:
        t = rng.choice(seen) + timedelta(seconds=1)
        given = rng.choice([t.date().isoformat(), t.isoformat(), "9999-12-31"])
        if not f.get("since") or bound(given, end=True) > f["since"]:
            args += ["--until", given]
            f["until"] = bound(given, end=True)
    if rng.random() < 0.3:
        langs = sorted({d["lang"] for d in store.docs.values() if d["lang"]})
        f["langs"] = rng.sample(langs, rng.randint(1, min(2, len(langs))))
        args += [w for lang in f["langs"] for w in ("--lang", lang)]
    if rng.random() < 0.3:
        sources = sorted({d["source"] for d in store.docs.values()} - {None})
        f["sources"] = rng.sample(sources, rng.randint(1, min(3, len(sources))))
        args += [w for s in f["sources"] for w in ("--source", s)]
    tagged = sorted({(k, v) for t in store.tags.values() for k, v in t.items()})
    if tagged and rng.random() < 0.3:
        f["tags"] = rng.sample(tagged, 1)
        args += ["--source-tag", f"{f['tags'][0][0]}={f['tags'][0][1]}"]
    if store.ids and rng.random() < 0.3:
        f["narratives"] = rng.sample(sorted(store.ids), rng.randint(1, 2))
        args += [w for i in f["narratives"] for w in ("--narrative", str(i))]
    if rng.random() < 0.3:
        f["min_sites"] = rng.randint(1, 3)
        args += ["--min-sites", str(f["min_sites"])]
    return kind, fmt, args, f, rng.random() < 0.35


def export_cli(db: Path, *args: str, code: int = 0):
    """`narrascope export` in this process (as a subprocess does: tests/test_cli.py)."""
    result = CliRunner().invoke(cli, ["--db", str(db), "export", *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def check_files(out: Path, kind: str, fmt: str, no_text: bool, want: dict, texts: list[str]):
    """The files hold the rows the views give, and the manifest describes them."""
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    names = [f"{name}.{fmt}" for name in FILES[kind]]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "manifest.json"])
    assert [f["name"] for f in manifest["files"]] == names
    for entry in manifest["files"]:
        path, stem = out / entry["name"], entry["name"].split(".")[0]
        columns = [c for c in COLUMNS[stem] if not (no_text and c in TEXT_COLUMNS)]
        got_columns, rows = read_back(path, fmt)
        expected = want[stem]
        assert entry["columns"] == columns, (stem, entry["columns"])
        assert got_columns == columns or not rows, (stem, got_columns)
        assert entry["rows"] == len(rows) == len(expected) == manifest["rows"][stem], stem
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        for i, (got, row) in enumerate(zip(rows, expected, strict=True)):
            bad = [(c, got[c], row[c]) for c in columns if not same(got[c], row[c], fmt)]
            assert not bad, (stem, fmt, i, bad[:3])
        if no_text:  # no title or text, whole or in part, in any cell or in the manifest
            cells = [v for r in rows for v in r.values() if isinstance(v, str) and len(v) >= 16]
            leaks = [c for c in cells for t in texts if c in t or len(t) >= 16 and t in c]
            assert not leaks, (stem, leaks[:2])
            listed = (out / "manifest.json").read_text("utf-8")
            assert not [t for t in texts if len(t) >= 16 and t in listed]
    listing = subprocess.run(f"sha256sum *.{fmt} | sha256sum", shell=True, cwd=out,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert manifest["fingerprint"] == listing.split()[0]
    return manifest


def readers_agree(out: Path, fmt: str) -> None:
    """DuckDB and pandas read each file to the same number of rows and the same columns."""
    import pandas as pd

    for path in sorted(out.glob(f"*.{fmt}")):
        columns, rows = read_back(path, fmt)
        con = duckdb.connect()
        reader = {"parquet": "read_parquet(?)", "jsonl": "read_json(?)",
                  "csv": "read_csv(?, allow_quoted_nulls = false, all_varchar = true)"}[fmt]  # fmt: skip
        cur = con.execute(f"SELECT * FROM {reader}", [str(path)])
        duck = cur.fetchall()
        assert len(duck) == len(rows), path
        if rows:
            assert [d[0] for d in cur.description] == columns
        frame = {"parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True),
                 "csv": lambda p: pd.read_csv(p, dtype=str)}[fmt](path)  # fmt: skip
        assert len(frame) == len(rows), path


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_exports_hold_what_the_store_holds(tmp_path, seed, monkeypatch):
    rng = random.Random(seed)
    db = build_store(tmp_path, rng)
    store = Store(db)
    texts = store.texts()
    outs = tmp_path / "exports"
    outs.mkdir()
    for n in range(VARIANTS):
        kind, fmt, args, f, no_text = random_export(rng, store)
        out = outs / f"e{n}"
        options = [kind, "--out", str(out), "--format", fmt, *args] + ["--no-text"] * no_text
        want = store.expected(kind, f)
        # at times in chunks of a few rows, joined (as a large store's export is)
        chunk = rng.randint(1, 4) if n % 4 and rng.random() < 0.4 else None
        monkeypatch.setattr(export_files, "CHUNK_ROWS", (chunk, chunk) if chunk else CHUNKS)
        export_cli(db, *options)
        manifest = check_files(out, kind, fmt, no_text, want, texts)
        readers_agree(out, fmt)
        if n % 4 == 0:  # the manifest's command makes the same files, into the same folder
            before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}
            words = shlex.split(manifest["command"])
            assert words[0] == "narrascope"
            subprocess.run([sys.executable, "-m", "pipeline.cli", *words[1:]], env=cli_env(),
                           cwd=ROOT.parent, check=True, capture_output=True)  # fmt: skip
            again = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}
            assert again == before, kind
            rerun = check_files(out, kind, fmt, no_text, want, texts)
            assert rerun["command"] == manifest["command"]
            assert rerun["fingerprint"] == manifest["fingerprint"]
            other = [kind, "--out", str(out), "--format", fmt, *args, "--min-sites", "9"]
            export_cli(db, *other, code=2)
            assert {p.name: p.read_bytes() for p in out.iterdir()
                    if p.name != "manifest.json"} == before  # fmt: skip
        entries = sorted(p.name for p in outs.iterdir())
        assert entries == sorted(f"e{i}" for i in range(n + 1)), entries  # nothing beside
