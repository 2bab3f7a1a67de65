"""Analysts' SQL (``narrascope sql``): one read-only statement over the database and nothing else.

"Read-only" means more than opening the file read-only. DuckDB can also write files
(``COPY ... TO``, ``EXPORT DATABASE``), read any file the process can (``read_text``,
``read_csv``, ``glob``, ``ATTACH``), fetch URLs and install or load extensions. Before the
query runs, the connection gets:

    enable_external_access = false      no file or network access beyond the open database
    autoinstall_known_extensions = false, autoload_known_extensions = false,
    allow_community_extensions = false  no extension is downloaded or loaded
    python_enable_replacements = false  a table name never resolves to a Python variable
    lock_configuration = true           and no statement can turn any of these back on

so the query can read the database's tables and views and nothing else: no local file, not
even one under the current directory. Temporary tables live in memory and go with the process.

The settings belong to the DuckDB instance behind the connection (every connection to the
same file in this process shares it) and last until the last of them closes: open the file for
this query alone, as ``narrascope sql`` does.
"""

from __future__ import annotations

import json

import duckdb

from storage.db import StorageError

LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",  # last: nothing after it can change a setting
)

#: What ``narrascope sql --help`` and the errors say the query may touch.
ALLOWED = (
    "only the database's own tables and views (no files, not even under the current "
    "directory; no network, no extensions, no writes)"
)


class AnalystSQLError(StorageError):
    """The query was refused or failed; the message is one line meant for the analyst."""


def statement_count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """How many statements ``sql`` holds (comments and empty ``;`` do not count)."""
    try:
        return len(con.extract_statements(sql))
    except duckdb.Error as err:
        raise AnalystSQLError(_first_line(err)) from err


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file access beyond the open database, no network, no extensions, and locked."""
    for statement in LOCKDOWN:
        con.execute(statement)


def _nested(value):
    """A JSON column's object or array, parsed; a scalar stays the JSON text it is."""
    if isinstance(value, str) and value[:1] in "{[":
        parsed = json.loads(value)
        if isinstance(parsed, dict | list):
            return parsed
    return value


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one analyst statement on ``con`` (opened read-only) after locking the connection
    down (see the module's docstring). ``inflate(html_zlib)`` reads a stored page's HTML back
    (it is kept zlib-compressed; see docs/schema.md). Raises AnalystSQLError for an empty
    query, more than one statement, a query that needs a file or the network, or any other
    DuckDB error."""
    from duckdb import sqltypes

    from storage.db import utc_cursor
    from storage.documents import decompress_html

    con = utc_cursor(con)  # a session of its own: no result of an earlier query left open
    n = statement_count(con, sql)
    if n == 0:
        raise AnalystSQLError(
            "empty query: give one SQL statement, e.g. 'SELECT count(*) FROM v_documents'"
        )
    if n > 1:
        raise AnalystSQLError(f"one statement at a time: this query has {n}; run them one by one")
    con.create_function(
        "inflate", decompress_html, [sqltypes.BLOB], sqltypes.VARCHAR,
        null_handling="special", side_effects=False,
    )  # fmt: skip
    lock_down(con)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchall() if cursor.description else []
        # JSON columns (v_runs.summary ...) come back as text: parsed, so that --format json
        # nests them (no `jq fromjson`) and csv and table write them as JSON as before
        parsed = [i for i, d in enumerate(cursor.description or []) if str(d[1]) == "JSON"]
    except duckdb.PermissionException as err:
        raise AnalystSQLError(f"{_first_line(err)}; analysts' SQL reads {ALLOWED}") from err
    except duckdb.Error as err:
        raise AnalystSQLError(_first_line(err)) from err
    if parsed:
        rows = [tuple(_nested(v) if i in parsed else v for i, v in enumerate(row)) for row in rows]
    return columns, rows


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
