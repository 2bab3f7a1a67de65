"""docs/schema.md documents every view column (name and type, in order) and every table of a
new database, so the documentation cannot drift from the schema."""

import re

from storage import connect
from tests.conftest import ROOT

DOC = ROOT / "docs" / "schema.md"
# The doc writes the short names analysts type; DuckDB describes some types at length.
TYPE_ALIASES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def documented_views() -> dict[str, list[tuple[str, str]]]:
    """View name -> [(column, type)] from each "## `name`" section's column table."""
    views: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = re.match(r"## `(\w+)`", line)
            current = heading.group(1) if heading else None
            if current:
                views[current] = []
            continue
        row = re.match(r"\| (\w+) \| ([^|]+?) \|", line)
        if current and row and row.group(1) != "column":
            name, type_ = row.groups()
            views[current].append((name, TYPE_ALIASES.get(type_, type_)))
    return views


def documented_tables() -> set[str]:
    section = DOC.read_text(encoding="utf-8").split("## Tables", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_every_view_column_is_documented_with_its_type(tmp_path):
    with connect(tmp_path / "fresh.duckdb") as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_type = 'VIEW' ORDER BY 1"
            ).fetchall()
        ]
        actual = {
            v: [(c, t) for c, t, *_ in con.execute(f"DESCRIBE {v}").fetchall()] for v in names
        }
    documented = documented_views()
    assert set(documented) == set(actual), (
        f"views not documented: {sorted(set(actual) - set(documented))}; "
        f"documented but not in the database: {sorted(set(documented) - set(actual))}"
    )
    for view, columns in actual.items():
        missing = [c for c in columns if c not in documented[view]]
        extra = [c for c in documented[view] if c not in columns]
        assert documented[view] == columns, (
            f"docs/schema.md, {view}: not documented {missing}, not in the view {extra} "
            "(or the order differs)"
        )


def test_every_table_is_documented(tmp_path):
    with connect(tmp_path / "fresh.duckdb") as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
        }
    documented = documented_tables()
    assert tables == documented, (
        f"tables not documented: {sorted(tables - documented)}; "
        f"documented but not in the database: {sorted(documented - tables)}"
    )
