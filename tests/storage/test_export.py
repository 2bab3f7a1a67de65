"""`narrascope export` on the processed demo store: every kind and format read back by pyarrow
and DuckDB, filters, --no-text, the manifest, and bad input (exit 2, one line)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from storage import connect
from storage.export import ExportError, Filters, export
from tests.conftest import run_cli

KINDS = {
    "narratives": ("narratives", "members"),
    "documents": ("documents",),
    "copies": ("copies",),
}
READERS = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}


@pytest.fixture
def demo_db(demo_run) -> Path:
    """The session's demo store (tests/conftest.py); a test that changes it works on a copy."""
    return demo_run[0]


def query(db: Path, sql: str, params=()) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def cli_export(db: Path, *args: str, check: bool = True):
    return run_cli("export", *args, db=db, check=check)


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def read_arrow(path: Path):
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix == ".csv":  # as the README says to read them: texts hold line breaks, and
        # a small block makes one fall across blocks, as in a file over pyarrow's 1 MB block
        return pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=4096),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
    return pa_json.read_json(path)


def read_duckdb(path: Path) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM {READERS[path.suffix[1:]]}(?)", [str(path)])
    return [d[0] for d in cur.description], cur.fetchall()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_and_format_reads_back_whole(demo_db, tmp_path, kind, fmt):
    out = tmp_path / "out"
    proc = cli_export(demo_db, kind, "--out", str(out), "--format", fmt)
    assert f"to {out}" in proc.stdout
    manifest = manifest_of(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.{fmt}" for name in KINDS[kind]] + ["manifest.json"]
    )
    for entry in manifest["files"]:
        path = out / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        table = read_arrow(path)
        columns, rows = read_duckdb(path)
        assert table.num_rows == len(rows) == entry["rows"] > 0
        assert table.column_names == columns == entry["columns"]
    expected = {
        "documents": {"documents": query(demo_db, "SELECT count(*) FROM documents")[0][0]},
        "copies": {"copies": query(demo_db, "SELECT count(*) FROM copy_members")[0][0]},
        "narratives": {
            "narratives": query(demo_db, "SELECT count(*) FROM narratives")[0][0],
            "members": query(demo_db, "SELECT count(*) FROM narrative_members")[0][0],
        },
    }[kind]
    assert manifest["rows"] == expected


def test_narratives_and_members_join_with_origins(demo_db, tmp_path):
    out = tmp_path / "n"
    cli_export(demo_db, "narratives", "--out", str(out))
    narratives = pq.read_table(out / "narratives.parquet").to_pylist()
    members = pq.read_table(out / "members.parquet").to_pylist()
    assert {m["narrative_id"] for m in members} == {n["narrative_id"] for n in narratives}
    by_id = {n["narrative_id"]: n for n in narratives}
    ceasefire = next(
        n for n in narratives if n["label"] == "The Ceasefire Nobody in Brussels Wants"
    )
    mine = [m for m in members if m["narrative_id"] == ceasefire["narrative_id"]]
    assert len(mine) == ceasefire["documents"] == ceasefire["exported_members"] == 7
    assert {m["lang"] for m in mine} == {"de", "en", "ru", "uk"} == set(ceasefire["langs"])
    assert "ceasefire" in ceasefire["keywords"]
    assert all(m["url"].startswith("http") and m["source"] for m in mine)
    # copies name their origin as the copies view does
    origins = dict(
        query(demo_db, "SELECT doc_id, copy_of FROM v_documents WHERE copy_of IS NOT NULL")
    )
    urls = dict(query(demo_db, "SELECT doc_id, url FROM v_documents"))
    copied = [m for m in members if m["copy_of"]]
    assert len(copied) == len(origins) > 0
    for m in copied:
        assert m["copy_of"] == origins[m["doc_id"]] and m["copy_of_url"] == urls[m["copy_of"]]
        assert m["copy_kind"] in {"exact", "near", "translated"}
    assert all(by_id[m["narrative_id"]]["model_id"] for m in members)


def test_csv_is_rfc4180_utf8_with_cyrillic_intact(demo_db, tmp_path):
    out = tmp_path / "csv"
    cli_export(demo_db, "documents", "--out", str(out), "--format", "csv")
    raw = (out / "documents.csv").read_bytes()
    text = raw.decode("utf-8")  # strict: fails on anything but UTF-8
    assert text.split("\n", 1)[0].endswith("\r")  # CRLF line ends
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    [(doc_id, title, body)] = query(
        demo_db,
        "SELECT doc_id, title, text FROM v_documents WHERE title = 'Перемирие, которого не хочет Брюссель'",
    )
    row = next(r for r in rows if r["doc_id"] == doc_id)
    assert row["title"] == title and row["text"] == body  # commas, quotes, line breaks intact
    assert "\n" in body and f'"{title}"' in text  # a title with a comma is quoted
    # lists are JSON arrays, times ISO 8601 UTC
    narratives = tmp_path / "ncsv"
    cli_export(demo_db, "narratives", "--out", str(narratives), "--format", "csv")
    first = next(
        csv.DictReader(io.StringIO((narratives / "narratives.csv").read_text("utf-8"), newline=""))
    )
    assert isinstance(json.loads(first["langs"]), list)
    assert first["first_seen"].endswith("Z") and "T" in first["first_seen"]
    # JSON lines: one object per line, Cyrillic as it is
    jl = tmp_path / "jl"
    cli_export(demo_db, "documents", "--out", str(jl), "--format", "jsonl")
    lines = (jl / "documents.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == len(rows)
    objects = [json.loads(x) for x in lines]
    assert next(o for o in objects if o["doc_id"] == doc_id)["text"] == body
    assert "Перемирие" in (jl / "documents.jsonl").read_text("utf-8")


def test_no_text_leaves_metadata_and_urls_only(demo_db, tmp_path):
    [(body,)] = query(
        demo_db,
        "SELECT text FROM v_documents WHERE title = 'Перемирие, которого не хочет Брюссель'",
    )
    sentence = body.strip().splitlines()[0][:40]
    for kind in KINDS:
        for fmt in ("csv", "parquet"):
            out = tmp_path / f"{kind}-{fmt}"
            cli_export(demo_db, kind, "--out", str(out), "--format", fmt, "--no-text")
            for entry in manifest_of(out)["files"]:
                columns = read_arrow(out / entry["name"]).column_names
                assert not {"title", "text", "title_translated", "text_translated", "label",
                            "label_original"} & set(columns)  # fmt: skip
                assert "url" in columns or "representative_url" in columns
                if fmt == "csv":
                    assert sentence not in (out / entry["name"]).read_text("utf-8")
                    assert "Перемирие, которого" not in (out / entry["name"]).read_text("utf-8")


def test_filters(demo_db, tmp_path):
    def rows(kind, *args, name=None):
        out = tmp_path / f"f{len(list(tmp_path.iterdir()))}"
        cli_export(demo_db, kind, "--out", str(out), *args)
        return pq.read_table(out / f"{name or kind}.parquet").to_pylist(), manifest_of(out)

    docs, _ = rows("documents", "--lang", "ru")
    assert docs and {d["lang"] for d in docs} == {"ru"}
    assert len(docs) == query(demo_db, "SELECT count(*) FROM v_documents WHERE lang = 'ru'")[0][0]
    docs, _ = rows("documents", "--source", "demo-wp", "--source", "demo-channel")
    assert {d["source"] for d in docs} == {"demo-wp", "demo-channel"}
    assert (
        len(docs)
        == query(
            demo_db, "SELECT count(*) FROM v_documents WHERE source IN ('demo-wp', 'demo-channel')"
        )[0][0]
    )
    docs, _ = rows("documents", "--source-tag", "network=demo")  # every demo source has it
    assert len(docs) == query(demo_db, "SELECT count(*) FROM v_documents")[0][0] == 50
    # a tag no source has (tags match as written) is refused: it exported nothing, exit 0
    for tag, said in (("network=Demo", "network: 'demo'"), ("land=ru", "no source has that key")):
        proc = run_cli("export", "documents", "--out", str(tmp_path / "none"), "--source-tag",
                       tag, db=demo_db, check=False)  # fmt: skip
        assert proc.returncode == 2 and f"no source has the tag {tag} ({said})" in proc.stderr
        assert not (tmp_path / "none").exists()
    docs, manifest = rows("documents", "--since", "2026-10-05", "--until", "2026-10-10")
    assert docs and all(
        "2026-10-05" <= d["seen_at"].date().isoformat() <= "2026-10-10" for d in docs
    )
    assert manifest["filters_resolved"]["until"] == "2026-10-11T00:00:00Z"  # the whole day
    # --min-sites: narratives on at least 3 sites, with all their members
    wide = {n for (n,) in query(demo_db, "SELECT narrative_id FROM v_narratives WHERE sites >= 3")}
    narratives, _ = rows("narratives", "--min-sites", "3")
    assert {n["narrative_id"] for n in narratives} == wide and wide
    members, _ = rows("narratives", "--min-sites", "3", name="members")
    assert len(members) == sum(n["documents"] for n in narratives)
    copies, _ = rows("copies", "--min-sites", "2")
    groups = {c["group_id"] for c in copies}
    assert groups and all(
        len({c["source"] for c in copies if c["group_id"] == g}) >= 2 for g in groups
    )
    # --narrative with --lang: that narrative's members in that language
    ceasefire = query(
        demo_db,
        "SELECT narrative_id FROM v_narratives WHERE representative_title LIKE 'The Ceasefire%'",
    )[0][0]
    members, manifest = rows(
        "narratives", "--narrative", str(ceasefire), "--lang", "de", name="members"
    )
    assert {(m["narrative_id"], m["lang"]) for m in members} == {(ceasefire, "de")}
    assert manifest["export"]["filters"]["narratives"] == [ceasefire]


def test_a_merged_narrative_id_resolves(demo_db, tmp_path):
    db = tmp_path / "merged.duckdb"
    shutil.copy(demo_db, db)
    target = query(db, "SELECT max(narrative_id) FROM narratives")[0][0]
    with connect(db) as con:
        con.execute("INSERT INTO narrative_aliases VALUES (9999, ?, now(), 'test')", [target])
    manifest = export(db, "narratives", tmp_path / "out", filters=Filters(narratives=(9999,)))
    assert manifest["filters_resolved"]["narratives"] == {"9999": target}
    members = pq.read_table(tmp_path / "out" / "members.parquet").to_pylist()
    assert members and {m["narrative_id"] for m in members} == {target}


def test_manifest_says_what_produced_the_rows(demo_db, tmp_path):
    out = tmp_path / "m"
    cli_export(demo_db, "documents", "--out", str(out), "--lang", "en", "--format", "jsonl")
    manifest = manifest_of(out)
    assert manifest["narrascope_version"] == "0.1.0"
    with connect(demo_db, read_only=True) as con:
        from storage.db import schema_version

        assert manifest["schema_version"] == schema_version(con)
    stored = set(
        query(
            demo_db,
            "SELECT s.stage, s.stage_version FROM stage_state s JOIN documents d "
            "ON d.doc_id = s.doc_id AND d.current_version = s.version "
            "JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version "
            "WHERE l.lang = 'en'",
        )
    )
    stages = {s["stage"]: s for s in manifest["stages"]}
    assert {(s["stage"], s["version"]) for s in manifest["stages"]} == stored
    assert stages["cluster"]["settings"][0]["threshold"] == 0.46  # as the process run recorded
    assert manifest["thresholds"]["cluster"][0]["threshold"] == 0.46
    assert manifest["thresholds"]["dedup"][0]["threshold"] == 0.5
    [model] = manifest["embedding_models"]
    assert model["model_id"] == "multilingual-e5-small-q4:query" and model["dim"] == 384
    assert manifest["export"]["filters"]["langs"] == ["en"]
    assert manifest["export"]["kind"] == "documents" and manifest["export"]["format"] == "jsonl"
    assert manifest["command"].endswith("--format jsonl --lang en")
    assert manifest["created_at"].endswith("Z")
    assert manifest["database"]["documents"] == 50
    listing = "".join(
        f"{hashlib.sha256((out / f['name']).read_bytes()).hexdigest()}  {f['name']}\n"
        for f in sorted(manifest["files"], key=lambda f: f["name"])
    )
    assert manifest["fingerprint"] == hashlib.sha256(listing.encode()).hexdigest()
    assert manifest["fingerprint"] in manifest["cite"]


def one_line_exit_2(proc):
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    return proc.stderr


def test_bad_input_exits_2_with_one_line(demo_db, tmp_path):
    out = tmp_path / "out"
    err = one_line_exit_2(
        cli_export(demo_db, "narratives", "--out", str(out), "--narrative", "987654", check=False)
    )
    assert "no narrative 987654" in err and not out.exists()
    err = one_line_exit_2(
        cli_export(demo_db, "documents", "--out", str(out), "--format", "xlsx", check=False)
    )
    assert "unknown format 'xlsx'" in err
    err = one_line_exit_2(cli_export(demo_db, "tweets", "--out", str(out), check=False))
    assert "unknown export 'tweets'" in err
    # a language no document is in (Ukrainian is uk) exported nothing and exited 0
    err = one_line_exit_2(cli_export(demo_db, "documents", "--out", str(out), "--lang", "uk",
                                     "--lang", "UA", check=False))  # fmt: skip
    langs = sorted(r[0] for r in query(demo_db, "SELECT DISTINCT lang FROM v_documents"))
    assert f"no document in language 'ua' in this database (languages: {', '.join(langs)})" in err
    assert "uk" in langs and not out.exists()
    # a folder with another export, or with files of its own, is left alone
    cli_export(demo_db, "copies", "--out", str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    err = one_line_exit_2(
        cli_export(demo_db, "copies", "--out", str(out), "--lang", "ru", check=False)
    )
    assert "holds a different export" in err and "export copies" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.md").write_text("mine")
    err = one_line_exit_2(cli_export(demo_db, "copies", "--out", str(mine), check=False))
    assert "holds no narrascope export" in err and (mine / "thesis.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "out"]  # nothing half-written


def test_the_same_export_again_replaces_it(demo_db, tmp_path):
    out = tmp_path / "again"
    cli_export(demo_db, "documents", "--out", str(out), "--format", "csv", "--lang", "uk")
    first = manifest_of(out)
    cli_export(demo_db, "documents", "--out", str(out), "--format", "csv", "--lang", "uk")
    second = manifest_of(out)
    assert second["rows"] == first["rows"] and second["created_at"] > first["created_at"]
    assert second["files"][0]["sha256"] == first["files"][0]["sha256"]  # same store, same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


def test_an_export_that_fails_leaves_the_previous_one(demo_db, tmp_path, monkeypatch):
    from storage import export as exporting

    out = tmp_path / "n"
    export(demo_db, "narratives", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = exporting.write_file
    calls = []

    def write_then_fail(con, name, *args):
        calls.append(name)
        if len(calls) == 2:  # narratives written, members fail: a full disk, say
            raise OSError("No space left on device")
        return real(con, name, *args)

    monkeypatch.setattr(exporting, "write_file", write_then_fail)
    with pytest.raises(OSError):
        export(demo_db, "narratives", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n"]
    with pytest.raises(ExportError, match="--min-sites"):
        export(demo_db, "narratives", tmp_path / "x", filters=Filters(min_sites=0))


def test_documents_say_what_v_documents_says(demo_db, tmp_path):
    """The export writes its document columns out (chunk by chunk) instead of reading the
    view: every column the two share must agree, row for row."""
    out = tmp_path / "d"
    export(demo_db, "documents", out)
    exported = {r["doc_id"]: r for r in pq.read_table(out / "documents.parquet").to_pylist()}
    with connect(demo_db, read_only=True) as con:
        cur = con.execute("SELECT * FROM v_documents")
        names = [d[0] for d in cur.description]
        view = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    shared = set(names) & set(next(iter(exported.values())))
    assert len(shared) >= 20 and exported.keys() == view.keys()
    for doc_id, row in exported.items():
        assert {c: row[c] for c in shared} == {c: view[doc_id][c] for c in shared}, doc_id
    seen = [r["seen_at"] for r in exported.values()]
    assert seen == sorted(seen)  # oldest first


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_chunks_join_into_the_same_file(demo_db, tmp_path, monkeypatch, fmt):
    """A large export is written in chunks (a few rows each here) and joined: one header,
    every row once, in order, as in one piece."""
    from storage import export_files

    whole = export(demo_db, "narratives", tmp_path / "whole", fmt=fmt)
    monkeypatch.setattr(export_files, "CHUNK_ROWS", (4, 4))
    chunked = export(demo_db, "narratives", tmp_path / "chunked", fmt=fmt)
    assert chunked["rows"] == whole["rows"]
    for name in (f"members.{fmt}", f"narratives.{fmt}"):
        a = read_arrow(tmp_path / "whole" / name).to_pylist()
        b = read_arrow(tmp_path / "chunked" / name).to_pylist()
        assert a == b and len(b) > 8
    assert sorted(p.name for p in (tmp_path / "chunked").iterdir()) == sorted(
        [f"members.{fmt}", f"narratives.{fmt}", "manifest.json"]
    )


def test_the_manifest_follows_a_rebuild_with_another_threshold(demo_db, tmp_path):
    """After `cluster --rebuild --threshold X` the narratives were made with X, and the
    manifest says so (the rebuild run records the cluster stage's settings)."""
    db = tmp_path / "rebuilt.duckdb"
    shutil.copy(demo_db, db)
    run_cli("cluster", "--rebuild", "--threshold", "0.45", db=db)
    manifest = export(db, "narratives", tmp_path / "out")
    [cluster] = [s for s in manifest["stages"] if s["stage"] == "cluster"]
    assert [s["threshold"] for s in cluster["settings"]] == [0.45]
    assert manifest["thresholds"]["cluster"] == [
        {"threshold": 0.45, "merge_threshold": 0.97, "cross_language": 0.17}
    ]


def test_a_run_still_going_or_killed_has_its_settings_in_the_manifest(tmp_path):
    """A process run records its stages' reports when it ends: an export of what a run
    still going had committed, or one killed (kill -9, then abandoned by the next writer),
    said `"settings": []` for every stage it ran, and named the run before as the last
    (audit, 2026-12-08). Its stages' settings are recorded from its start now."""
    import subprocess
    import sys

    from tests.conftest import ROOT, import_jsonl

    db = tmp_path / "k.duckdb"
    import_jsonl(tmp_path, db, [{"url": f"https://k.example/{i}", "text": f"Text {i}. " * 20}
                                for i in range(3)])  # fmt: skip
    # a process run, as `process` starts it, whose process ends before the run does
    script = f"""
from pipeline.contract import stage_settings
from pipeline.extract import ExtractStage
from pipeline.runner import run_stages
from storage import connect
from storage.runs import start_run
stage = ExtractStage(min_chars=7)
planned = {{"extract": {{"version": stage.version, "settings": stage_settings(stage)}}}}
with connect({str(db)!r}) as con:
    run_id = start_run(con, "process", summary={{"stage_settings": planned}})
run_stages({str(db)!r}, [stage], run_id=run_id)
print(run_id)
"""
    run_id = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()[-1]  # fmt: skip
    running = export(db, "documents", tmp_path / "running")
    [extract] = [s for s in running["stages"] if s["stage"] == "extract"]
    assert extract["runs"] == [run_id] and extract["settings"][0]["min_chars"] == 7
    assert [r["run_id"] for r in running["database"]["running"]] == [run_id]
    run_cli("process", "--stage", "langid", "--no-progress", db=db)  # its process is gone
    assert query(db, "SELECT status FROM runs WHERE run_id = ?", [run_id]) == [("abandoned",)]
    killed = export(db, "documents", tmp_path / "killed")
    [extract] = [s for s in killed["stages"] if s["stage"] == "extract"]
    assert extract["settings"][0]["min_chars"] == 7
    assert killed["database"]["running"] == []


def test_narratives_out_of_memory_step_up_or_fail_cleanly(demo_db, tmp_path, monkeypatch):
    """The narratives file runs under a small memory limit first (flat up to 100,000
    documents, bench/bench_export.py); a store too large for it is written again under the
    next limit, and out of memory under the last one the export fails and writes nothing."""
    from storage import export_files

    whole = export(demo_db, "narratives", tmp_path / "whole")
    monkeypatch.setattr(export_files, "NARRATIVES_MEMORY_LIMITS", ("1MB", "2GB"))
    stepped = export(demo_db, "narratives", tmp_path / "stepped")
    assert stepped["rows"] == whole["rows"]
    for name in ("narratives.parquet", "members.parquet"):
        assert read_arrow(tmp_path / "stepped" / name) == read_arrow(tmp_path / "whole" / name)
    assert sorted(p.name for p in (tmp_path / "stepped").iterdir()) == [
        "manifest.json", "members.parquet", "narratives.parquet"]  # fmt: skip

    monkeypatch.setattr(export_files, "NARRATIVES_MEMORY_LIMITS", ("1MB",))
    with pytest.raises(Exception, match="[Oo]ut of [Mm]emory"):
        export(demo_db, "narratives", tmp_path / "failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stepped", "whole"]


def test_a_copy_linked_equally_to_several_members_names_the_same_via_every_time(tmp_path):
    """An edit (x) of a text that eight sites copied verbatim (a1..a8, each an edited copy
    of the origin o) is equally similar to all eight, and not linked to o: v_copies names one
    of them as `via`. Every query, and every export of the unchanged store, names the same
    one (the smallest doc_id) with that link's kind. Before the fix DuckDB's arg_max took any
    of the eight, another from query to query, so two exports (or the CSV and the Parquet
    file of one) disagreed."""
    db = tmp_path / "n.duckdb"
    copies = [f"a{i}" for i in range(1, 9)]
    with connect(db) as con:
        for i, doc in enumerate(["o", *copies, "x"]):
            at = f"2026-10-01 {10 + i}:00:00+00"
            con.execute("INSERT INTO documents VALUES (?, ?, 's', ?, ?, 1)",
                        [doc, f"https://s{i}.example/{doc}", at, at])  # fmt: skip
            con.execute(
                "INSERT INTO document_versions (doc_id, version, url, source, origin, "
                "fetched_at, content_hash) VALUES (?, 1, ?, 's', 'test', ?, ?)",
                [doc, f"https://s{i}.example/{doc}", at, doc],
            )
            text = {"o": "t0", "x": "t2"}.get(doc, "t1")
            con.execute("INSERT INTO minhash VALUES (?, 1, 'test', ?, 1, 1, ''::BLOB)", [doc, text])
            con.execute("INSERT INTO copy_members VALUES (?, 'cg-o', ?)", [doc, at])
        for doc in copies:
            con.execute("INSERT INTO copy_links VALUES (?, 'o', 'near', 0.95, now())", [doc])
            con.execute("INSERT INTO copy_links VALUES ('x', ?, 'near', 0.93, now())", [doc])
    answers = set()
    with connect(db, read_only=True) as con:
        for threads in (1, 2, 4) * 20:
            con.execute(f"SET threads = {threads}")
            answers |= set(con.execute(
                "SELECT via, copy_kind, similarity FROM v_copies WHERE doc_id = 'x'"
            ).fetchall())  # fmt: skip
    assert answers == {("a1", "near", 0.93)}
    for fmt in ("parquet", "csv", "jsonl"):
        export(db, "copies", tmp_path / fmt, fmt=fmt)
        columns, rows = read_duckdb(tmp_path / fmt / f"copies.{fmt}")
        [via] = [r[columns.index("via")] for r in rows if r[columns.index("doc_id")] == "x"]
        assert via == "a1"


def test_a_window_reads_as_alerts_since_reads_it():
    """`export --since 1.5d` as `alerts --since 1.5d` (the README says they read alike);
    before, a fraction was refused as no time."""
    from datetime import UTC, datetime

    from pipeline.alerts import parse_window
    from storage.export import parse_bound

    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    for window in ("1.5d", "90m", "2w", "0.5h"):
        assert parse_bound(window, end=False, now=now) == now - parse_window(window)
    assert parse_bound("2026-10-01", end=True, now=now) == datetime(2026, 10, 2, tzinfo=UTC)


def test_every_iso_form_of_a_date_counts_its_whole_day():
    """`--until 20261005` and `--until 2026-W41-1` are dates as `--until 2026-10-05` is: the
    whole day counts. Before, the compact forms read as a timestamp at midnight, and an
    export `--until 20261005` left out that day's documents (13 of the demo's 17)."""
    from datetime import UTC, datetime

    from storage.export import parse_bound

    for same_day in ("2026-10-05", "20261005", "2026-W41-1"):
        assert parse_bound(same_day, end=True) == datetime(2026, 10, 6, tzinfo=UTC), same_day
        assert parse_bound(same_day, end=False) == datetime(2026, 10, 5, tzinfo=UTC), same_day
    # a timestamp is the moment it names
    assert parse_bound("2026-10-05T00:00", end=True) == datetime(2026, 10, 5, tzinfo=UTC)
    assert parse_bound("20261005T12:00Z", end=True) == datetime(2026, 10, 5, 12, tzinfo=UTC)
