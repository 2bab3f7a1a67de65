"""A seeded random walk over a store that changes from run to run, checking what analysts and
researchers read after every step: `import` of JSON Lines batches (demo articles dated in
the last two days, new versions of the same URL, copies on other sites, hostile text, pages
the extract stage rejects), `process` (whole, with --limit or --stage, or with a write that
fails mid-stage), `cluster --rebuild`, `alerts --format json` and `export`.

After each step:
- every export kind, in every format, holds what the views say (v_documents, v_copies,
  v_narratives), the three formats agree cell for cell, and each document appears once, at
  its current version;
- random filters select exactly the matching documents;
- every narrative id exported before still resolves (v_narrative_ids);
- `alerts --format json` prints a list, and no new narrative is reported twice under ids
  that resolve to the same narrative.

One seed of two steps runs in the suite (about 20 s, the real e5 model); NARRASCOPE_RANDOM_SEEDS=N runs
N seeds and NARRASCOPE_RANDOM_STEPS=M makes each walk M steps long."""

from __future__ import annotations

import json
import os
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import storage.stages
from crawlers.demo.server import load_articles
from pipeline.cli import cli
from storage import connect
from storage.export import ExportError, Filters, export

SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))
STEPS = int(os.environ.get("NARRASCOPE_RANDOM_STEPS", "2"))
FORMATS = ("parquet", "csv", "jsonl")
FILES = {"documents": ("documents",), "copies": ("copies",),
         "narratives": ("narratives", "members")}  # fmt: skip
READERS = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}
HOSTILE = [
    '=HYPERLINK("http://x.example","click")', "+1+2", "-3+4", "@SUM(A1:A2)",
    "<script>alert(1)</script>", "a\x00b\x07c\x1b[31m", "\u202eRTL\u200f mark",
    'line\r\nbreak "quoted", comma', "x" * 3000,
]  # fmt: skip


class Walk:
    """One seeded sequence of commands against one store."""

    def __init__(self, tmp_path: Path, seed: int):
        self.rng = random.Random(seed)
        self.tmp = tmp_path
        self.db = tmp_path / "n.duckdb"
        self.config = tmp_path / "narrascope.toml"
        self.config.write_text("[pipeline]\nbatch_size = 4\n")
        now = datetime.now(UTC)
        articles = sorted(load_articles(), key=lambda a: a["date"])
        self.rng.shuffle(articles)
        self.articles = articles
        self.now = now
        self.used: list[dict] = []
        self.versions: dict[str, list[str]] = {}  # url -> each text that made a new version
        self.exported_ids: set[int] = set()
        self.reported: list[set[int]] = []  # ids each new_narrative alert was raised for
        self.step = 0

    def cli(self, *args: str, code: int = 0):
        result = CliRunner().invoke(
            cli, ["--db", str(self.db), "--config", str(self.config), *args]
        )
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    def record(self) -> dict:
        a = self.articles[len(self.used) % len(self.articles)]
        hours = self.rng.uniform(1, 47)
        return {"url": f"https://{a['site']}.example/{a['slug']}", "title": a["title"],
                "text": a["body"], "source": f"demo-{a['site']}",
                "published_at": (self.now - timedelta(hours=hours)).isoformat()}  # fmt: skip

    def batch(self) -> list[dict]:
        out = []
        for _ in range(self.rng.randint(3, 5)):
            r = self.rng.random()
            if r < 0.5 or not self.used:
                rec = self.record()
            elif r < 0.65:  # a new version of a page seen before
                rec = dict(self.rng.choice(self.used))
                rec["text"] += "\n\nUpdate: " + self.rng.choice(HOSTILE)
            elif r < 0.8:  # a copy on another site (at times on the same one: a repeat)
                rec = dict(self.rng.choice(self.used))
                n = self.rng.randint(0, 9)
                if self.rng.random() < 0.8:
                    rec["source"] = self.rng.choice(["copier-a", "copier-b", "copier-c"])
                    rec["url"] = f"https://{rec['source']}.example/{n}"
                else:
                    rec["url"] += f"-copy{n}"
            elif r < 0.92:  # hostile title and text
                rec = dict(self.rng.choice(self.used))
                rec["title"] = self.rng.choice(HOSTILE) + rec.get("title", "")
                rec["text"] = self.rng.choice(HOSTILE) + "\n\n" + rec["text"]
            else:  # a page the extract stage rejects
                rec = {"url": f"https://junk.example/{self.rng.randint(0, 3)}",
                       "text": "Access denied", "source": "junk"}  # fmt: skip
            self.used.append(rec)
            out.append(rec)
            texts = self.versions.setdefault(rec["url"], [])
            if not texts or texts[-1] != rec["text"].strip():
                texts.append(rec["text"].strip())
        return out

    def process(self, monkeypatch) -> None:
        r = self.rng.random()
        if r < 0.2:
            self.cli("process", "--no-progress", "--limit", str(self.rng.randint(1, 4)))
        elif r < 0.3:
            self.cli("process", "--no-progress", "--stage", "extract", "--stage", "langid")
        elif r < 0.45:  # a write that fails in a stage's second batch, then a clean run
            stage = self.rng.choice(["extract", "embed", "dedup", "cluster"])
            real, batches = storage.stages.write_outputs, []

            def failing(con, ctx, *args):
                real(con, ctx, *args)
                if ctx.stage == stage:
                    batches.append(1)
                    if len(batches) == 2:
                        raise duckdb.IOException("No space left on device")

            with monkeypatch.context() as m:
                m.setattr(storage.stages, "write_outputs", failing)
                result = CliRunner().invoke(cli, ["--db", str(self.db), "--config",
                                                  str(self.config), "process", "--no-progress"])  # fmt: skip
            assert result.exit_code in (0, 1), result.output
            self.cli("process", "--no-progress")
        else:
            self.cli("process", "--no-progress")

    def go(self, monkeypatch) -> None:
        self.cli("init")
        for self.step in range(STEPS):
            src = self.tmp / f"b{self.step}.jsonl"
            src.write_text("\n".join(json.dumps(r, ensure_ascii=self.rng.random() < 0.5)
                                     for r in self.batch()) + "\n", encoding="utf-8")  # fmt: skip
            self.cli("import", str(src))
            self.process(monkeypatch)
            if self.rng.random() < 0.3:
                threshold = self.rng.choice(["0.3", "0.5", "0.8"])
                self.cli("cluster", "--rebuild", "--threshold", threshold)
            self.alerts()
            self.check_exports()
            self.check_filters()
            self.check_ids()

    # --- checks -------------------------------------------------------------------------

    def views(self) -> dict:
        with connect(self.db, read_only=True) as con:

            def rows(sql):
                cur = con.execute(sql)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

            return {
                "documents": rows(
                    "SELECT *, coalesce(published_at, first_seen_at) AS seen_at FROM v_documents"
                ),  # fmt: skip
                "copies": rows("SELECT * FROM v_copies"),
                "narratives": rows("SELECT * FROM v_narratives"),
                "ids": dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall()),
                "members": rows("SELECT doc_id, narrative_id FROM narrative_members"),
            }

    def alerts(self) -> None:
        since = self.rng.choice(["24h", "3d", "7d"])
        printed = json.loads(self.cli("alerts", "--format", "json", "--since", since).stdout)
        assert isinstance(printed, list)
        ids = self.views()["ids"]
        for alert in printed:
            if alert["kind"] != "new_narrative":
                continue
            now = ids[int(alert["subject"])]
            same = {i for i, n in ids.items() if n == now}
            before = [r for r in self.reported if r & same]
            assert not before, f"step {self.step}: narrative {now} reported again: {alert}"
            self.reported.append(same)

    def export_rows(self, kind: str, fmt: str, **filters) -> dict[str, list[dict]]:
        out = self.tmp / "out" / f"{kind}-{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        manifest = export(self.db, kind, out, fmt=fmt, filters=Filters(**filters))
        files = {}
        for entry in manifest["files"]:
            path = out / entry["name"]
            reader = READERS[fmt] + ("(?, all_varchar = true)" if fmt == "csv" else "(?)")
            con = duckdb.connect()
            cur = con.execute(f"SELECT * FROM {reader}", [str(path)])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            con.close()
            assert len(rows) == entry["rows"], entry
            assert names == entry["columns"] or not rows and fmt == "jsonl", entry  # no lines
            files[path.stem] = rows
        return files

    def check_exports(self) -> None:
        views = self.views()
        docs = {d["doc_id"]: d for d in views["documents"]}
        copies = {c["doc_id"]: c for c in views["copies"]}
        narratives = {n["narrative_id"]: n for n in views["narratives"]}
        for kind in FILES:
            by_format = {fmt: self.export_rows(kind, fmt) for fmt in FORMATS}
            for name in FILES[kind]:
                base = [{k: cell(v) for k, v in r.items()} for r in by_format["parquet"][name]]
                for fmt in ("csv", "jsonl"):
                    other = [{k: cell(v) for k, v in r.items()} for r in by_format[fmt][name]]
                    assert other == base, (self.step, kind, fmt, diff(base, other))
            rows = by_format["parquet"]
            if kind == "documents":
                ids = [r["doc_id"] for r in rows["documents"]]
                assert len(ids) == len(set(ids)) and set(ids) == set(docs)
                # each URL at its latest text: one version per change, in import order
                versions = {r["url"]: r["version"] for r in rows["documents"]}
                assert versions == {u: len(t) for u, t in self.versions.items()}, self.step
                for r in rows["documents"]:
                    v = docs[r["doc_id"]]
                    for k, value in r.items():
                        if k == "copy_of_url":
                            want = docs[v["copy_of"]]["url"] if v["copy_of"] else None
                            assert value == want, (self.step, r["doc_id"], k)
                        else:
                            assert cell(value) == cell(v[k]), (self.step, r["doc_id"], k)
            elif kind == "copies":
                assert sorted(r["doc_id"] for r in rows["copies"]) == sorted(copies)
                for r in rows["copies"]:
                    v = copies[r["doc_id"]]
                    for k in ("group_id", "copy_kind", "similarity", "via", "group_size",
                              "lang", "source", "url", "title", "seen_at"):  # fmt: skip
                        assert cell(r[k]) == cell(v[k]), (self.step, r["doc_id"], k)
                    want = v["copy_of"] if v["copy_kind"] != "origin" else None
                    assert r["copy_of"] == want
            else:
                assert sorted(r["narrative_id"] for r in rows["narratives"]) == sorted(narratives)
                for r in rows["narratives"]:
                    v = narratives[r["narrative_id"]]
                    for k in ("documents", "sites", "languages", "langs", "keywords",
                              "first_seen", "last_seen", "independent_sites"):  # fmt: skip
                        assert cell(r[k]) == cell(v[k]), (self.step, r["narrative_id"], k)
                    assert r["label"] == v["representative_title"]
                    assert r["exported_members"] == v["documents"]
                members = {(m["doc_id"], m["narrative_id"]) for m in views["members"]}
                assert {(r["doc_id"], r["narrative_id"]) for r in rows["members"]} == members
                assert len(rows["members"]) == len(members)
                self.exported_ids |= {r["narrative_id"] for r in rows["narratives"]}

    def check_filters(self) -> None:
        views = self.views()
        docs = views["documents"]
        langs = sorted({d["lang"] for d in docs if d["lang"]})
        sources = sorted({d["source"] for d in docs})
        seen = sorted(d["seen_at"] for d in docs)
        sites = {n["narrative_id"]: n["sites"] for n in views["narratives"]}
        group_sites: dict[str, set] = {}
        for c in views["copies"]:
            group_sites.setdefault(c["group_id"], set()).add(c["source"])
        for _ in range(3):
            f: dict = {}
            if langs and self.rng.random() < 0.5:
                f["langs"] = tuple(self.rng.sample(langs, self.rng.randint(1, len(langs))))
            if self.rng.random() < 0.4:
                f["sources"] = tuple(self.rng.sample(sources, self.rng.randint(1, len(sources))))
            if self.rng.random() < 0.5:
                f["since"] = self.rng.choice(seen).isoformat()
            if self.rng.random() < 0.3:
                f["min_sites"] = self.rng.randint(1, 3)
            if views["ids"] and self.rng.random() < 0.3:
                f["narratives"] = (self.rng.choice(sorted(views["ids"])),)
            kind = self.rng.choice(list(FILES))
            try:
                rows = self.export_rows(kind, "parquet", **f)
            except ExportError as err:  # a narrative whose documents were all withdrawn
                assert "narrative" in str(err), err
                continue
            got = sorted(r["doc_id"] for r in rows["members" if kind == "narratives" else kind])
            want = []
            for d in docs:
                nid, gid = d["narrative_id"], d["copy_group_id"]
                if ("langs" in f and d["lang"] not in f["langs"]
                        or "sources" in f and d["source"] not in f["sources"]
                        or "since" in f and d["seen_at"] < datetime.fromisoformat(f["since"])
                        or "narratives" in f and nid != views["ids"][f["narratives"][0]]
                        or kind == "narratives" and nid is None
                        or kind == "copies" and gid is None):  # fmt: skip
                    continue
                if "min_sites" in f:
                    reach = (len(group_sites.get(gid, ())) if kind == "copies"
                             else sites.get(nid, 0))  # fmt: skip
                    if reach < f["min_sites"]:
                        continue
                want.append(d["doc_id"])
            assert got == sorted(want), (self.step, kind, f)

    def check_ids(self) -> None:
        """Exported ids resolve, but for a narrative whose every document was withdrawn for
        now (narrative_withdrawn: `export --narrative` says why it shows nothing)."""
        ids = self.views()["ids"]
        with connect(self.db, read_only=True) as con:
            withdrawn = con.execute("SELECT narrative_id FROM narrative_withdrawn").fetchall()
        gone = {n for (n,) in withdrawn}
        lost = sorted(self.exported_ids - set(ids) - gone)
        assert not lost, f"step {self.step}: exported narrative ids no longer resolve: {lost}"


def cell(value):
    """A value as every format writes it: times ISO 8601 UTC, lists as JSON, numbers to 6
    places, CSV's text read back."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, list | tuple):
        return json.dumps([cell(v) for v in value], ensure_ascii=False)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{float(value):.6g}"
    if isinstance(value, str) and value[:1] in "[" and value.endswith("]"):
        try:
            return json.dumps([cell(v) for v in json.loads(value)], ensure_ascii=False)
        except ValueError:
            return value
    try:
        return f"{float(value):.6g}" if value.strip() not in ("",) and "." in value else value
    except ValueError:
        return value


def diff(a: list[dict], b: list[dict]) -> list:
    return [(i, k, x[k], y.get(k)) for i, (x, y) in enumerate(zip(a, b, strict=False))
            for k in x if x[k] != y.get(k)][:5]  # fmt: skip


@pytest.mark.parametrize("seed", range(SEEDS))
def test_exports_views_and_alerts_agree_as_the_store_changes(tmp_path, seed, monkeypatch):
    Walk(tmp_path, seed).go(monkeypatch)
