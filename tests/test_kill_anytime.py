"""Unattended runs killed at any moment (README "Running unattended", "Failures, by kind"): a
seeded random sequence of `narrascope run`s against the demo sites, each killed with SIGKILL,
stopped with SIGTERM or SIGINT (once or twice), or joined by a second writer, at a random
moment of its crawl, processing or alerts, until one completes; then the sites change and it
starts again. After each: the store opens, `status` works, nobody holds the writer lock. At
the end the store equals one whose runs were never interrupted: documents, versions, stage
outcomes, copy groups, narratives, crawl state, alerts raised (once each); every stored page's
WARC record is there and the archives import; no killed run is left `running`.

One short seed here (two site states, two runs each); NARRASCOPE_KILL_SEEDS=1,2,3 (and
NARRASCOPE_KILL_EPOCHS, NARRASCOPE_KILL_TRIES, and
NARRASCOPE_KILL_FULL=1 for every stage, models included) for more."""

import os

import pytest

from tests.support.killrun import Drive, Sites, check_final, import_warcs

SEEDS = [int(s) for s in os.environ.get("NARRASCOPE_KILL_SEEDS", "1").split(",")]
EPOCHS = int(os.environ.get("NARRASCOPE_KILL_EPOCHS", "2"))
TRIES = int(os.environ.get("NARRASCOPE_KILL_TRIES", "2"))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", SEEDS)
def test_runs_killed_at_any_moment_end_as_runs_never_interrupted(tmp_path, seed):
    with Sites() as sites:
        drive = Drive(tmp_path, seed, sites.sources_toml())
        for epoch in range(EPOCHS):
            if epoch:
                drive.note(sites.change(drive.rng))
            drive.reference_run()
            drive.epoch(max_tries=TRIES)
        problems = check_final(drive)
        imported = import_warcs(drive)
    # a crawl that got only listings and 304s archived no page: "nothing could be imported"
    unreadable = [line for line in imported.stderr.splitlines()
                  if "nothing could be imported" not in line]  # fmt: skip
    if imported.returncode not in (0, 1) or unreadable or "imported" not in imported.stdout:
        problems.append(f"import of the WARC archives exited {imported.returncode}: "
                        f"{imported.stdout[-1000:]} {imported.stderr[-2000:]}")  # fmt: skip
    assert not problems, "\n".join([f"seed {seed}:", *drive.log, "", *problems])
