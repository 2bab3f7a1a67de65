"""The extract stage's output: main text and metadata per document version (``extractions``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.bulk import insert_rows
from storage.outputs.base import Output, WriteContext, delete_versions, stored_hashes


@dataclass(slots=True)
class Extraction:
    doc_id: str
    version: int
    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    sitename: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {}


COLUMNS = [
    ("doc_id", "VARCHAR"),
    ("version", "INTEGER"),
    ("stage_version", "VARCHAR"),
    ("title", "VARCHAR"),
    ("author", "VARCHAR"),
    ("published_at", "TIMESTAMPTZ"),
    ("sitename", "VARCHAR"),
    ("text", "VARCHAR"),
]


def write(con, ctx: WriteContext, items: list[Extraction], _extras: list) -> None:
    insert_rows(
        con,
        "extractions",
        COLUMNS,
        [
            (
                r.doc_id,
                r.version,
                ctx.stage_version,
                r.title,
                r.author,
                r.published_at,
                r.sitename,
                r.text,
            )
            for r in items
        ],  # fmt: skip
    )


def withdraw(con, keys: list[tuple[str, int]], _now) -> None:
    """Take out these document versions' extractions (see Output.withdraw)."""
    delete_versions(con, "extractions", keys)


def fingerprint(con, items: list[Extraction]) -> dict:
    """What later stages read of an extraction: its title and text (see Output.fingerprint).
    Not its date: only the copies' and narratives' windows read it, and a listing's date
    (a feed's, a sitemap's) comes before it; a date that changed alone would send documents
    back to every later stage, the embed stage's model included, for next to nothing."""
    keys = [(r.doc_id, r.version) for r in items]
    return stored_hashes(con, "extractions", "x.title, x.text", keys)


OUTPUT = Output(
    "extract", records=(Extraction,), write=write, withdraw=withdraw, fingerprint=fingerprint
)
