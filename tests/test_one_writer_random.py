"""Many commands on one store at once (README "One writer at a time", the exit codes,
"Stopping a run"): a seeded random schedule of overlapping `import`, `process`, `alerts`,
`export`, `search`, `similar`, `sql` and `sources list` processes beside a dashboard, some of
them stopped with SIGTERM, SIGINT or SIGKILL. Every process exits with a code the README
documents for what happened and says so; every export is one consistent state; each writer
that got the lock has one `runs` row with its outcome; and after a last `process` the store
equals the successful writers replayed one after another, in their commit order, on a copy of
the starting store (documents, versions, stage outcomes, rejections, copy groups, narratives
with their ids). tests/support/onewriter.py is the driver,
tests/support/onewriter_checks.py the checks.

One short seed here; NARRASCOPE_RANDOM_SEEDS=N for N seeds (NARRASCOPE_ONEWRITER_COMMANDS
for longer schedules)."""

import os
import random

import pytest

from tests.support.onewriter import CONFIG, Dashboard, Schedule, cli, records, write_jsonl
from tests.support.onewriter_checks import exit_problems, final_state, replay, runs_problems

SEEDS = list(range(1, 1 + int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))))
COMMANDS = int(os.environ.get("NARRASCOPE_ONEWRITER_COMMANDS", "8"))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A small store: every page of the pool, processed by the stages that need no model."""
    work = tmp_path_factory.mktemp("onewriter-base")
    db = work / "base.duckdb"
    config = work / "narrascope.toml"
    config.write_text(CONFIG)
    docs = [d for d in records(random.Random(0), count=12)]
    for args in (("import", str(write_jsonl(work / "base.jsonl", docs))),
                 ("process", "--no-progress")):  # fmt: skip
        proc = cli(db, config, *args)
        assert proc.returncode == 0, proc.stderr
    return db


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", SEEDS)
def test_commands_at_once_keep_one_writer_and_one_state(tmp_path, base, seed):
    s = Schedule(tmp_path, base, seed, commands=COMMANDS)
    with Dashboard(s.db, s.config) as dash:
        s.run()
    log = [f"seed {seed}:", *map(str, s.commands), f"dashboard answers: {dash.answers}"]
    problems = [q for c in s.commands for q in exit_problems(c, s.db)] + dash.problems
    last = cli(s.db, s.config, "process", "--no-progress")
    if last.returncode != 0:
        problems.append(f"the last process exited {last.returncode}: {last.stderr[-1500:]}")
    problems += runs_problems(s)
    ref = replay(s)
    assert cli(ref, s.config, "process", "--no-progress").returncode == 0
    got, want = final_state(s.db), final_state(ref)
    if got != want:
        for key in want:
            if got.get(key) != want[key]:
                problems.append(f"final {key} differs from the replay")
    assert not problems, "\n".join([*log, "", *problems])
    assert got == want
