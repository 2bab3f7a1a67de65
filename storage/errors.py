"""What storage raises about a database file: each a ``StorageError`` (storage/db.py, which
re-exports them, adds the busy ones; storage/lock.py, another writer at work)."""

from __future__ import annotations


class StorageError(RuntimeError):
    """A database operation failed; the DuckDB error is kept as ``__cause__``."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer narrascope than this one."""


class NotNarrascopeError(StorageError):
    """The file is a DuckDB database with tables of its own, not one narrascope wrote."""
