"""The signals stage's output: rule hits (``signal_hits``) and one score and decision per
document version (``signal_scores``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.bulk import insert_rows
from storage.outputs.base import Output, WriteContext, delete_versions


@dataclass(slots=True)
class SignalHit:
    """One rule hit: where it stands ('title', 'lead', 'body', 'trailing'), whether inside
    quotation marks, its offset in the text (or title) and what it adds to the score."""

    doc_id: str
    version: int
    rule_id: str
    family: str
    lang: str
    position: str
    quoted: bool
    char_start: int
    matched: str
    weight: float
    score: float


@dataclass(slots=True)
class SignalResult:
    doc_id: str
    version: int
    hits: list[SignalHit] = field(default_factory=list)
    score: float = 0.0
    threshold: float = 1.0
    machine_written: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {"flagged": int(bool(self.hits)), "machine_written": int(self.machine_written)}


HIT_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage_version", "VARCHAR"),
    ("hit", "INTEGER"),
    ("rule_id", "VARCHAR"),
    ("family", "VARCHAR"),
    ("lang", "VARCHAR"),
    ("position", "VARCHAR"),
    ("quoted", "BOOLEAN"),
    ("char_start", "INTEGER"),
    ("matched", "VARCHAR"),
    ("weight", "DOUBLE"),
    ("score", "DOUBLE"),
]
SCORE_COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage_version", "VARCHAR"),
    ("hits", "INTEGER"),
    ("score", "DOUBLE"),
    ("threshold", "DOUBLE"),
    ("machine_written", "BOOLEAN"),
    ("scored_at", "TIMESTAMPTZ"),
]


def write(con, ctx: WriteContext, items: list[SignalResult], _extras: list) -> None:
    """Replace the batch's documents' hits and scores (a rerun after a rules change leaves
    no hit of the old rules behind)."""
    if not items:
        return
    con.execute(
        "DELETE FROM signal_hits h USING (SELECT unnest(?::VARCHAR[]) AS doc_id, "
        "unnest(?::INTEGER[]) AS version) k WHERE h.doc_id = k.doc_id AND h.version = k.version",
        [[r.doc_id for r in items], [r.version for r in items]],
    )
    insert_rows(
        con,
        "signal_hits",
        HIT_COLUMNS,
        [
            (
                r.doc_id,
                r.version,
                ctx.stage_version,
                i,
                h.rule_id,
                h.family,
                h.lang,
                h.position,
                h.quoted,
                h.char_start,
                h.matched,
                h.weight,
                h.score,
            )
            for r in items
            for i, h in enumerate(r.hits)
        ],  # fmt: skip
        replace=False,
    )
    insert_rows(
        con,
        "signal_scores",
        SCORE_COLUMNS,
        [
            (
                r.doc_id,
                r.version,
                ctx.stage_version,
                len(r.hits),
                r.score,
                r.threshold,
                r.machine_written,
                ctx.now,
            )
            for r in items
        ],  # fmt: skip
    )


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take out these document versions' hits and scores (see Output.withdraw)."""
    delete_versions(con, "signal_hits", keys)
    delete_versions(con, "signal_scores", keys)


OUTPUT = Output("signals", records=(SignalResult,), write=write, withdraw=withdraw)
