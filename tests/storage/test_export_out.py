"""Where `narrascope export` puts its files when --out is not a plain new folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_cli


def test_a_symlinked_out_folder_gets_the_files_where_it_points(tmp_path):
    """`--out share` where share is a link to a folder elsewhere (a shared drive): the files
    land in that folder, the link stays, and nothing else is left; exporting again replaces
    them there. Before, the export renamed the link away and put a new folder in its place:
    the target stayed empty and a hidden `.share.old-*` link was left beside it."""
    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    target, home = tmp_path / "drive" / "exports", tmp_path / "home"
    target.mkdir(parents=True)
    home.mkdir()
    (home / "share").symlink_to(target, target_is_directory=True)
    for _ in range(2):
        run_cli("export", "documents", "--out", "share", "--format", "csv", db=db, cwd=home)
        assert [p.name for p in home.iterdir()] == ["share"] and (home / "share").is_symlink()
        assert sorted(p.name for p in target.iterdir()) == ["documents.csv", "manifest.json"]
        manifest = json.loads((target / "manifest.json").read_text("utf-8"))
        assert manifest["rows"] == {"documents": 0}
    assert [p.name for p in target.parent.iterdir()] == ["exports"]
    assert Path(manifest["command"].split("--out ")[1].split()[0]) == home / "share"


def test_the_same_database_named_another_way_is_the_same_export(tmp_path):
    """The same export of the same store replaces the one in --out however --db names the
    store: relative from another folder (`../s.duckdb`), or through a symlinked folder.
    Before, both were refused (exit 2) as 'holds a different export', with a command that
    differed from the user's only in how it spelled the same file."""
    db = tmp_path / "data" / "s.duckdb"
    run_cli("init", db=db)
    (tmp_path / "work").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data", target_is_directory=True)
    out = tmp_path / "out"
    for named, cwd in ((db, tmp_path), (Path("../data/s.duckdb"), tmp_path / "work"),
                       (tmp_path / "link" / "s.duckdb", tmp_path)):  # fmt: skip
        proc = run_cli("--db", str(named), "export", "copies", "--out", str(out), cwd=cwd,
                       check=False)  # fmt: skip
        assert proc.returncode == 0, (named, proc.stderr)
        assert sorted(p.name for p in out.iterdir()) == ["copies.parquet", "manifest.json"]
    # another store is still another export
    other = tmp_path / "other.duckdb"
    run_cli("init", db=other)
    proc = run_cli("export", "copies", "--out", str(out), db=other, check=False)
    assert proc.returncode == 2 and "holds a different export" in proc.stderr


def test_the_folder_you_are_in_is_refused_as_out(tmp_path):
    """`cd share && narrascope export ... --out .` is refused (exit 2, one line saying to give
    it from outside), empty or holding the same export, as the folder is replaced whole.
    Before, it said 'wrote ... to .' and exited 0, but the shell was left in a deleted
    folder: `ls` there showed nothing, and the same command again failed with '[Errno 2] No
    such file or directory'."""
    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    share = tmp_path / "share"
    share.mkdir()
    for before in ([], ["documents.parquet", "manifest.json"]):
        if before:  # the same export, made from outside
            run_cli("export", "documents", "--out", "share", db=db, cwd=tmp_path)
        shell = os.open(share, os.O_RDONLY)  # what a shell in that folder holds
        try:
            proc = run_cli("export", "documents", "--out", ".", db=db, cwd=share, check=False)
            assert sorted(os.listdir(shell)) == before
        finally:
            os.close(shell)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert "is the folder you are in, or holds it" in proc.stderr, proc.stderr


def test_an_out_folder_that_cannot_be_made_is_one_line_saying_why(tmp_path):
    """An --out under a file (`notes.txt/x`) is refused with exit 2 naming the file; one in a
    folder nothing can be written into (/proc here, a read-only disk or another user's folder
    elsewhere) exits 1 naming the folder. Before, both printed Python's bare `[Errno 17] File
    exists: '.../notes.txt'` and `[Errno 2] No such file or directory: '/proc/.x.partial-…'`."""
    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt" / "x", tmp_path / "notes.txt" / "y" / "z"):
        proc = run_cli("export", "documents", "--out", str(out), db=db, check=False)
        assert proc.returncode == 2 and proc.stderr == (
            f"error: --out {out}: {tmp_path / 'notes.txt'} is a file, not a folder\n"
        )
    proc = run_cli("export", "documents", "--out", "/proc/narrascope-x", db=db, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: cannot write into /proc (")
    assert proc.stderr.endswith("): nothing was written\n") and "partial" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "s.duckdb", "s.duckdb.lock"]


def test_an_export_that_fills_out_while_another_finishes_is_not_replaced(tmp_path, monkeypatch):
    """Two exports into one new --out at once, a documents and a copies export: one lands,
    the other is refused as the README says (exit 2, "holds a different export") and leaves
    nothing beside the folder. Before, the one that finished second put its files over the
    first (each had checked the folder while it was still empty), and both said they wrote
    it; with the same export twice, the second could fail with "[Errno 39] Directory not
    empty" and leave a hidden `.out.old-*` folder behind."""
    import threading
    import time

    from storage import export as export_mod
    from storage.export_manifest import ExportError

    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    out = tmp_path / "out"
    done, outcome = threading.Event(), {}
    real_swap = export_mod.swap_in

    def late_swap(partial, out_dir):  # the documents export is slow to put its files in place
        if threading.current_thread().name == "documents":
            done.wait(3)
        real_swap(partial, out_dir)

    monkeypatch.setattr(export_mod, "swap_in", late_swap)

    def run(kind):
        try:
            outcome[kind] = export_mod.export(db, kind, out, fmt="csv")["export"]["kind"]
        except ExportError as err:
            outcome[kind] = err
        finally:
            if kind == "copies":
                done.set()

    first = threading.Thread(target=run, args=("documents",), name="documents")
    first.start()
    time.sleep(0.5)  # the documents export has written its files and waits to swap them in
    run("copies")
    first.join()
    refused = [k for k, v in outcome.items() if isinstance(v, ExportError)]
    assert len(refused) == 1 and "holds a different export" in str(outcome[refused[0]]), outcome
    landed = "copies" if refused == ["documents"] else "documents"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["export"]["kind"] == landed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.duckdb", "s.duckdb.lock"]


def test_a_refused_export_leaves_no_folders_behind(tmp_path):
    """An export refused once it had made --out's parent folders (an unknown language, an
    unknown narrative) takes them away again; folders that were there stay. Before,
    `--out deep/a/b/c --lang xx` exited 2 and left deep/a/b."""
    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    (tmp_path / "kept").mkdir()
    for filters in (("--lang", "xx"), ("--narrative", "12345")):
        proc = run_cli("export", "documents", "--out", "kept/a/b/c", *filters, db=db,
                       cwd=tmp_path, check=False)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "s.duckdb", "s.duckdb.lock"]
        assert list((tmp_path / "kept").iterdir()) == []


def test_an_out_folder_name_near_the_file_systems_limit_is_written_and_replaced(tmp_path):
    """A folder name of 245 bytes is legal (255 is the limit): the export's hidden partial
    and old folders, whose names add to it, failed with "cannot write into ... (File name too
    long)" (audit, 2026-12-08). Their names now cut the folder's name short."""
    db = tmp_path / "s.duckdb"
    run_cli("init", db=db)
    out = tmp_path / ("x" * 245)
    for _ in range(2):  # written, then replaced (the old one set aside, then removed)
        run_cli("export", "copies", "--out", str(out), "--format", "jsonl", db=db)
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("s.duckdb")] == [
            out.name
        ]
        assert sorted(p.name for p in out.iterdir()) == ["copies.jsonl", "manifest.json"]
