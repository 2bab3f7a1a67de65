"""What a user would notice after a schedule of tests/support/onewriter.py: exit codes and
output the README does not document for what happened, exports that disagree with their
manifest, `runs` rows missing, doubled or with the wrong status, and the replay of the
successful writers, one after another in their commit order, that the final state must
equal."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import duckdb

from storage import connect
from tests.support.canonical import canonical_state
from tests.support.onewriter import STAGES, WRITERS, Command, Schedule, cli

READERS = {"csv": "read_csv", "jsonl": "read_json_auto", "parquet": "read_parquet"}


EXPECTED_SIMILAR = ("error: no document 'https://", "error: document ")


def exit_problems(c: Command, db: Path) -> list[str]:
    """What the README says a command with this outcome prints and exits with."""
    p = []
    writer = c.kind in WRITERS
    if c.signalled and c.rc == -c.signal and c.err.rstrip().endswith("KeyboardInterrupt"):
        return []  # Ctrl-C while Python imports, before the command took the lock
    if "Traceback" in c.err:
        p.append(f"{c}: a traceback: {c.err[-1500:]}")
    if c.rc == 75:
        line = f"error: {db} is being written by pid "
        if not writer:
            p.append(f"{c}: a reader exited 75: {c.err[-500:]}")
        elif not (c.err.startswith(line) and c.err.rstrip().endswith(
                "one writer at a time: try again when it has finished")):  # fmt: skip
            p.append(f"{c}: exit 75 without the documented line: {c.err[-500:]!r}")
        elif c.out.strip():
            p.append(f"{c}: exit 75 but printed {c.out[-300:]!r}")
        return p
    if c.signalled and c.rc in (-c.signal, 128 + c.signal):
        if c.rc > 0 and f"error: interrupted by {signal.Signals(c.signal).name}" not in c.err:
            p.append(f"{c}: exit {c.rc} without 'error: interrupted by': {c.err[-500:]!r}")
        if c.kind == "export" and c.rc > 0:
            p += stopped_export_problems(c)
        return p
    if c.rc == 2 and c.kind == "export" and "/shared" in c.args[3]:
        if "holds a different export" not in c.err or c.out:
            p.append(f"{c}: exit 2 without saying why: {c.err[-500:]!r} {c.out[-200:]!r}")
        return p + stopped_export_problems(c)
    if c.rc == 1 and c.kind == "similar" and c.err.startswith(EXPECTED_SIMILAR):
        # no vectors with the cheap stages (or no such page yet): one line, nothing else
        return p + ([f"{c}: exit 1 with {c.out[-300:]!r}"] if c.out else [])
    if c.rc != 0:
        return [*p, f"{c}: exit {c.rc}: {c.err[-1500:]}"]
    return p + ok_problems(c)


def stopped_export_problems(c: Command) -> list[str]:
    """An export stopped before it finished leaves --out as it was (absent here), and nothing
    beside it."""
    out = Path(c.args[c.args.index("--out") + 1])
    left = sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))
    if out.exists() and out.name.startswith("out"):  # its own folder
        left.append(out.name)
    return [f"{c}: stopped, but left {left}"] if left else []


def ok_problems(c: Command) -> list[str]:
    p = []
    said = [line for line in c.err.splitlines() if line.startswith("error")]
    if said:
        p.append(f"{c}: exit 0 but said {said}")
    if c.kind == "import" and not c.out.startswith("imported "):
        p.append(f"{c}: exit 0 without its summary: {c.out[-300:]!r}")
    if c.kind == "process" and "cluster v" not in c.out and "cluster" in c.args + ["cluster"]:
        if "--stage" not in c.args and "stopped" not in c.out:
            p.append(f"{c}: exit 0 without the stages' lines: {c.out[-300:]!r}")
    if c.kind in ("search", "similar", "sql", "sources", "status"):
        try:
            json.loads(c.out)
        except json.JSONDecodeError:
            p.append(f"{c}: exit 0 but its JSON does not parse: {c.out[-300:]!r}")
    if c.kind == "export":
        p += export_problems(c)
    return p


def _rows(path: Path) -> int:
    reader = READERS[path.suffix.lstrip(".")]
    return duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{path}')").fetchone()[0]


def export_problems(c: Command) -> list[str]:
    """An export is one consistent state: the manifest's counts are the files' rows, and a
    narratives export's members belong to its narratives (all of them, unfiltered)."""
    out = Path(c.args[c.args.index("--out") + 1])
    manifest = json.loads((out / "manifest.json").read_text())
    p = []
    if manifest["export"]["kind"] != c.args[1]:
        p.append(f"{c}: said it wrote {out}, which holds {manifest['command']}")
    for f in manifest["files"]:
        if (n := _rows(out / f["name"])) != f["rows"]:
            p.append(f"{c}: {f['name']} has {n} rows, the manifest says {f['rows']}")
    if c.args[1] == "narratives" and "--source" not in c.args:
        fmt = c.args[c.args.index("--format") + 1]
        reader = READERS[fmt]
        got = (
            duckdb.connect()
            .execute(
                f"SELECT (SELECT sum(exported_members) FROM {reader}('{out}/narratives.{fmt}')), "
                f"(SELECT count(*) FROM {reader}('{out}/members.{fmt}'))"
            )
            .fetchone()
        )
        if got[0] != got[1]:
            p.append(f"{c}: narratives count {got[0]} members, members has {got[1]}")
    return p


def runs_problems(s: Schedule) -> list[str]:
    """One `runs` row per writer that got the lock, with the status its exit code says."""
    with connect(s.db, read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, kind, status FROM runs ORDER BY started_at, run_id"
        ).fetchall()
    new = [r for r in rows if r[0] in s.runs_during]
    status = {r[0]: r[2] for r in new}
    p = []
    claimed: set[str] = set()
    # `alerts` logs no run id: its runs are counted
    ok_alerts = sum(1 for c in s.commands if c.kind == "alerts" and c.rc == 0)
    alert_runs = [r for r in new if r[1] == "alerts" and r[2] == "ok"]
    late = sum(1 for c in s.commands if c.kind == "alerts" and c.rc not in (0, 75))
    if not ok_alerts <= len(alert_runs) <= ok_alerts + late:  # late: stopped once recorded
        p.append(f"{len(alert_runs)} alerts runs 'ok', {ok_alerts} alerts commands exited 0")
    claimed.update(r[0] for r in alert_runs)
    for c in s.commands:
        if c.kind not in WRITERS or c.kind in ("alerts", "init"):  # init records no run
            continue
        if c.rc == 75 and c.run_ids:
            p.append(f"{c}: exit 75 but logged runs {c.run_ids}")
        ids = [r for r in c.run_ids if r in status]
        claimed.update(ids)
        if c.rc == 0:
            if len(ids) != 1:
                p.append(f"{c}: exit 0 with runs {c.run_ids} (in the store: {ids})")
            elif status[ids[0]] not in ("ok", "stopped early"):
                p.append(f"{c}: exit 0 but its run is {status[ids[0]]!r}")
        # "abandoned": the signal came while the run's end was being recorded (README
        # "Stopping a run": as SIGKILL would, and the next writer marks it so)
        elif c.rc in (130, 143) and ids and status[ids[0]] not in ("interrupted", "abandoned"):
            p.append(f"{c}: exit {c.rc} but its run is {status[ids[0]]!r}: {c.err[-1500:]}")
    for run_id, kind, state in new:
        if run_id not in claimed and state not in ("interrupted", "abandoned"):
            p.append(f"run {run_id} ({kind}) is {state!r}, and no command that ended logged it")
    with connect(s.db, read_only=True) as con:
        running = con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
    if running:
        p.append(f"runs still 'running' after the last process: {running}")
    might = sum(1 for c in s.commands if c.kind in WRITERS and c.rc not in (0, 75))
    if len(new) - len(claimed) > might:
        p.append(f"{len(new) - len(claimed)} runs no command logged, {might} writers stopped")
    return p


def committed(db: Path, run_ids_: list[str]) -> dict[str, list[str]]:
    """run id -> the stages whose results it committed (stage_state names the run)."""
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, list(DISTINCT stage) FROM stage_state WHERE run_id IN "
            "(SELECT unnest(?)) GROUP BY 1",
            [run_ids_],
        ).fetchall()
    return {r: sorted(stages, key=STAGES.index) for r, stages in rows}


def replay(s: Schedule) -> Path:
    """The successful writers of the schedule, one after another in their commit order, on a
    copy of the starting store: an import as it was (or one whose pages are in the store
    though it was stopped), a process with the stages it committed."""
    ref = s.work / "ref" / "n.duckdb"
    ref.parent.mkdir()
    shutil.copy(s.base, ref)
    with connect(s.db, read_only=True) as con:
        order = con.execute(
            "SELECT run_id, kind, epoch(started_at) FROM runs WHERE run_id IN (SELECT unnest(?)) "
            "ORDER BY started_at, run_id",
            [sorted(s.runs_during)],
        ).fetchall()
        imported = {r[0] for r in con.execute(
            "SELECT DISTINCT run_id FROM document_versions").fetchall()}  # fmt: skip
    stages = committed(s.db, [r for r, *_ in order])
    by_run = {}
    for c in s.commands:
        for r in c.run_ids:
            by_run[r] = c
    unlogged = [c for c in s.commands if c.kind in WRITERS and c.rc not in (0, 75)]
    for run_id, kind, started in order:
        c = by_run.get(run_id)
        if c is None:  # a stopped command's run: the one of its kind running when it started
            c = next((u for u in unlogged if u.kind == kind and not u.run_ids
                      and u.began <= started <= u.ended), None)  # fmt: skip
            if c is not None:
                c.run_ids.append(run_id)
        if c is None:
            continue
        if kind == "import" and (c.rc == 0 or run_id in imported):
            proc = cli(ref, s.config, *c.args)
        elif kind == "process" and stages.get(run_id):
            args = [a for a in c.args if a not in ("--max-duration", "1s", "1m")]
            args = [a for i, a in enumerate(args) if a != "--stage" and args[i - 1] != "--stage"]
            proc = cli(ref, s.config, *args, *[x for n in stages[run_id] for x in ("--stage", n)])
        else:
            continue
        assert proc.returncode == 0, (c, proc.stderr)
    return ref


def final_state(db: Path) -> dict:
    state = canonical_state(db)
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT m.narrative_id, list(d.canonical_url ORDER BY d.canonical_url) "
            "FROM narrative_members m JOIN documents d USING (doc_id) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    state["narrative_ids"] = {str(n): urls for n, urls in rows}
    return state
