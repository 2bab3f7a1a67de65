"""What a `narrascope run` really did to the store, and everything that reports it: the
summary it prints, its exit code, its log file's records, `v_runs` and `v_source_health`.
``disagreements`` lists where a report says other than the store (tests/test_run_summary_random.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from storage import connect

CRAWL_LINE = re.compile(
    r"^crawl (?P<status>[^:]+): (?P<responses>\d+) responses, (?P<new>\d+) new, "
    r"(?P<changed>\d+) changed, (?P<unchanged>\d+) unchanged \((?P<not_modified>\d+) not "
    r"modified\), (?P<skipped>\d+) skipped as unchanged by their listing, (?P<rejected>\d+) "
    r"rejected$"
)
STAGE_LINE = re.compile(r"^(?P<stage>\w+) v\S+: (?P<done>\d+) done, (?P<rejected>\d+) rejected")
COUNTER = re.compile(r"^(\d+) ([a-z ]+)$")


@dataclass
class Snapshot:
    """The parts of the store a run changes."""

    docs: dict[str, str]  # doc_id -> source
    versions: set[tuple[str, int]]
    rejection_id: int
    narratives: set[int]
    links: set[tuple[str, str]]
    alerts: set[str]
    runs: set[str]

    @classmethod
    def take(cls, db) -> Snapshot:
        if not db.exists():
            return cls({}, set(), 0, set(), set(), set(), set())
        with connect(db, read_only=True) as con:
            q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
            return cls(
                dict(q("SELECT doc_id, source FROM documents")),
                set(q("SELECT doc_id, version FROM document_versions")),
                q("SELECT coalesce(max(rejection_id), 0) FROM rejections")[0][0],
                {n for (n,) in q("SELECT narrative_id FROM narratives")},
                set(q("SELECT doc_id, other_doc_id FROM copy_links")),
                {a for (a,) in q("SELECT alert_id FROM alerts")},
                {r for (r,) in q("SELECT run_id FROM runs")},
            )


def parse_summary(stdout: str) -> dict:
    """The numbers and claims of what `run` printed."""
    out: dict = {"stages": {}, "problems": {}, "rejected_by_reason": {}, "lines": []}
    stage = None
    for line in stdout.splitlines():
        out["lines"].append(line)
        if m := CRAWL_LINE.match(line):
            out["crawl"] = {k: (v if k == "status" else int(v)) for k, v in m.groupdict().items()}
        elif line.startswith("rejected: "):
            for part in line[len("rejected: ") :].split(", "):
                reason, n = part.rsplit(" ", 1)
                out["rejected_by_reason"][reason] = int(n)
        elif m := STAGE_LINE.match(line):
            stage = m["stage"]
            out["stages"][stage] = {"done": int(m["done"]), "rejected": int(m["rejected"])}
        elif line.startswith("    ") and stage:
            for part in line.strip().split(", "):
                if m := COUNTER.match(part):
                    out["stages"][stage][m[2].replace(" ", "_")] = int(m[1])
        elif line.startswith("source needs attention: "):
            name, problem = line[len("source needs attention: ") :].split(": ", 1)
            out["problems"][name] = problem
        elif line.startswith(("crawl stopped early", "processing stopped early")):
            out.setdefault("stopped", []).append(line.split()[0])
        elif line.startswith("run stopped early"):
            out["run_stopped_early"] = True
        else:
            stage = None
    return out


def truth(db, before: Snapshot, after: Snapshot) -> dict:
    """What the run did, from the store alone."""
    new_runs = after.runs - before.runs
    with connect(db, read_only=True) as con:
        runs = {
            kind: (run_id, status, json.loads(summary or "{}"))
            for run_id, kind, status, summary in con.execute(
                "SELECT run_id, kind, status, summary FROM runs WHERE list_contains(?, run_id)",
                [sorted(new_runs)],
            ).fetchall()
        }
        crawl_id = runs.get("crawl", ("",))[0]
        process_id = runs.get("process", ("",))[0]
        rejections = con.execute(
            "SELECT stage, reason, source, run_id FROM rejections WHERE rejection_id > ?",
            [before.rejection_id],
        ).fetchall()
        states = Counter(
            con.execute(
                "SELECT stage, status FROM stage_state WHERE run_id = ?", [process_id]
            ).fetchall()
        )
        health = {
            row[0]: dict(zip([d[0] for d in con.description], row, strict=True))
            for row in con.execute("SELECT * FROM v_source_health").fetchall()
        }
        v_runs = {
            kind: dict(zip([d[0] for d in con.description], row, strict=True))
            for row in con.execute(
                "SELECT * FROM v_runs WHERE list_contains(?, run_id)", [sorted(new_runs)]
            ).fetchall()
            for kind in [row[1]]
        }
        # documents this run's dedup stage found to be copies: their links are written anew
        copies = con.execute(
            "SELECT count(DISTINCT l.doc_id) FROM copy_links l JOIN runs r ON r.run_id = ? "
            "WHERE l.found_at BETWEEN r.started_at AND r.finished_at AND l.doc_id IN ("
            "SELECT doc_id FROM stage_state WHERE stage = 'dedup' AND run_id = ?)",
            [process_id, process_id],
        ).fetchone()[0]
        alerts = con.execute(
            "SELECT alert_id, delivered_to FROM alerts WHERE list_contains(?, run_id)",
            [sorted(new_runs)],
        ).fetchall()
    added = after.versions - before.versions
    new_docs = {d for d, _ in added if d not in before.docs}
    changed = [d for d, _ in added if d in before.docs]
    crawl_rejections = [r for r in rejections if r[3] == crawl_id and r[0] in ("crawl", "store")]
    return {
        "runs": runs,
        "v_runs": v_runs,
        "health": health,
        "new": len(new_docs),
        "changed": len(changed),
        "by_source": Counter(after.docs[d] for d, _ in added),
        "new_by_source": Counter(after.docs[d] for d in new_docs),
        "crawl_rejected": len(crawl_rejections),
        "crawl_rejected_by_reason": dict(Counter(r[1] for r in crawl_rejections)),
        "crawl_rejected_by_source": Counter(r[2] for r in crawl_rejections),
        "stage_done": {s: n for (s, st), n in states.items() if st == "done"},
        "stage_rejected": {s: n for (s, st), n in states.items() if st == "rejected"},
        "stage_rejections": Counter(r[0] for r in rejections if r[3] == process_id),
        "copies": copies,
        "copies_linked_anew": len({d for d, _ in after.links - before.links}),
        "narratives_new": len(after.narratives - before.narratives),
        "alerts": alerts,
    }


def disagreements(printed: dict, rc: int, t: dict, log_records: list[dict]) -> list[str]:
    """Every number and claim of the reports that the store does not bear out."""
    wrong: list[str] = []

    def same(what: str, said, real) -> None:
        if said != real:
            wrong.append(f"{what}: says {said!r}, the store {real!r}")

    runs, v_runs = t["runs"], t["v_runs"]
    crawl = runs.get("crawl")
    if crawl is None:
        return ["no crawl run recorded"]
    _, crawl_status, crawl_summary = crawl
    said = printed.get("crawl")
    if said is None:
        return [f"no crawl line in {printed['lines']}"]
    same("crawl status", said["status"], crawl_status)
    same("crawl new", said["new"], t["new"])
    same("crawl changed", said["changed"], t["changed"])
    same("crawl rejected", said["rejected"], t["crawl_rejected"])
    same("crawl rejected by reason", printed["rejected_by_reason"], t["crawl_rejected_by_reason"])
    if "served" in t:  # the statuses the sites answered (a hostile server's are no response)
        same("crawl responses", said["responses"], len(t["served"]))
        same("crawl not modified", said["not_modified"], t["served"].count(304))
    stopped = {k for k, (_, status, _) in runs.items() if status == "stopped early"}
    same("phases said to stop early", sorted(printed.get("stopped", [])), sorted(
        {"crawl": "crawl", "process": "processing"}[k] for k in stopped))  # fmt: skip
    same("run said to stop early", printed.get("run_stopped_early", False), bool(stopped))
    row = v_runs["crawl"]
    for key in ("new", "changed", "rejected", "responses", "unchanged", "not_modified"):
        same(f"v_runs crawl {key}", row[key], said[key])
    # exit codes (README): 1 and a failed run for a failure; 0 otherwise
    failed = [k for k, (_, status, _) in runs.items() if status == "failed" and k != "alerts"]
    same("exit code", rc, 1 if failed else 0)
    # processing
    process = runs.get("process")
    if process is not None:
        row = v_runs["process"]
        for stage, counts in printed["stages"].items():
            same(f"{stage} done", counts["done"], t["stage_done"].get(stage, 0))
            same(f"{stage} rejected", counts["rejected"], t["stage_rejected"].get(stage, 0))
            if f"{stage}_done" in row:
                same(f"v_runs {stage}_done", row[f"{stage}_done"], counts["done"])
                same(f"v_runs {stage}_rejected", row[f"{stage}_rejected"], counts["rejected"])
        dedup = printed["stages"].get("dedup", {})
        copies = sum(n for k, n in dedup.items() if k.endswith("copies_of_earlier_documents"))
        if "dedup" in printed["stages"]:
            same("copies found", copies, t["copies"])
            if copies < t["copies_linked_anew"]:  # a document not counted that was linked
                wrong.append(f"copies found: says {copies}, yet {t['copies_linked_anew']} "
                             "documents have a new copy link")  # fmt: skip
            same("v_runs copies_found", row["copies_found"], copies)
        if "cluster" in printed["stages"]:
            said_new = printed["stages"]["cluster"].get("narrative_new", 0)
            same("narratives new", said_new, t["narratives_new"])
            same("v_runs narratives_new", row["narratives_new"], said_new)
    # sources: the health of this crawl, and the problems printed
    crawl_id = crawl[0]
    for name, h in t["health"].items():
        if h["run_id"] != crawl_id:
            continue
        same(f"health {name} new", h["new"], t["new_by_source"].get(name, 0))
        same(f"health {name} changed", h["changed"], t["by_source"].get(name, 0)
             - t["new_by_source"].get(name, 0))  # fmt: skip
        same(f"health {name} stored", h["stored"], t["by_source"].get(name, 0))
        same(f"health {name} rejected", h["rejected"], t["crawl_rejected_by_source"].get(name, 0))
    # of the sources this crawl read (a source dropped from the file keeps its old health)
    problems = {n: h["problem"] for n, h in t["health"].items()
                if h["problem"] and h["run_id"] == crawl_id}  # fmt: skip
    same("sources needing attention", printed["problems"], problems)
    # the log file: the same summaries as the runs table
    records = {r.get("event"): r for r in log_records}
    if "crawl" in records:
        logged = {k: v for k, v in records["crawl"]["summary"].items()
                  if k not in ("run_id", "status")}  # fmt: skip
        same("logged crawl summary", logged, crawl_summary)
    if process is not None and "process" in records:
        same("logged process summary", records["process"]["summary"], process[2])
    logged_problems = {r["source"]: r["problem"] for r in log_records
                       if r.get("event") == "source_problem"}  # fmt: skip
    same("logged source problems", logged_problems, problems)
    if rc:
        same("logged error record", records.get("error", {}).get("exit_code"), rc)
    # alerts: every alert raised was printed, once
    if t["alerts"]:
        shown = sum(1 for line in printed["lines"] if line.startswith(("burst ", "new_narrative ",
                                                                     "machine_written ")))  # fmt: skip
        same("alerts printed", shown, len(t["alerts"]))
    return wrong
