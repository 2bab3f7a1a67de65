"""Fault injection for the Ray engine's tests: a stage that kills the worker process running it.

Importable by Ray workers (the tests put the checkout on their PYTHONPATH); never run it with
the local engine, where the worker is the test process itself."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage


class FullDiskExtract(ExtractStage):
    """Extraction on a machine whose disk is full: an environment error on every document."""

    def process(self, batch, found=None, prepared=None) -> list:
        raise OSError(28, "No space left on device")


@dataclass
class KillingLangId(LangIdStage):
    """Language identification whose worker dies (SIGKILL, its own pid) on the batch that holds
    ``victim``: ``kills`` times in all, counted in files under ``marks`` (shared by every
    worker on this machine); then it behaves."""

    victim: str = ""
    marks: str = ""
    kills: int = 1

    def process(self, batch, found=None, prepared=None) -> list:
        if any(doc.url == self.victim for doc in batch):
            done = len(list(Path(self.marks).glob("kill-*")))
            if done < self.kills:
                (Path(self.marks) / f"kill-{done}-{os.getpid()}").touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return super().process(batch, found, prepared)
