"""What a process run reports: per stage, the documents done, rejected and to retry, its time
and counters (cache hits, reused copies, ...); for the run, the stages and what a deadline
left. The CLI prints and writes them (pipeline/cli/formatting.py, the run's JSON summary)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StageReport:
    stage: str
    version: str
    done: int = 0
    rejected: int = 0
    retrying: int = 0  # documents that raised and will be retried next run
    seconds: float = 0.0
    reopened: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    note: str = ""
    settings: dict = field(default_factory=dict)  # contract.stage_settings, for provenance
    #: the configured stages that depend on this one: what a rejection withdraws them from
    dependents: list[str] = field(default_factory=list)
    #: whether a document the stage has still to handle was handled by a dependent (a forced
    #: run, a new stage version, either left unfinished: `reprocessing`): only then does a
    #: write look for results that changed. Set by the stage's runner with the backlog
    again: bool = True

    def count(self, results: list) -> None:
        """Add up what the results say they did (cache hits, reused copies, ...)."""
        for result in results:
            for key, n in result.counts.items():
                self.counters[key] = self.counters.get(key, 0) + n
        # by name: the order they were first met follows the documents', a crawl's timing
        self.counters = dict(sorted(self.counters.items()))

    @property
    def docs_per_s(self) -> float:
        return (self.done + self.rejected + self.retrying) / self.seconds if self.seconds else 0.0


@dataclass
class ProcessReport:
    stages: list[StageReport] = field(default_factory=list)
    #: documents each stage would still process, when the run stopped at its deadline
    left: dict[str, int] | None = None

    @property
    def stopped_early(self) -> bool:
        return self.left is not None

    def as_dict(self) -> dict:
        stages = {
            s.stage: {
                "version": s.version,
                "done": s.done,
                "rejected": s.rejected,
                "seconds": round(s.seconds, 2),
                **({"retrying": s.retrying} if s.retrying else {}),
                **({"reopened": s.reopened} if s.reopened else {}),
                **s.counters,
                **({"settings": s.settings} if s.settings else {}),
            }
            for s in self.stages
        }
        if self.stopped_early:
            stages["stopped_early"] = {"reason": "max_duration", "left": self.left}
        return stages
