"""The stage contract: what every pipeline stage declares and which hooks the runner calls.

A stage is a dataclass subclassing ``Stage``. The runner (pipeline/runner.py) calls, for each
batch of documents that still need the stage:

1. ``prepare(batch)`` with the database closed: CPU work the lookups depend on (sentence
   splitting, MinHash signatures). Its return value is passed on as ``prepared``.
2. ``lookups(batch, prepared)``: typed lookup records (storage/outputs/) that the runner
   answers in one short read; the answers come back as ``found`` (lookup -> answer).
3. ``process(batch, found, prepared)``, with the database closed: one result per input,
   in order (a normal failure is a ``Rejection`` value), or a ``BatchResult`` when the batch
   also has batch-level outputs. Stages never open the database.

and, before any batch, ``reopen()``: requests that make documents pending again now that
something they waited for is there (a translation model was installed). The runner reopens
the stage's documents and those of every stage downstream of it, whatever the command names.

Failures: an environment error (pipeline/errors.py) stops the stage with nothing recorded.
Any other exception is the document's: the runner retries the batch one document at a time
and records the one that raises as a stage error, retried next run up to a limit. A stage
whose results depend on the rest of its batch or on the state it builds up (``whole_batch``:
dedup, cluster) is never split: a failure rolls the batch back and stops the stage.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from storage.records import BatchResult, DocInput


class Stage:
    """Base class of pipeline stages. Subclasses set ``name``, ``version`` (recorded with
    their outputs; a new version makes documents pending again), ``requires`` (stages that
    must be done first) and ``needs_html`` (whether ``DocInput.html`` is loaded, and
    ``DocInput.raw_text`` where the document has an extracted text)."""

    name: str
    version: str
    requires: tuple[str, ...] = ()
    needs_html: bool = False
    #: whether ``DocInput`` carries the stored translation (status, title, text); only a stage
    #: that reads it pays for reading it
    needs_translation: ClassVar[bool] = False
    #: results depend on the rest of the batch or on state built up batch by batch: never
    #: split the batch on a failure (roll back and stop instead)
    whole_batch: ClassVar[bool] = False
    #: why ``process --force`` must not redo this stage, and what to do instead ("" = it may)
    force_refusal: ClassVar[str] = ""
    #: documents a batch in the local engine, as a multiple of ``[pipeline] batch_size``: a
    #: stage whose work per document is small beside a batch's fixed costs (finding the
    #: pending documents and reading their rows scan the key columns, so those costs grow
    #: with the store) takes more at once. Only for stages whose results do not depend on the
    #: batch, or (cluster) not where documents arrive in the order their batches are
    #: assigned in (by date). The Ray engine finds and reads a window of batches at once and
    #: keeps the size.
    batch_factor: ClassVar[int] = 1

    def prepare(self, batch: list[DocInput]) -> Any:
        """CPU work before the lookups, with the database closed."""
        return None

    def lookups(self, batch: list[DocInput], prepared: Any = None) -> list:
        """What to ask storage before ``process`` (typed lookup records)."""
        return []

    def reopen(self) -> list:
        """Requests to make documents pending again (see storage.outputs.reopen)."""
        return []

    def reuse(self, batch: list[DocInput], items: list, found: dict, prepared: Any = None) -> list:
        """``items``, computed by ``process`` with lookups answered before some earlier batches
        were written (the Ray engine answers a window's lookups at once), as ``process`` would
        give them with ``found``, answered now: a result whose input an earlier batch computed
        becomes that batch's copy (``reused_from``), as in the local runner. Default: as is."""
        return items

    def process(
        self, batch: list[DocInput], found: dict | None = None, prepared: Any = None
    ) -> list | BatchResult:
        raise NotImplementedError


def stage_settings(stage: Stage) -> dict:
    """The settings a stage was built with that shape its output (thresholds, windows, model
    names): its plain-valued dataclass fields. Runs record them with each stage's report, so an
    export can say what produced its rows (storage/export_manifest.py)."""
    if not dataclasses.is_dataclass(stage):
        return {}
    plain = (str, int, float, bool, type(None))
    return {
        f.name: getattr(stage, f.name)
        for f in dataclasses.fields(stage)
        if f.init
        and f.name not in ("name", "version", "needs_html")
        and isinstance(getattr(stage, f.name), plain)
    }
