"""A seeded, randomized driver of many CLI commands on one store at once (README "One writer
at a time", the exit codes, "Stopping a run").

A small store (imported pages, processed by the stages that need no model) gets a random
schedule of overlapping commands, each its own process started at a random offset: `import`
of small JSON Lines files (overlapping URLs, changed texts), `process` (random stages,
`--limit`, `--max-duration`), `alerts`, `export`, `search`, `similar`, `sql`, `sources list`,
while a `dashboard` serves pages; now and then a writer gets SIGTERM, SIGINT or SIGKILL at a
random moment. tests/support/onewriter_checks.py then says what a user would notice.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from storage import connect
from tests.conftest import ROOT, cli_env
from tests.support.killrun import CHEAP

# the stages that need no model, as the kill-anytime check runs them
CONFIG = "[pipeline]\nbatch_size = 64\n" + CHEAP
STAGES = ["extract", "langid", "signals", "dedup", "cluster"]
TOPICS = [
    ("grain", "Grain exports from the Black Sea ports fell again as sanctions on fertiliser "
     "shipments kept buyers in Africa waiting for wheat deliveries and prices climbed."),
    ("energy", "German factories pay more for gas than a year ago; the federal government "
     "promised help to the energy intensive chemical industry moving production abroad."),
    ("labs", "Officials denied that the laboratories near the border studied dangerous "
     "pathogens, while activists demanded the classified documents be made public."),
    ("ceasefire", "Diplomats in Brussels discussed a ceasefire plan and the alliance capitals "
     "disagreed about troops, guarantees and the timetable for peace talks this winter."),
]  # fmt: skip
FILLER = ("Reporters spoke to residents, traders and local officials about the week ahead. "
          "Several of them said the situation changed faster than anyone expected. ")  # fmt: skip


def page(topic: int, variant: int, n: int) -> str:
    name, lead = TOPICS[topic]
    extra = "" if variant == 0 else f" An update added on revision {variant}: {name} again."
    return f"{lead} {FILLER * 2}Item {n} of the {name} coverage.{extra}"


def records(rng: random.Random, pool: int = 8, count: int = 3) -> list[dict]:
    """A few pages of a small pool of URLs: some the same, some with a changed text, some an
    exact copy of another under a new address."""
    out = []
    for _ in range(rng.randint(1, count)):
        n = rng.randrange(pool)
        text = page(n % len(TOPICS), rng.choice([0, 0, 1, 2]), n)
        url = f"https://site{n % 3}.test/news/{n}"
        if rng.random() < 0.2:
            url = f"https://copies.test/{n}-{rng.randrange(3)}"
        out.append({"url": url, "title": f"Story {n}", "text": text,
                    "published_at": "2026-12-01T10:00:00Z", "source": f"site{n % 3}"})  # fmt: skip
    return out


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def start(db: Path, config: Path, args: list[str], log: Path | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", str(config)]
    if log is not None:
        cmd += ["--log-file", str(log), "--log-format", "json"]
    return subprocess.Popen(
        cmd + args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1"), start_new_session=True,
    )  # fmt: skip


def cli(db: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    proc = start(db, config, list(args))
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


WRITERS = {"import", "process", "alerts", "init"}


@dataclass
class Command:
    kind: str
    args: list[str]
    offset: float
    signal: int | None = None
    signal_after: float = 0.0
    rc: int | None = None
    out: str = ""
    err: str = ""
    signalled: bool = False
    began: float = 0.0  # wall clock, to tell which stopped command a run was
    ended: float = 0.0
    run_ids: list = field(default_factory=list)
    log: Path | None = None

    def __str__(self) -> str:
        sig = f" {signal.Signals(self.signal).name}+{self.signal_after}s" if self.signal else ""
        return f"+{self.offset}s {self.kind} {' '.join(self.args[1:])}{sig} -> {self.rc}"


class Schedule:
    def __init__(self, work: Path, base: Path, seed: int, commands: int = 8):
        self.rng = random.Random(seed)
        self.work, self.base, self.seed = work, base, seed
        self.db = work / "live" / "n.duckdb"
        self.db.parent.mkdir(parents=True)
        shutil.copy(base, self.db)
        self.config = work / "narrascope.toml"
        self.config.write_text(CONFIG)
        self.commands = [self.command(i) for i in range(commands)]
        self.pages: list[tuple[str, int]] = []
        self.runs_before = run_ids(self.db)

    def command(self, i: int) -> Command:
        rng = self.rng
        kind = rng.choice(["import", "import", "process", "process", "alerts", "export",
                           "export", "search", "similar", "sql", "sources", "status", "init"])  # fmt: skip
        offset = round(rng.uniform(0, 3.0), 2)
        if kind == "import":
            files = [str(write_jsonl(self.work / f"in{i}-{k}.jsonl", records(rng)))
                     for k in range(rng.randint(1, 2))]  # fmt: skip
            args = ["import", *files]
        elif kind == "process":
            args = ["process", "--no-progress"]
            if rng.random() < 0.4:
                for name in rng.sample(STAGES, rng.randint(1, 3)):
                    args += ["--stage", name]
            if rng.random() < 0.3:
                args += ["--limit", str(rng.choice([1, 2, 5]))]
            if rng.random() < 0.3:
                args += ["--max-duration", rng.choice(["1s", "1m"])]
        elif kind == "alerts":
            args = ["alerts", "--format", rng.choice(["table", "json"])]
        elif kind == "export":
            # some share a folder: the same export replaces it, another is refused (exit 2)
            out = f"out{i}" if rng.random() < 0.6 else f"shared{rng.randrange(2)}"
            args = ["export", rng.choice(["narratives", "documents", "copies"]),
                    "--out", str(self.work / out),
                    "--format", rng.choice(["csv", "jsonl", "parquet"])]  # fmt: skip
            if rng.random() < 0.3:
                args += ["--source", f"site{rng.randrange(3)}"]
        elif kind == "search":
            args = ["search", rng.choice(TOPICS)[0], "--format", "json"]
        elif kind == "similar":
            args = ["similar", f"https://site0.test/news/{rng.choice([0, 3, 6])}",
                    "--format", "json"]  # fmt: skip
        elif kind == "status":
            args = ["status", "--format", "json"]
        elif kind == "init":
            args = ["init"]
        elif kind == "sql":
            args = ["sql", rng.choice(SQL), "--format", "json"]
        else:
            args = ["sources", "list", "--format", "json"]
        cmd = Command(kind, args, offset, log=self.work / f"log{i}.jsonl")
        if kind in WRITERS | {"export"} and rng.random() < 0.3:
            cmd.signal = rng.choice([signal.SIGTERM, signal.SIGTERM, signal.SIGINT,
                                     signal.SIGKILL])  # fmt: skip
            cmd.signal_after = round(rng.uniform(0.3, 4.0), 2)
        return cmd

    def run(self) -> None:
        threads = [threading.Thread(target=self._one, args=(c,)) for c in self.commands]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.runs_during = run_ids(self.db) - self.runs_before

    def _one(self, c: Command) -> None:
        time.sleep(c.offset)
        c.began = time.time()
        proc = start(self.db, self.config, c.args, c.log)
        if c.signal:
            try:
                proc.wait(timeout=c.signal_after)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, c.signal)
                c.signalled = True
        c.out, c.err = proc.communicate(timeout=300)
        c.rc, c.ended = proc.returncode, time.time()
        if c.log.exists():
            c.run_ids = [json.loads(line).get("run_id") for line in c.log.read_text().splitlines()
                         if json.loads(line).get("event") in ("import", "process", "alerts")]  # fmt: skip


SQL = [
    "SELECT count(*) AS n FROM documents",
    "SELECT narrative_id, count(*) AS n FROM narrative_members GROUP BY 1 ORDER BY 1",
    "SELECT kind, status, count(*) AS n FROM runs GROUP BY ALL ORDER BY ALL",
]


def run_ids(db: Path) -> set[str]:
    with connect(db, read_only=True) as con:
        return {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """`narrascope dashboard` on a free port, asked for pages in a loop while the schedule
    runs: each answer is the page or the "being updated" notice (503), never an error."""

    PATHS = ["/", "/narratives", "/sources", "/search?q=grain", "/narratives/1"]

    def __init__(self, db: Path, config: Path):
        self.port = free_port()
        self.proc = start(db, config, ["dashboard", "--port", str(self.port)])
        self.problems: list[str] = []
        self.answers = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/sources", timeout=30)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        self.thread.start()
        return self

    def _loop(self) -> None:
        i = 0
        while not self.stop.is_set():
            path = self.PATHS[i % len(self.PATHS)]
            i += 1
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                            timeout=60) as r:  # fmt: skip
                    body, code = r.read().decode(), r.status
            except urllib.error.HTTPError as err:
                body, code = err.read().decode(), err.code
            except (urllib.error.URLError, ConnectionError) as err:
                self.problems.append(f"dashboard {path}: {err}")
                return
            self.answers += 1
            notice = code == 503 and "being updated" in body
            if "Traceback" in body or not (code == 200 or notice or code == 404):
                self.problems.append(f"dashboard {path}: {code} {body[:300]!r}")

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(120)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=60)
