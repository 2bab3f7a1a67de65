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
