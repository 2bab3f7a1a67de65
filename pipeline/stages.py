"""The stage contract and the explicit registry the runner builds its stages from."""

from __future__ import annotations

from typing import Protocol

from pipeline.dedup import DedupStage
from pipeline.embed import EmbedStage
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.narratives import ClusterStage
from pipeline.translate import TranslateStage
from storage.records import DocInput


class Stage(Protocol):
    """A pipeline stage: a stable name, a version recorded with its outputs, the stages it
    needs done first, whether it reads the raw HTML, and a pure batch-in/batch-out
    ``process``. Normal failures are returned as ``Rejection`` values, one result per input."""

    name: str
    version: str
    requires: tuple[str, ...]
    needs_html: bool

    def process(self, batch: list[DocInput]) -> list: ...


# name -> factory taking that stage's settings table. Order is execution order.
REGISTRY = {
    "extract": ExtractStage.from_settings,
    "langid": LangIdStage.from_settings,
    "translate": TranslateStage.from_settings,
    "embed": EmbedStage.from_settings,
    "dedup": DedupStage.from_settings,
    "cluster": ClusterStage.from_settings,
}


def build_stages(names: list[str] | None, settings: dict[str, dict]) -> list[Stage]:
    """Instantiate the named stages (all registered ones by default) in registry order.

    A stage is switched off by leaving it out of ``[pipeline] stages`` in the config.
    """
    wanted = list(REGISTRY) if not names else names
    unknown = [n for n in wanted if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; known stages: {', '.join(REGISTRY)}")
    return [REGISTRY[name](settings.get(name, {})) for name in REGISTRY if name in wanted]
