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
    for name in wanted:
        _check_types(name, REGISTRY[name].__self__, settings.get(name, {}))
    return [REGISTRY[name](settings.get(name, {})) for name in REGISTRY if name in wanted]


def _check_types(name: str, stage: type, table: dict) -> None:
    """A value in a stage's table of another type than the setting's default is refused:
    ``[extract] min_chars = "x"`` made every document fail (retried, then rejected as
    ``stage_error``) while the command exited 0; ``furniture = "false"`` was true."""
    import dataclasses

    from pipeline.config import wrong_type

    defaults = {f.name: f.default for f in dataclasses.fields(stage)}
    for key, value in table.items():
        if kind := wrong_type(value, defaults.get(key)):  # lists and the rest: the stage's
            raise ValueError(f"[{name}] {key} must be {kind}, not {value!r}")


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
