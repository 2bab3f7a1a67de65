"""Exports for researchers: narratives with their members, documents and copies, written by
DuckDB's COPY (streamed from the database to the file, never held in Python) as Parquet, CSV
or JSON lines, with a manifest (storage/export_manifest.py) that says what produced them."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from storage.db import StorageError, connect
from storage.documents import seen_at_sql
from storage.export_files import COPY_RELATIONS, FILES, MEMORY_LIMIT, quote, write_file
from storage.export_folder import make_partial, remove_stale_partials, unlock
from storage.export_manifest import (
    ExportError,
    check_out_dir,
    describe_database,
    out_turn,
    provenance,
    swap_in,
    write_manifest,
)
from storage.queries import gone_message, gone_narratives

KINDS = tuple(FILES)
FORMATS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}  # format -> file extension
__all__ = ["FORMATS", "KINDS", "ExportError", "Filters", "export", "parse_bound"]


@dataclass(frozen=True)
class Filters:
    """Which documents an export takes; every filter narrows it. ``since``/``until`` as given
    (parse_bound reads them); ``narratives``: ids as given, merged ids resolve."""

    since: str | None = None
    until: str | None = None
    narratives: tuple[int, ...] = ()
    min_sites: int | None = None
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    source_tags: tuple[str, ...] = ()  # "key=value"

    def as_dict(self) -> dict:
        given = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()}


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhdw])$")  # 1.5d, as `alerts --since` reads it
_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}
_LATEST = datetime.max.replace(tzinfo=UTC)


def _iso_date(text: str) -> datetime | None:
    """``text`` as an ISO 8601 date in any of its forms ("2026-10-05", "20261005",
    "2026-W40-1"), as UTC midnight; None where it is no date alone (before, the compact forms
    read as a timestamp at midnight, so ``--until 20261005`` left out that whole day)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_bound(value: str, *, end: bool, now: datetime | None = None) -> datetime:
    """``--since``/``--until``: "90m", "24h", "7d", "2w" (before now, as ``alerts --since``
    reads them), an ISO date in any form (UTC midnight; as ``--until`` the whole day counts) or an ISO
    timestamp (UTC unless it has an offset)."""
    text = value.strip()
    try:
        if match := _RELATIVE.match(text):
            minutes = float(match[1]) * _MINUTES[match[2]]
            return (now or datetime.now(UTC)) - timedelta(minutes=minutes)
        if (day := _iso_date(text)) is not None:
            return (day + timedelta(days=1) if day < _LATEST - timedelta(days=1) else _LATEST
                    ) if end else day  # fmt: skip
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except OverflowError:
        raise ExportError(f"{value!r} reaches back before the year 1") from None
    except ValueError:
        raise ExportError(
            f"cannot read {value!r} as a time: give 90m, 24h, 7d, 2w, a date (2026-10-01) or "
            "a timestamp (2026-10-01T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tags(filters: Filters) -> list[tuple[str, str]]:
    pairs = []
    for tag in filters.source_tags:
        key, sep, value = tag.partition("=")
        if not sep or not key.strip():
            raise ExportError(f"--source-tag takes key=value (e.g. country=RU), not {tag!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def resolve_narratives(con: duckdb.DuckDBPyConnection, ids: tuple[int, ...]) -> dict[int, int]:
    """Requested id -> current narrative id (a merged narrative's id resolves to the one it
    was merged into); an unknown id, or one whose documents were all withdrawn for now, is an
    ExportError."""
    if not ids:
        return {}
    if beyond := [i for i in ids if not -(2**63) <= i < 2**63]:  # no id is that large
        raise ExportError(f"no narrative {', '.join(map(str, beyond))} in this database")
    found = dict(
        con.execute(
            "SELECT id, narrative_id FROM v_narrative_ids WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [list(ids)],
        ).fetchall()
    )
    gone = gone_narratives(con, sorted({found.get(i, i) for i in ids}))
    for i in ids:  # withdrawn for now: say so, rather than export nothing
        if found.get(i, i) in gone:
            raise ExportError(gone_message(i, found.get(i, i), gone[found.get(i, i)]))
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise ExportError(
            f"no narrative {', '.join(map(str, unknown))} in this database "
            '(narrascope sql "SELECT narrative_id FROM v_narratives" lists them)'
        )
    return {i: found[i] for i in ids}


def _check_known(con, asked: tuple[str, ...], sql: str, what: str, listed_as: str,
                 none: str) -> None:  # fmt: skip
    """The values of ``asked`` that ``sql`` (one column) does not give are an ExportError:
    a misspelt filter would export nothing and say it succeeded."""
    if not asked:
        return
    known = {r[0] for r in con.execute(sql).fetchall()}
    if unknown := sorted(set(asked) - known):
        listed = ", ".join(sorted(k for k in known if k is not None)) or none
        raise ExportError(f"no {what} {', '.join(map(repr, unknown))} in this database "
                          f"({listed_as}: {listed})")  # fmt: skip


def check_sources(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """A --source no document of this database has is an ExportError, as an unknown
    narrative is."""
    _check_known(con, names, "SELECT DISTINCT source FROM documents", "source", "sources", "none")


def check_langs(con: duckdb.DuckDBPyConnection, langs: tuple[str, ...]) -> None:
    """A --lang no document of this database is in is an ExportError, as an unknown source
    is (``--lang ua`` for Ukrainian, whose code is uk, would export nothing)."""
    _check_known(con, langs, "SELECT DISTINCT lang FROM languages", "document in language",
                 "languages", "none identified yet")  # fmt: skip


def check_tags(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    """A --source-tag no source of this database has is an ExportError too (tags are matched
    as written: ``country=ru`` does not find ``country = "RU"``, and the message says which
    values the key has)."""
    for key, value in _tags(filters):
        values = sorted({
            r[0] for r in con.execute(
                "SELECT tags[?] FROM sources WHERE tags[?] IS NOT NULL", [key, key]).fetchall()
        })  # fmt: skip
        if value not in values:
            have = f"{key}: " + ", ".join(map(repr, values)) if values else "no source has that key"
            raise ExportError(f"no source has the tag {key}={value} ({have})")


def _select_documents(
    con: duckdb.DuckDBPyConnection, kind: str, filters: Filters, bounds: dict, resolved: dict
) -> None:
    """The export's documents into the temporary table export_docs (doc_id, seen_at,
    narrative_id, group_id): every query that writes a file, and the manifest, read it."""
    where, params = [], []
    if bounds.get("since"):
        where.append("seen_at >= ?")
        params.append(bounds["since"])
    if bounds.get("until"):
        where.append("seen_at < ?")
        params.append(bounds["until"])
    if filters.langs:
        where.append("lang IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(filters.langs))
    if filters.sources:
        where.append("source IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(filters.sources))
    for key, value in _tags(filters):
        where.append("EXISTS (SELECT 1 FROM sources s WHERE s.name = source AND s.tags[?] = ?)")
        params += [key, value]
    if resolved:
        where.append("narrative_id IN (SELECT unnest(?::BIGINT[]))")
        params.append(sorted(set(resolved.values())))
    if kind == "narratives":
        where.append("narrative_id IS NOT NULL")
    if kind == "copies":
        where.append("group_id IS NOT NULL")
    if filters.min_sites is not None:
        # copies: the copy group's reach; otherwise the narrative's (all its documents count)
        if kind == "copies":
            reach, table = "group_id", "copy_members"
        else:
            reach, table = "narrative_id", "narrative_members"
        where.append(
            f"{reach} IN (SELECT t.{reach} FROM {table} t JOIN documents dd USING (doc_id) "
            f"GROUP BY 1 HAVING count(DISTINCT dd.source) >= ?)"
        )
        params.append(filters.min_sites)
    con.execute(
        f"""
        CREATE TEMP TABLE export_docs AS
        SELECT doc_id, seen_at, narrative_id, group_id FROM (
            SELECT d.doc_id, d.source, l.lang, {seen_at_sql()} AS seen_at,
                   nm.narrative_id, cm.group_id
            FROM documents d
            JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version
            LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = d.current_version
            LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version
            LEFT JOIN narrative_members nm ON nm.doc_id = d.doc_id
            LEFT JOIN copy_members cm ON cm.doc_id = d.doc_id
        )
        {"WHERE " + " AND ".join(where) if where else ""}
        """,
        params,
    )


def _write(*, con_path, partial, kind, fmt, filters, bounds, no_text, memory_limit):
    """The export's files into ``partial``; (files, resolved narrative ids, provenance)."""
    with connect(con_path, read_only=True) as con:
        con.execute(f"SET temp_directory = {quote(partial / '.spill')}")
        resolved = resolve_narratives(con, filters.narratives)
        check_sources(con, filters.sources)
        check_langs(con, filters.langs)
        check_tags(con, filters)
        _select_documents(con, kind, filters, bounds, resolved)
        con.execute(COPY_RELATIONS)
        files = {}
        for name in FILES[kind]:
            path = partial / f"{name}.{FORMATS[fmt]}"
            files[path.name] = write_file(con, name, path, fmt, no_text, memory_limit)
        origin = {"database": describe_database(con, con_path), **provenance(con)}
    return files, resolved, origin


def export(
    db_path: Path,
    kind: str,
    out_dir: Path,
    *,
    fmt: str = "parquet",
    filters: Filters | None = None,
    no_text: bool = False,
    memory_limit: str = MEMORY_LIMIT,
    command: str | None = None,
) -> dict:
    """Write one export into ``out_dir`` (created, or replaced when it holds the same export)
    and return its manifest. Nothing is left half-written: the files are written into a
    folder beside ``out_dir`` that takes its place once complete."""
    filters = filters or Filters()
    if kind not in KINDS:
        raise ExportError(f"unknown export {kind!r}: choose one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if filters.min_sites is not None and filters.min_sites < 1:
        raise ExportError("--min-sites takes a number of sites, 1 or more")
    _tags(filters)
    now = datetime.now(UTC)
    bounds = {
        "since": None if filters.since is None else parse_bound(filters.since, end=False, now=now),
        "until": None if filters.until is None else parse_bound(filters.until, end=True, now=now),
    }
    if bounds["since"] and bounds["until"] and bounds["since"] >= bounds["until"]:
        raise ExportError(
            f"--since {filters.since} is not before --until {filters.until}: nothing lies "
            "between them"
        )
    # a symlinked --out (a shared drive, say) is written where it points: renaming the
    # link itself put a folder in its place and left the target empty
    out_dir = Path(out_dir).resolve()
    identity = {
        "kind": kind,
        "format": fmt,
        "filters": filters.as_dict(),
        "no_text": no_text,
        "database": str(Path(db_path).resolve()),
    }
    check_out_dir(out_dir, identity)
    remove_stale_partials(out_dir)  # of exports killed outright: their lock is free
    # the folders --out needs that are not there yet: an export that fails takes them away
    # again (before, `--out a/b/c --lang xx` refused left a/b behind)
    made: list[Path] = []
    try:
        made = [p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()]
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        partial, lock = make_partial(out_dir)
    except OSError as err:  # a read-only or full disk, no permission, a file on the way
        _remove_empty(made)
        raise StorageError(
            f"cannot write into {out_dir.parent} ({err.strerror or err}): nothing was written"
        ) from None
    try:
        try:
            files, resolved, origin = _write(con_path=db_path, partial=partial, kind=kind,
                                             fmt=fmt, filters=filters, bounds=bounds,
                                             no_text=no_text, memory_limit=memory_limit)  # fmt: skip
        except duckdb.Error as err:
            first = str(err).strip().splitlines()[0]
            raise StorageError(f"export failed, nothing written: {first}") from err
        shutil.rmtree(partial / ".spill", ignore_errors=True)
        manifest = write_manifest(
            partial,
            identity=identity,
            files=files,
            resolved={
                "since": bounds["since"],
                "until": bounds["until"],
                "narratives": {str(k): v for k, v in resolved.items()},
            },
            origin=origin,
            command=command,
            created_at=now,
        )
        with out_turn(out_dir):  # one export at a time between this check and the swap
            check_out_dir(out_dir, identity)  # again: another export may have filled it
            unlock(partial, lock)
            lock = None
            swap_in(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if lock is not None:
            os.close(lock)
        _remove_empty(made)
        raise
    return manifest


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) where nothing else has been put into them."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (another process wrote there meanwhile), or gone
            return
