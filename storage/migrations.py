"""Ordered, append-only schema migrations, and applying them. Never edit a released step:
add a new one.

Each step is (version, description, statements), one module each under storage/schema/.
Statements run in one transaction together with the schema_version row that records them."""

from __future__ import annotations

from pathlib import Path

import duckdb

from storage.errors import NotNarrascopeError, SchemaTooNewError, StorageError
from storage.schema import ALL

MIGRATIONS: list[tuple[int, str, list[str]]] = list(ALL)
LATEST_VERSION = MIGRATIONS[-1][0]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file; 0 for an empty one.

    Every open asks, so the table is looked up by its name (``pragma_table_info``, about
    1 ms): listing ``information_schema.tables`` took 8-12 ms an open on a
    100,000-document store. Reading the table straight away is no way to find out whether
    it exists: DuckDB's Python client would then look for a Python object of that name."""
    try:
        # fetchall: a result left unfinished blocks the connection's next register() (DuckDB 2)
        con.execute("SELECT count(*) FROM pragma_table_info('schema_version')").fetchall()
    except duckdb.CatalogException:  # no such table: a new file
        return 0
    [(version,)] = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(version or 0)


def refuse_foreign(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """A file with no schema version is a new one only where it holds nothing: a DuckDB file
    of someone else's (tables of its own, no ``schema_version``) was taken for an empty one
    and got narrascope's 45 tables and views added, by a read as well as by ``init``."""
    names = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "ORDER BY 1 LIMIT 4"
        ).fetchall()
    ]
    if names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise NotNarrascopeError(
            f"{db_path} is a DuckDB file that narrascope did not write (it holds {shown} "
            "and no schema_version): give narrascope a file of its own"
        )


def refuse_newer(version: int, known: int) -> None:
    if version > known:
        raise SchemaTooNewError(
            f"database schema is version {version}, this narrascope knows up to {known}: "
            "upgrade narrascope (pip install -U narrascope) to open it"
        )


def migrate(con: duckdb.DuckDBPyConnection, migrations=MIGRATIONS) -> list[int]:
    """Bring the schema up to date; return the versions applied. Each step is one transaction.

    A step missing below the store's version is applied too: a store written on main between
    two merged branches can lack one (bca62fd recorded 14 without 13, whose columns 15 reads)."""
    current = schema_version(con)
    refuse_newer(current, migrations[-1][0])
    done = (
        {v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}
        if current
        else set()
    )
    applied = []
    for version, _description, statements in migrations:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if version == 1:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                )
            for statement in statements:
                # SQL, or a function of the connection for what SQL alone cannot do
                statement(con) if callable(statement) else con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            con.execute("COMMIT")
        except duckdb.Error as err:
            con.execute("ROLLBACK")
            raise StorageError(f"migration to schema version {version} failed: {err}") from err
        applied.append(version)
    return applied
