"""Run records (storage/runs.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("status", ["ok", "stopped early"])
def test_a_run_whose_end_cannot_be_recorded_fails(tmp_path, monkeypatch, status):
    """A run that did not fail on its own must not pass for done when its end was not
    recorded: the error surfaces (a failed block's own error is what surfaces instead)."""
    import storage.runs as runs

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "finish_run", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        with runs.recorded_run(tmp_path / "r.duckdb", "crawl") as run:
            run.status = status


def test_v_runs_counts_no_narrative_formed_as_zero(tmp_path):
    """A process run (as `process` records one) whose cluster stage put its document into an
    existing narrative formed none: `narratives_new` is 0, as `copies_found` is 0 for a run
    that found no copy; it was NULL, "not reported by this kind of run" (a cron run's
    randomized check, tests/test_run_summary_random.py)."""
    from pipeline.runner import run_stages
    from storage import connect
    from storage.documents import store_pages
    from storage.runs import recorded_run
    from tests.pipeline.test_dedup import ARTICLE, EDITED, page
    from tests.pipeline.test_incremental_invariants import stages

    db = tmp_path / "n.duckdb"
    for i, (url, text) in enumerate([("https://x.example/a", ARTICLE),
                                     ("https://y.example/b", EDITED)]):  # fmt: skip
        with connect(db) as con:
            store_pages(con, [page(url, text, i)])
        with recorded_run(db, "process") as run:
            report = run_stages(db, stages(cluster=True), batch_size=4, run_id=run.run_id)
            run.summary.update(report.as_dict())
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT cluster_done, copies_found, narratives_new FROM v_runs ORDER BY started_at"
        ).fetchall()
    assert rows == [(1, 0, 1), (1, 1, 0)]
