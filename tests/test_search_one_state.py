"""Semantic search reads the vectors it ranks and the rows it shows in one open of the store.

The query is embedded with the database closed (README, "Running unattended": while a model
works, writers get the file); a writer's batch committed then must not show in rows ranked
by what was read before it. The writer here is a real `narrascope import` run in that gap."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from pipeline import search as searching
from pipeline.config import load_config
from pipeline.embed import EmbedStage
from tests.conftest import cli_env, run_cli

STRIKE = "Harbour cranes idle as dock workers strike"


class WriterInTheGap:
    """The stage's embedder, with `narrascope import` of ``records`` run (to its end) before
    it embeds the query: a writer whose batch lands while the model works."""

    def __init__(self, embedder, db, records):
        self._embedder, self._db, self._records = embedder, db, records
        self.imported = None

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def encode(self, texts, **kwargs):
        cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(self._db), "import"]
        self.imported = subprocess.run(cmd + [str(self._records)], capture_output=True,
                                       text=True, env=cli_env(), check=True).stdout  # fmt: skip
        return self._embedder.encode(texts, **kwargs)


def test_a_page_changed_while_the_query_is_embedded_shows_no_rank_of_its_old_text(
    demo_run, tmp_path
):
    """The demo's English exact copy of "The Ceasefire Nobody in Brussels Wants" gets another
    story's text while "ceasefire Brussels" is embedded: search ranked the new title 2nd with
    the old text's similarity (0.3448) and copy group, rows read after the writer's import."""
    db = tmp_path / "n.duckdb"
    shutil.copy(demo_run[0], db)
    (copy,) = json.loads(
        run_cli(
            "sql",
            "SELECT doc_id, url FROM v_copies WHERE copy_kind = 'exact' AND lang = 'en'",
            "--format",
            "json",
            db=db,
        ).stdout  # fmt: skip
    )
    records = tmp_path / "changed.jsonl"
    records.write_text(json.dumps({"url": copy["url"], "title": STRIKE,
                                   "text": "Container traffic at the port of Rotterdam slowed "
                                   "to a crawl as crane operators walked out over pay."}) + "\n")  # fmt: skip
    settings = load_config(None)["embed"]
    stage = EmbedStage.from_settings(settings)
    writer = WriterInTheGap(stage.embedder, db, records)
    stage.__dict__["embedder"] = writer  # the cached model, wrapped
    rows = searching.semantic(db, "ceasefire Brussels", settings, lang=None, limit=10,
                              query_lang="en", stage=stage)  # fmt: skip
    assert "1 changed" in writer.imported  # the writer's batch did land in the gap
    title = searching.SEARCH_COLUMNS.index("title")
    shown = [(r[0], r[2], r[title]) for r in rows]
    print("rank, similarity, title:", shown)
    # before the import, the page had the ceasefire text; after it, no vector (not embedded)
    assert STRIKE not in {r[title] for r in rows}
    assert len(rows) == 10
