"""An export's manifest.json (what produced its rows, its files' hashes) and its folder: never
half-written, never over another export or over files that are not an export's."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from storage.db import schema_version
from storage.export_folder import old_folder

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class ExportError(ValueError):
    """Bad export input (unknown narrative, format or kind; an --out that holds something
    else): one line on stderr and exit 2."""

    exit_code = 2


def _describe(manifest: dict) -> str:
    if manifest.get("command"):
        return manifest["command"]
    identity = manifest["export"]
    given = {k: v for k, v in identity["filters"].items() if v not in (None, [], ())}
    parts = [identity["kind"], f"--format {identity['format']}"]
    parts += [f"{k}={v}" for k, v in given.items()]
    if identity["no_text"]:
        parts.append("--no-text")
    return " ".join(parts) + f" of {identity['database']}"


def check_out_dir(out_dir: Path, identity: dict) -> None:
    """An export goes into an absent or empty folder, or replaces the same export (same kind,
    format, filters, --no-text and database) in a folder that holds nothing else; never the
    folder the command runs in, or one holding it (it is replaced whole: a shell in it would
    be left in a deleted folder, seeing no files)."""
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder is gone already
        here = None
    if here is not None and (here == out_dir or out_dir in here.parents):
        raise ExportError(
            f"--out {out_dir} is the folder you are in, or holds it: an export replaces its "
            f"folder whole, so give it from outside (e.g. --out ../{out_dir.name})"
        )
    if not out_dir.exists():
        if above := next((p for p in out_dir.parents if p.exists() and not p.is_dir()), None):
            raise ExportError(f"--out {out_dir}: {above} is a file, not a folder")
        return
    if not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} is a file, not a folder")
    present = {p.name for p in out_dir.iterdir()}
    if not present:
        return
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        theirs = manifest["export"]
        listed = {f["name"] for f in manifest["files"]} | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        raise ExportError(
            f"--out {out_dir} is not empty and holds no narrascope export: choose an empty "
            "or new folder"
        ) from None
    if _same_store(theirs) != _same_store(identity):
        raise ExportError(
            f"--out {out_dir} holds a different export ({_describe(manifest)}): choose another "
            "folder, or remove that one"
        )
    if present - listed:
        others = ", ".join(sorted(present - listed)[:3])
        raise ExportError(
            f"--out {out_dir} holds files that are not part of its export ({others}): move "
            "them away or choose another folder"
        )


def _same_store(identity: dict) -> dict:
    """An export's identity with its database path as the file system resolves it: the same
    store named another way (``../s.duckdb``, through a symlinked folder) is the same export."""
    if not isinstance(identity, dict) or not isinstance(identity.get("database"), str):
        return identity
    return {**identity, "database": os.path.realpath(identity["database"])}


@contextmanager
def out_turn(out_dir: Path) -> Iterator[None]:
    """Exports into one folder take turns between their last look at ``out_dir`` and the swap
    (an ``flock`` on the folder that holds it, so nothing is left behind). Without it, two
    exports that both found the folder empty each put their files there: the later one
    replaced a different export, or failed between its renames ("Directory not empty") and
    left its ``.out.old-*`` folder behind."""
    fd = os.open(out_dir.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no flock on a folder there (NFS's emulation wants a writable file)
            pass  # the two checks and renames as before
        yield
    finally:
        os.close(fd)  # lets go of the flock


def swap_in(partial: Path, out_dir: Path) -> None:
    """Put the finished folder in place of ``out_dir`` (two renames on one file system)."""
    if not out_dir.exists():
        partial.rename(out_dir)
        return
    old = old_folder(out_dir)
    out_dir.rename(old)
    try:
        partial.rename(out_dir)
    except BaseException:  # a failure, or a stop signal between the two renames
        old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def describe_database(con: duckdb.DuckDBPyConnection, db_path: Path) -> dict:
    """The store an export came from: its path, schema version, size and latest run."""
    last = _rows(
        con,
        "SELECT run_id, kind, status, finished_at FROM runs WHERE finished_at IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT 1",
    )
    # a run recorded as running: still writing (what it committed so far is in the export),
    # or killed (the next writer marks it abandoned)
    running = _rows(
        con, "SELECT run_id, kind, started_at FROM runs WHERE status = 'running' ORDER BY 3"
    )
    return {
        "path": str(Path(db_path).absolute()),
        "schema_version": schema_version(con),
        "documents": con.execute("SELECT count(*) FROM documents").fetchone()[0],
        "narratives": con.execute("SELECT count(*) FROM narratives").fetchone()[0],
        "last_run": last[0] if last else None,
        "running": running,
    }


# The exported documents' current versions, for the provenance queries below.
_EXPORTED = """FROM export_docs x JOIN documents d ON d.doc_id = x.doc_id"""


def _settings(con: duckdb.DuckDBPyConnection, stages: list[dict]) -> None:
    """Each stage version's settings, as the runs that processed the exported documents
    recorded them (runs before narrascope recorded settings give none)."""
    run_ids = sorted({r for s in stages for r in s["runs"]})
    summaries = dict(
        con.execute(
            "SELECT run_id, summary FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [run_ids],
        ).fetchall()
    )
    for stage in stages:
        seen: list[dict] = []
        for run_id in stage["runs"]:
            try:
                summary = json.loads(summaries.get(run_id) or "{}")
                report = summary.get(stage["stage"]) or {}
                if not isinstance(report, dict) or not report.get("settings"):
                    # a run still going, or one that died, has its settings from the start
                    report = (summary.get("stage_settings") or {}).get(stage["stage"]) or {}
            except (ValueError, AttributeError):
                continue
            recorded = report.get("settings") if isinstance(report, dict) else None
            if recorded and report.get("version") == stage["version"] and recorded not in seen:
                seen.append(recorded)
        stage["settings"] = seen


def provenance(con: duckdb.DuckDBPyConnection) -> dict:
    """What produced the exported rows: per stage its versions and settings (thresholds
    among them) and the runs that applied them; the embedding, translation and narrative
    models; language identification methods."""
    stages = _rows(
        con,
        f"""SELECT s.stage, s.stage_version AS version, count(*) AS documents,
                   count(*) FILTER (s.status = 'rejected') AS rejected,
                   coalesce(list(DISTINCT s.run_id ORDER BY s.run_id)
                            FILTER (s.run_id IS NOT NULL), []) AS runs
            {_EXPORTED}
            JOIN stage_state s ON s.doc_id = d.doc_id AND s.version = d.current_version
            GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    _settings(con, stages)
    thresholds = {}
    for stage in stages:
        for settings in stage["settings"]:
            picked = {
                k: v for k, v in settings.items() if "threshold" in k or k == "cross_language"
            }
            if picked:
                thresholds.setdefault(stage["stage"], []).append(picked)
    return {
        "stages": stages,
        "thresholds": thresholds,
        "embedding_models": _rows(
            con,
            f"""SELECT e.model_id, e.input, e.runtime, e.dim, e.stage_version AS version,
                       count(*) AS documents
                {_EXPORTED}
                JOIN embeddings e ON e.doc_id = d.doc_id AND e.version = d.current_version
                GROUP BY ALL ORDER BY documents DESC, model_id""",
        ),
        "translation_models": _rows(
            con,
            f"""SELECT t.model_id, t.source_lang, t.target_lang, t.status,
                       t.stage_version AS version, count(*) AS documents
                {_EXPORTED}
                JOIN translations t ON t.doc_id = d.doc_id AND t.version = d.current_version
                GROUP BY ALL ORDER BY documents DESC, status, source_lang""",
        ),
        "language_identification": _rows(
            con,
            f"""SELECT l.method, l.stage_version AS version, count(*) AS documents
                {_EXPORTED}
                JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
                GROUP BY ALL ORDER BY documents DESC, method""",
        ),
        "narrative_models": _rows(
            con,
            """SELECT n.model_id, count(*) AS narratives FROM narratives n
               WHERE n.narrative_id IN (SELECT narrative_id FROM export_docs)
               GROUP BY 1 ORDER BY 2 DESC, 1""",
        ),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def narrascope_version() -> str:
    try:
        return metadata.version("narrascope")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def write_manifest(
    folder: Path,
    *,
    identity: dict,
    files: dict[str, tuple[int, list[str]]],
    resolved: dict,
    origin: dict,
    command: str | None,
    created_at: datetime,
) -> dict:
    """Write manifest.json beside the files (their rows, columns, bytes and sha256)."""
    version = narrascope_version()
    listed = [
        {
            "name": name,
            "rows": rows,
            "bytes": (folder / name).stat().st_size,
            "sha256": _sha256(folder / name),
            "columns": columns,
        }
        for name, (rows, columns) in files.items()
    ]
    # one hash for the whole export: cite it, and check a copy against it
    fingerprint = hashlib.sha256(
        "".join(
            f"{f['sha256']}  {f['name']}\n" for f in sorted(listed, key=lambda f: f["name"])
        ).encode()
    ).hexdigest()
    stamp = created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    rows = ", ".join(f"{f['rows']} {Path(f['name']).stem}" for f in listed)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "narrascope_version": version,
        "schema_version": origin["database"]["schema_version"],
        "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "command": command,
        "export": identity,
        "filters_resolved": resolved,
        "rows": {Path(f["name"]).stem: f["rows"] for f in listed},
        "files": listed,
        "fingerprint": fingerprint,
        "cite": (
            f"narrascope {version} (schema {origin['database']['schema_version']}), "
            f"{identity['kind']} export of {stamp}: {rows}; fingerprint sha256:{fingerprint}"
        ),
        **origin,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False, default=_json_default)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")
    return json.loads(text)


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
