"""The units `make test` gives its workers (tests/support/parallel.py) still match the suite:
a renamed file or a new user of a costly fixture would otherwise split a unit silently, and
the fixture would be built on both workers (or two Ray clusters would start at once)."""

from __future__ import annotations

import re

from tests.conftest import ROOT
from tests.support.parallel import FIRST, UNITS, slowest_first, unit_of

THIS = "tests/test_parallel_units.py"
TEST_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py"))

# what makes a file belong with others: a costly session fixture it reads, or a Ray cluster
SHARED_BY = {
    # (directly, or through the dashboard's app and client fixtures built on it)
    "the hostile demo store": r"\bhostile_(db|archived)\b|def test_\w+\((app|client)\b",
    "the extracted evaluation pages": r"\bextracted_eval_pages\b",
    "a local Ray cluster": r"engine.*ray|import ray|\"ray\"",
}


def test_every_file_and_unit_named_exists():
    for path in UNITS:
        assert path in TEST_FILES, f"{path} (in UNITS) is not a test file"
    units = set(UNITS.values())
    for unit in FIRST:
        assert unit in units or unit in TEST_FILES, f"{unit} (in FIRST) is neither"


def test_the_files_sharing_a_costly_resource_run_in_one_unit():
    for what, pattern in SHARED_BY.items():
        users = [
            p for p in TEST_FILES
            if p != THIS and re.search(pattern, (ROOT / p).read_text(encoding="utf-8"))
        ]  # fmt: skip
        assert len(users) >= 2, f"{what}: {users}"
        assert len({unit_of(p) for p in users}) == 1, f"{what} is used in {users}"


def test_the_slowest_units_start_first_and_a_files_tests_stay_in_order():
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    ids = ["tests/storage/test_urls.py::a", "tests/pipeline/test_ray_watch.py::b",
           "tests/storage/test_urls.py::c", "tests/eval/test_similarity_gate.py::d",
           "tests/pipeline/test_ray_engine.py::e"]  # fmt: skip
    items = [Item(i) for i in ids]
    slowest_first(items)
    assert [i.nodeid[-1] for i in items] == ["d", "b", "e", "a", "c"]
