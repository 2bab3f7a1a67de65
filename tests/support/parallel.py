"""How `make test` splits the suite between its two pytest-xdist workers.

A worker runs whole units: a test file, or the files named together in ``UNITS`` because they
share a session fixture too dear to build twice (the demo store with the hostile page processed,
the 314 extracted evaluation pages) or a resource that one test at a time must own (a local Ray
cluster). The slowest units (``FIRST``) start first, so the run does not end on one worker
finishing the similarity gate while the other idles.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

# test file -> the unit it runs in (any other file is a unit of its own)
UNITS = {
    "tests/dashboards/test_browser.py": "dashboards: the hostile demo store",
    "tests/dashboards/test_pages.py": "dashboards: the hostile demo store",
    "tests/dashboards/test_parallel.py": "dashboards: the hostile demo store",
    "tests/dashboards/test_past_the_end.py": "dashboards: the hostile demo store",
    "tests/eval/test_signals_gate.py": "eval: the extracted evaluation pages",
    "tests/eval/test_notnews_gate.py": "eval: the extracted evaluation pages",
    "tests/eval/test_stubvectors_gate.py": "eval: the extracted evaluation pages",
    "tests/pipeline/test_ray_engine.py": "ray: one local cluster at a time",
    "tests/pipeline/test_ray_watch.py": "ray: one local cluster at a time",
    "tests/test_interrupt.py": "ray: one local cluster at a time",  # SIGTERM on the Ray engine
}

# the units that take longest (`make test`'s --durations), started first, slowest first
FIRST = [
    "tests/eval/test_similarity_gate.py",
    "ray: one local cluster at a time",
    "dashboards: the hostile demo store",
    "eval: the extracted evaluation pages",
    "tests/test_demo.py",
]


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return UNITS.get(path, path)


def slowest_first(items: list) -> None:
    """Reorder collected items (in place, stable) so that the ``FIRST`` units lead."""
    rank = {unit: i for i, unit in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(unit_of(item.nodeid), len(FIRST)))


class UnitScheduling(LoadScopeScheduling):
    """xdist's --dist loadfile, with ``UNITS`` as scopes and the collection's order kept
    (xdist would otherwise put the units with the most tests first, not the slowest)."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
