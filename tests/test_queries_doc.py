"""docs/queries.md, the analysts' SQL cookbook: every query runs on the demo database and
returns rows."""

import re

import pytest

from storage import connect
from tests.conftest import ROOT, run_cli

COOKBOOK = ROOT / "docs" / "queries.md"
QUERIES = re.findall(
    r"^### (.+?)\n.*?^```sql\n(.*?)^```", COOKBOOK.read_text(encoding="utf-8"), re.S | re.M
)


def test_the_cookbook_answers_at_least_twelve_questions():
    assert len(QUERIES) >= 12
    assert len({title for title, _ in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("title,query", QUERIES, ids=[t.split(".")[0] for t, _ in QUERIES])
def test_cookbook_query_returns_rows_on_the_demo(demo_run, title, query):
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"docs/queries.md, {title!r}: no rows on the demo database"


def test_a_cookbook_query_runs_as_the_docs_say(demo_run):
    """Through `narrascope sql`, as the cookbook tells analysts to run it."""
    db, _ = demo_run
    title, query = next(q for q in QUERIES if "co-publication" in q[0])
    out = run_cli("sql", query, "--format", "csv", db=db).stdout.splitlines()
    assert out[0] == "site_a,site_b,shared_narratives"
    assert out[1].startswith("demo-mirror,demo-wp,")
