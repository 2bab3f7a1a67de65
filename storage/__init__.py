"""DuckDB storage: schema, migrations, writes and read queries. The only place that speaks SQL."""

from storage.db import DEFAULT_DB, SchemaTooNewError, StorageError, connect, resolve_db_path

__all__ = ["DEFAULT_DB", "SchemaTooNewError", "StorageError", "connect", "resolve_db_path"]
