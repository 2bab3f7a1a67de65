"""A seeded, randomized driver of unattended `narrascope run`s that get killed.

The demo sites are served here (re-dated so that alerts fire), and two stores follow the same
sequence of site states ("epochs"): a reference that runs once per epoch, never interrupted,
and a store whose runs get SIGKILL, SIGTERM, SIGINT, a second signal, or a second writer
beside them, at random moments, until one run completes. Then the sites change and the next
epoch begins. ``check_final`` compares the two stores as a user would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawlers.demo.server import SITES, DemoSites, build_site
from storage import connect
from storage.lock import holder
from tests.conftest import ROOT, cli_env

CONFIG = """[crawl]
download_delay = 0
autothrottle = false
concurrent_per_domain = 1
concurrent_requests = 1  # one page at a time: the documents are first seen in one order, as the
                         # narratives (one greedy pass in that order) need for a comparison
timeout = 5
write_batch = 4
write_seconds = 0.3
[pipeline]
batch_size = 6
"""
# no model to load: the stages that run in seconds (NARRASCOPE_KILL_FULL=1: every stage)
CHEAP = """stages = ["extract", "langid", "signals", "dedup", "cluster"]
[dedup]
translated = false
[cluster]
vectors = "words"
[alerts]
new_min_sites = 2
new_min_languages = 2
"""


def start(db: Path, config: Path, *args: str) -> subprocess.Popen:
    """The CLI in a process group of its own, to be signalled."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1"), start_new_session=True,
    )  # fmt: skip


def cli(db: Path, config: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = start(db, config, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class Sites(DemoSites):
    """The demo sites, dated in the last day (so that new narratives are news), with pages
    that can be changed between runs."""

    def __init__(self):
        super().__init__()
        now = datetime.now(UTC).replace(microsecond=0)
        order = sorted(range(len(self.articles)), key=lambda i: self.articles[i]["date"])
        for rank, i in enumerate(order):
            when = now - timedelta(hours=20) + timedelta(minutes=10 * rank)
            self.articles[i]["date"] = when.isoformat()

    def rebuild(self) -> None:
        bases = {s: self.urls[SITES[s]["source"]].rstrip("/") for s in SITES}
        for site, server in self.servers.items():
            handler = server.RequestHandlerClass
            handler.routes, handler.wp_posts = build_site(
                site, bases[site], self.articles, mirror=bases["mirror"]
            )

    def change(self, rng: random.Random) -> str:
        """A new version of one article (its date moved on, as a site's edit does) and a new
        copy of another, on a random site."""
        now = datetime.now(UTC).replace(microsecond=0)
        edited = rng.choice(self.articles)
        edited["body"] = edited["body"].rstrip() + "\n\nUpdate: this article was edited."
        edited["date"] = (now - timedelta(minutes=5)).isoformat()
        original = rng.choice([a for a in self.articles if "copy_of" not in a])
        site = rng.choice(list(SITES))
        copy = {**original, "site": site, "slug": f"{original['slug']}-copy-{len(self.articles)}",
                "date": (now - timedelta(minutes=3)).isoformat()}  # fmt: skip
        copy.pop("copy_of", None)
        self.articles.append(copy)
        self.rebuild()
        return f"edited {edited['slug']}, copied {original['slug']} to {site}"


@dataclass
class Attempt:
    """One command started in the interrupted store, and what was done to it."""

    action: str
    delay: float
    phase: str = "crawl"
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    started: float = 0.0
    ended: float = 0.0
    notes: list = field(default_factory=list)


def runs(db: Path) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT run_id, kind, status, started_at FROM runs ORDER BY started_at, run_id"
        ).fetchall()


PHASES = ["crawl", "crawl", "process", "process", "alerts"]
ACTIONS = ["kill", "kill", "kill", "kill", "term", "int", "term-twice", "kill-twice",
           "second-run", "second-process", "complete"]  # fmt: skip


class Drive:
    def __init__(self, work: Path, seed: int, sources_text: str):
        self.rng = random.Random(seed)
        self.seed = seed
        self.work = work
        self.log: list[str] = []
        self.attempts: list[Attempt] = []
        for name in ("ref", "int"):
            (work / name).mkdir(parents=True, exist_ok=True)
        self.ref, self.int = work / "ref" / "n.duckdb", work / "int" / "n.duckdb"
        self.config = work / "narrascope.toml"
        full = os.environ.get("NARRASCOPE_KILL_FULL") == "1"
        self.config.write_text(CONFIG + ("" if full else CHEAP))
        self.sources = work / "sources.toml"
        self.sources.write_text(sources_text)
        self.run_args = ("run", "--sources", str(self.sources), "--max-duration", "30m")
        self.took = 20.0  # an uninterrupted run's seconds, measured on the reference
        self.ref_alert_lines: list[str] = []
        self.int_alert_lines: list[str] = []
        self.killed_alert_lines: list[str] = []  # those printed by attempts killed with -9

    def note(self, text: str) -> None:
        self.log.append(text)

    def reference_run(self) -> None:
        began = time.monotonic()
        proc = cli(self.ref, self.config, *self.run_args)
        assert proc.returncode == 0, proc.stderr
        self.took = max(3.0, time.monotonic() - began)
        self.ref_alert_lines += alert_lines(proc.stdout)

    def epoch(self, max_tries: int = 6, plan: list | None = None) -> None:
        """Interrupted runs until one completes (forced on the last try); ``plan``: the
        (action, phase) of each try instead of random ones."""
        for attempt_no in range(len(plan) if plan else max_tries):
            action, phase = plan[attempt_no] if plan else (self.rng.choice(ACTIONS), None)
            if attempt_no == (len(plan) if plan else max_tries) - 1:
                action = "complete"
            a = self.attempt(action, phase)
            self.note(f"{action} {a.phase}+{a.delay}s -> {a.returncode} {' '.join(a.notes)}")
            self.after(a)
            if a.returncode == 0:
                return

    def attempt(self, action: str, phase: str | None = None) -> Attempt:
        """``action`` at a random moment of a random phase: from the start (the crawl), from
        the crawl's summary line (processing), or from the last stage's line (alerts)."""
        phase = phase or self.rng.choice(PHASES)
        delay = round(self.rng.uniform(0.0, 0.6) if phase == "alerts" else
                      self.rng.uniform(0.2, self.took * (0.6 if phase == "crawl" else 0.5)), 2)  # fmt: skip
        a = Attempt(action, delay, phase=phase, started=time.time())
        proc = start(self.int, self.config, *self.run_args)
        lines: list[str] = []
        reached = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if (phase == "process" and line.startswith("crawl ")) or (
                    phase == "alerts" and line.startswith(("cluster v", "cluster: "))
                ):
                    reached.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if phase != "crawl":
            reached.wait(120)
        if action != "complete":
            time.sleep(delay)
        if action.startswith("second-") and proc.poll() is None:
            what = ("process", "--no-progress") if action == "second-process" else self.run_args
            before = holder(self.int)
            second = cli(self.int, self.config, *what, timeout=120)
            a.notes.append(f"second writer {second.returncode}")
            if before is not None and proc.poll() is None:
                assert second.returncode == 75, (action, second.returncode, second.stderr)
                assert f"being written by pid {proc.pid} " in second.stderr, second.stderr
                assert not second.stdout, second.stdout
        elif action in ("kill", "kill-twice"):
            os.killpg(proc.pid, signal.SIGKILL)
        elif action in ("term", "int", "term-twice"):
            sig = signal.SIGINT if action == "int" else signal.SIGTERM
            os.killpg(proc.pid, sig)
            if action == "term-twice":
                time.sleep(self.rng.uniform(0.0, 0.5))
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            a.notes.append("HUNG")
        reader.join(10)
        a.stdout, a.stderr = "".join(lines), proc.stderr.read()
        a.returncode = proc.returncode
        a.ended = time.time()
        self.int_alert_lines += alert_lines(a.stdout)
        if a.returncode == -signal.SIGKILL:  # printed, perhaps not yet marked delivered
            self.killed_alert_lines += alert_lines(a.stdout)
        self.attempts.append(a)
        if action == "kill-twice" and a.returncode != 0:  # the next one killed soon too
            b = self.attempt("kill", "crawl")
            a.notes.append(f"then killed again after {b.delay}s -> {b.returncode}")
        return a

    def after(self, a: Attempt) -> None:
        """After any attempt: the store opens, `status` works, no writer holds the lock."""
        allowed = {0, -signal.SIGKILL, 130, 143}
        # a stop signal before the command holds the writer lock (Python starting) or after
        # it let go (the run recorded): Python's own handling, nothing to clean up
        allowed |= {-signal.SIGTERM, -signal.SIGINT}
        if a.action.startswith("second-"):  # the second writer took the lock first
            allowed.add(75)
        assert a.returncode in allowed, (a.action, a.phase, a.delay, a.returncode,
                                         a.stdout[-500:], a.stderr[-3000:])  # fmt: skip
        startup = a.returncode == -signal.SIGINT and a.stderr.rstrip().endswith("KeyboardInterrupt")
        assert "Traceback" not in a.stderr or startup, a.stderr[-3000:]
        assert holder(self.int) is None
        if not self.int.exists():  # stopped before it created the store
            return
        status = cli(self.int, self.config, "status", "--format", "json", timeout=120)
        assert status.returncode == 0, status.stderr
        json.loads(status.stdout)


def alert_lines(stdout: str) -> list[str]:
    """Alert rows printed by `run` (the alerts table's rows)."""
    return [line for line in stdout.splitlines()
            if line.split(" ", 1)[0].strip("│| ") in ("burst", "new_narrative", "machine_written")]  # fmt: skip


def crawl_states(db: Path) -> dict:
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT url, source, kind, content_hash FROM crawl_state ORDER BY url"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def alerts_by_members(db: Path) -> list[tuple]:
    """Each alert raised, as (kind, its narrative's member URLs now, or the source), and
    whether it was delivered."""
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT a.kind, a.subject, a.delivered_at IS NOT NULL, "
            "coalesce(al.narrative_id::VARCHAR, a.subject) FROM alerts a "
            "LEFT JOIN narrative_aliases al ON a.kind <> 'machine_written' "
            "AND al.alias_id::VARCHAR = a.subject"
        ).fetchall()
        members = dict(con.execute(
            "SELECT m.narrative_id::VARCHAR, list(d.canonical_url ORDER BY d.canonical_url) "
            "FROM narrative_members m JOIN documents d USING (doc_id) GROUP BY 1"
        ).fetchall())  # fmt: skip
    return sorted(
        (kind, tuple(members.get(now, [f"gone:{subject}"])) if kind != "machine_written"
         else subject, delivered)
        for kind, subject, delivered, now in rows
    )  # fmt: skip


def warc_problems(db: Path) -> list[str]:
    """Stored versions whose WARC record is missing or cut short (a page read from a listing,
    a WordPress API page or a channel's, points at the listing's record)."""
    from warcio.archiveiterator import ArchiveIterator

    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT v.url, p.warc_file, p.warc_offset, p.warc_length FROM page_meta p "
            "JOIN document_versions v USING (doc_id, version) WHERE p.warc_file IS NOT NULL"
        ).fetchall()
    problems = []
    for url, file, offset, length in rows:
        path = Path(file)
        if not path.exists() or path.stat().st_size < offset + length:
            problems.append(f"{url}: {file} missing or shorter than {offset + length}")
            continue
        with open(path, "rb") as handle:
            handle.seek(offset)
            records = ArchiveIterator(handle)
            record = next(iter(records), None)
            body = record.content_stream().read() if record else b""
            records.read_to_end()
            if record is None or not body or records.get_record_length() != length:
                problems.append(f"{url}: the record at {file}:{offset} does not read whole")
    return problems


def check_final(drive: Drive) -> list[str]:
    """What differs from the reference, or is wrong in the interrupted store, as lines."""
    from tests.support.canonical import canonical_state

    problems = []
    ref, got = canonical_state(drive.ref), canonical_state(drive.int)
    for key in ("copy_groups", "narratives"):
        if ref[key] != got[key]:
            problems.append(f"{key} differ: reference {ref[key]} interrupted {got[key]}")
    for url in sorted(set(ref["documents"]) | set(got["documents"])):
        a, b = ref["documents"].get(url), got["documents"].get(url)
        if a != b:
            diff = {k: (a and a.get(k), b and b.get(k)) for k in (a or b)
                    if (a or {}).get(k) != (b or {}).get(k)}  # fmt: skip
            problems.append(f"document {url} differs (reference, interrupted): {diff}")
    ref_cs, got_cs = crawl_states(drive.ref), crawl_states(drive.int)
    for url in sorted(set(ref_cs) | set(got_cs)):
        if ref_cs.get(url) != got_cs.get(url):
            problems.append(f"crawl_state {url}: reference {ref_cs.get(url)} "
                            f"interrupted {got_cs.get(url)}")  # fmt: skip
    problems += [f"warc: {p}" for p in warc_problems(drive.int)]
    ref_alerts, got_alerts = alerts_by_members(drive.ref), alerts_by_members(drive.int)
    if ref_alerts != got_alerts:
        problems.append(f"alerts differ: reference {ref_alerts} interrupted {got_alerts}")
    # every alert printed, once; again only after a kill -9 that may have come between its
    # printing and its marking as delivered (README, "Reported once": at least once)
    printed, again = Counter(drive.int_alert_lines), Counter(drive.killed_alert_lines)
    twice = [line for line, n in printed.items() if n > 1 + again[line]]
    if twice or len(printed) != len(drive.ref_alert_lines):
        problems.append(f"alert lines printed: reference {len(drive.ref_alert_lines)}, "
                        f"interrupted {printed.total()} ({len(printed)} distinct, "
                        f"{len(twice)} again without a kill between)")  # fmt: skip
    problems += run_problems(drive)
    return problems


def run_problems(drive: Drive) -> list[str]:
    problems = []
    rows = runs(drive.int)
    for run_id, kind, status, _ in rows:
        if status == "running":
            problems.append(f"run {run_id} ({kind}) still 'running' after the sequence")
    for a in drive.attempts:
        mine = [(kind, status) for _, kind, status, started in rows
                if a.started <= started.timestamp() <= a.ended]  # fmt: skip
        if a.returncode == -signal.SIGKILL:
            # a phase it finished is 'ok' (killed after its process run: crawl and process ok)
            wrong = [r for r in mine if r[1] not in ("ok", "abandoned", "stopped early")]
        elif a.returncode in (130, 143, -signal.SIGTERM, -signal.SIGINT):
            # recorded as stopped, or the signal came before or after the command's work
            stopped = mine and mine[-1][1] in ("interrupted", "abandoned")
            whole = all(r[1] == "ok" for r in mine)
            # (nothing recorded: the signal came before the crawl's run began)
            wrong = [] if stopped or not mine or (a.returncode < 0 and whole) else [("last", mine)]
        else:
            wrong = [r for r in mine if r[1] != "ok"]
        if wrong:
            problems.append(f"runs of attempt {a.action}@{a.delay}s exit {a.returncode}: "
                            f"{mine} ({wrong})")  # fmt: skip
    return problems


def import_warcs(drive: Drive) -> subprocess.CompletedProcess:
    files = sorted(str(p) for p in (drive.int.parent / "warc").glob("*.warc.gz"))
    return cli(drive.work / "imported.duckdb", drive.config, "import", *files)
