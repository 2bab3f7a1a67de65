"""Time every SQL statement a stage run sends to DuckDB, per read-write open of the file.

The runner opens the file read-write once a batch (its write, then the next batch's reads),
so "per open" is "per batch" (a batch's reads count in the previous batch's open, so the
last quarter of a short run shows no reads). Each statement is timed with the fetch of its result, and the
close of the file (DuckDB's checkpoint) as one more line. Used by bench_cluster_close.py
(``--statements``) to find what a batch pays more as the store grows."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from contextlib import contextmanager

from storage import db as storage_db

CLOSE = "<close of the file>"


class _Timed:
    """A connection, or a statement's result, whose calls are added to one statement's time."""

    def __init__(
        self, target, timer: StatementTimer, key: str | None = None, read_only: bool = False
    ) -> None:
        self._target, self._timer, self._key = target, timer, key
        self._read_only = read_only

    def _add(self, key: str, started: float) -> None:
        self._timer.ms[key][self._timer.opens] += (time.perf_counter() - started) * 1000

    def _statement(self, method: str, sql, *args, **kwargs):
        key = re.sub(r"\s+", " ", str(sql)).strip()[:100]
        started = time.perf_counter()
        out = getattr(self._target, method)(sql, *args, **kwargs)
        self._add(key, started)
        return _Timed(out, self._timer, key) if out is not None else None

    def execute(self, sql, *args, **kwargs):
        return self._statement("execute", sql, *args, **kwargs)

    def sql(self, sql, *args, **kwargs):
        return self._statement("sql", sql, *args, **kwargs)

    def close(self) -> None:
        started = time.perf_counter()
        self._target.close()
        if not self._read_only:
            self._add(CLOSE, started)
            self._timer.opens += 1

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if self._key is None or not callable(attr):
            return attr

        def timed(*args, **kwargs):  # a result's fetch counts to its statement
            started = time.perf_counter()
            out = attr(*args, **kwargs)
            self._add(self._key, started)
            return out

        return timed


class StatementTimer:
    """``with timer.timing():`` every connection storage opens is timed; ``ms[statement][i]``
    is the time of that statement in the ``i``-th read-write open."""

    def __init__(self) -> None:
        self.ms: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.opens = 0

    @contextmanager
    def timing(self):
        real = storage_db._open

        def _open(path, read_only):
            return _Timed(real(path, read_only), self, read_only=read_only)

        storage_db._open = _open
        try:
            yield self
        finally:
            storage_db._open = real

    def table(self, top: int = 12) -> list[tuple[str, float, float, float]]:
        """The ``top`` statements by time: (statement, ms per open over the run, in its first
        quarter of opens, in its last quarter)."""
        n = max(1, self.opens)
        q = max(1, n // 4)
        rows = [
            (key,
             sum(per.values()) / n,
             sum(per.get(i, 0.0) for i in range(q)) / q,
             sum(per.get(i, 0.0) for i in range(n - q, n)) / q)
            for key, per in self.ms.items()
        ]  # fmt: skip
        return sorted(rows, key=lambda r: -r[1])[:top]
