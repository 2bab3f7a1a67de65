"""The archived-page view reads WARC files only: a page's WARC pointer is data (a crawler on
another host wrote it), and must not open any other file the dashboard can read."""

from __future__ import annotations

import pytest

from dashboards.archive import read_record


def test_a_pointer_to_a_file_that_is_not_a_warc_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dashboard\n")
    with pytest.raises(ValueError, match="not a WARC file"):
        read_record(str(secret), 0, 10, tmp_path / "narrascope.duckdb")


def test_a_pointer_to_a_warc_file_on_another_host_says_it_is_not_here(tmp_path):
    elsewhere = "/srv/crawl-host/warc/narrascope-run-host-1-ab12cd34-00000.warc.gz"
    with pytest.raises(OSError, match="not a file here"):
        read_record(elsewhere, 0, 10, tmp_path / "narrascope.duckdb")
