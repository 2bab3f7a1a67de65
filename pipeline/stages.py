"""The explicit registry the runner builds its stages from (the contract: pipeline/contract.py)."""

from __future__ import annotations

from pipeline.contract import Stage
from pipeline.dedup import DedupStage
from pipeline.embed import EmbedStage
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.narratives import ClusterStage
from pipeline.signals import SignalsStage
from pipeline.translate import TranslateStage

# name -> factory taking that stage's settings table. Order is execution order.
REGISTRY = {
    "extract": ExtractStage.from_settings,
    "langid": LangIdStage.from_settings,
    "signals": SignalsStage.from_settings,
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


def downstream(stage: str, stages: list[Stage]) -> list[str]:
    """The stages that need ``stage`` done first, directly or through others."""
    found: list[str] = []
    frontier = {stage}
    while frontier:
        nxt = {s.name for s in stages if set(s.requires) & frontier and s.name not in found}
        found += sorted(nxt - set(found))
        frontier = nxt
    return found


__all__ = ["REGISTRY", "Stage", "build_stages", "downstream"]
