"""Pages requested at the same time, as a browser's tabs or two analysts do: the server runs
each in its own thread, each with its own read-only connection to the file."""

from __future__ import annotations

import threading
from collections import Counter

from tests.dashboards.conftest import LOCAL


def test_pages_requested_at_once_all_answer(app):
    """Two requests opening the file at once made DuckDB lose its Arrow scan: 500 "Something
    went wrong" on roughly one request in ten (Catalog Error: python_arrow_scan)."""
    from starlette.testclient import TestClient

    answers: Counter[int] = Counter()

    def browse() -> None:
        with TestClient(app, base_url=LOCAL) as c:
            for _ in range(15):
                for path in ("/sources", "/narratives"):
                    answers[c.get(path).status_code] += 1

    tabs = [threading.Thread(target=browse) for _ in range(4)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    assert answers == Counter({200: 120}), answers
