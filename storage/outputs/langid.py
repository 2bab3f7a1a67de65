"""The langid stage's output: one language per document version (``languages``)."""

from __future__ import annotations

from dataclasses import dataclass

from storage import means
from storage.bulk import insert_rows
from storage.outputs.base import Output, WriteContext, delete_versions, stored_hashes


@dataclass(slots=True)
class LanguageResult:
    doc_id: str
    version: int
    lang: str
    confidence: float
    method: str

    @property
    def counts(self) -> dict[str, int]:
        return {}


COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage_version", "VARCHAR"),
    ("lang", "VARCHAR"),
    ("confidence", "DOUBLE"),
    ("method", "VARCHAR"),
]


def write(con, ctx: WriteContext, items: list[LanguageResult], _extras: list) -> None:
    insert_rows(
        con,
        "languages",
        COLUMNS,
        [(r.doc_id, r.version, ctx.stage_version, r.lang, r.confidence, r.method) for r in items],
    )
    # documents embedded before their language was known move to their language's mean
    means.refresh_all(con, ctx.now)


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take out these document versions' languages (see Output.withdraw)."""
    delete_versions(con, "languages", keys)


def fingerprint(con, items: list[LanguageResult]) -> dict:
    """What later stages read of a language result: the language (see Output.fingerprint)."""
    return stored_hashes(con, "languages", "x.lang", [(r.doc_id, r.version) for r in items])


OUTPUT = Output(
    "langid", records=(LanguageResult,), write=write, withdraw=withdraw, fingerprint=fingerprint
)
