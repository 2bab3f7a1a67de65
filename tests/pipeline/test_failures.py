"""Errors by kind: environment errors stop a stage with nothing blamed on documents, a
document that makes a stage raise is retried on later runs up to a limit, and whole-batch
stages are never split."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from crawlers.demo.render import blog_page
from crawlers.demo.server import load_articles
from pipeline.dedup import DedupStage
from pipeline.embed import EmbedStage
from pipeline.errors import StageFailed
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.narratives import ClusterStage
from pipeline.runner import run_stages
from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord
from tests.conftest import run_cli


def store_demo_articles(db, limit: int | None = None) -> list[str]:
    """The demo articles as plain pages (no crawl): their URLs, oldest first."""
    articles = sorted(load_articles(), key=lambda a: a["date"])[:limit]
    pages = [
        PageRecord(
            url=f"https://{a['site']}.example/{a['slug']}",
            source=f"demo-{a['site']}",
            origin="import",
            fetched_at=datetime.now(UTC),
            html=blog_page(
                title=a["title"],
                paragraphs=a["body"].strip().split("\n\n"),
                date=a["date"],
                author="x",
            ),
            hint_published_at=a["date"],
        )  # fmt: skip
        for a in articles
    ]
    with connect(db) as con:
        store_pages(con, pages)
    return [p.url for p in pages]


def word_pipeline(cluster_cls=ClusterStage, **cluster) -> list:
    """Every stage that needs no embedding model: narratives from character n-grams."""
    return [
        ExtractStage(),
        LangIdStage(),
        DedupStage(translated=False),
        cluster_cls(vectors="words", **cluster),
    ]


def narratives(db) -> set[frozenset[str]]:
    """The narratives as sets of member URLs: what a stable clustering must reproduce."""
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT m.narrative_id, v.url FROM narrative_members m "
            "JOIN documents d USING (doc_id) "
            "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version"
        ).fetchall()
        sizes = dict(con.execute("SELECT narrative_id, size FROM narratives").fetchall())
    groups: dict[int, set] = {}
    for nid, url in rows:
        groups.setdefault(nid, set()).add(url)
    assert {n: len(u) for n, u in groups.items()} == sizes  # no ghost narratives
    return {frozenset(u) for u in groups.values()}


class ExplodingExtract(ExtractStage):
    """Fault injection: a parser bug that one document's content triggers."""

    bad = "/why-brussels-fears-a-real-ceasefire"

    def extract_one(self, doc):
        if doc.url.endswith(self.bad):
            raise RuntimeError("parser crashed")
        return super().extract_one(doc)


def test_a_document_that_makes_a_stage_raise_is_retried_on_later_runs_then_given_up(tmp_path):
    db = tmp_path / "n.duckdb"
    urls = store_demo_articles(db, limit=12)
    for attempt in (1, 2):
        report = run_stages(db, [ExplodingExtract()], batch_size=5)
        s = report.stages[0]
        assert (s.done, s.rejected, s.retrying) == ((11, 0, 1) if attempt == 1 else (0, 0, 1))
        with connect(db, read_only=True) as con:
            assert con.execute("SELECT count(*) FROM rejections").fetchone()[0] == 0
            assert con.execute("SELECT attempts, error, url FROM stage_errors").fetchall() == [
                (attempt, "RuntimeError: parser crashed", next(u for u in urls if u.endswith(
                    ExplodingExtract.bad)))
            ]  # fmt: skip
    third = run_stages(db, [ExplodingExtract()]).stages[0]
    assert (third.done, third.rejected, third.retrying) == (0, 1, 0)  # out of attempts
    with connect(db, read_only=True) as con:
        [(reason, detail)] = con.execute("SELECT reason, detail FROM rejections").fetchall()
        assert con.execute("SELECT count(*) FROM extractions").fetchone()[0] == 11
    assert reason == "stage_error" and detail.startswith("gave up after 3 attempts: RuntimeError")
    assert run_stages(db, [ExplodingExtract()]).stages[0].done == 0  # stays rejected
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert status["stage_errors"][0]["given_up"] and status["stage_errors"][0]["stage"] == "extract"
    assert "given up" in run_cli("status", db=db).stdout


def test_a_document_that_failed_once_is_processed_when_the_cause_is_gone(tmp_path):
    db = tmp_path / "n.duckdb"
    store_demo_articles(db, limit=6)
    assert run_stages(db, [ExplodingExtract()]).stages[0].retrying == 1
    fixed = run_stages(db, [ExtractStage()]).stages[0]
    assert (fixed.done, fixed.rejected, fixed.retrying) == (1, 0, 0)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stage_errors").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM extractions").fetchone()[0] == 6


def test_a_model_that_cannot_load_stops_the_stage_and_blames_no_document(tmp_path):
    import shutil

    from pipeline.embedders import _minilm_path

    db = tmp_path / "n.duckdb"
    store_demo_articles(db, limit=4)
    model = tmp_path / "models" / "minilm"
    config = tmp_path / "model.toml"
    config.write_text(
        f'[pipeline]\nstages = ["extract", "langid", "embed"]\n[embed]\nmodel = "{model}"\n'
    )

    def process():
        return run_cli("--config", str(config), "process", "--no-progress", db=db, check=False)

    def nothing_blamed():
        with connect(db, read_only=True) as con:
            assert con.execute("SELECT count(*) FROM rejections").fetchone()[0] == 0
            assert con.execute("SELECT count(*) FROM stage_errors").fetchone()[0] == 0
            assert (
                con.execute("SELECT count(*) FROM stage_state WHERE stage = 'embed'").fetchone()[0]
                == 0
            )

    missing = process()
    assert missing.returncode == 1, missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"error: stage embed stopped: ModelError: no embedding model at {model}: the path does "
        "not exist (nothing of that batch was written; the next run retries it)"
    ]
    assert "extract v2: 4 done" in missing.stdout  # what ran before the failure is kept
    nothing_blamed()
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT status FROM runs WHERE kind = 'process'").fetchall() == [
            ("failed",)
        ]
    # a model that is there but broken (weights overwritten): the same, never the documents
    shutil.copytree(_minilm_path(), model)
    weights = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    broken = process()
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "error: stage embed stopped: ModelError: cannot load" in broken.stderr
    nothing_blamed()
    # the model is installed at that path now: one run embeds every document
    (model / "model.safetensors").write_bytes(weights)
    fixed = process()
    assert fixed.returncode == 0, fixed.stderr
    assert re.search(r"^embed v\S+: 4 done, 0 rejected", fixed.stdout, re.M), fixed.stdout


class FaultyCluster(ClusterStage):
    """Fault injection: clustering raises on one document's batch (a bug its content hits)."""

    def process(self, batch, found=None, prepared=None):
        if any(d.url.endswith("/why-brussels-fears-a-real-ceasefire") for d in batch):
            raise ValueError("centroid update failed")
        return super().process(batch, found, prepared)


def test_a_whole_batch_stage_is_never_split_and_resumes_as_if_it_never_failed(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(ClusterStage, "batch_factor", 1)  # batches of 8: several of them
    reference = tmp_path / "reference.duckdb"
    store_demo_articles(reference)
    run_stages(reference, word_pipeline(), batch_size=8)

    db = tmp_path / "n.duckdb"
    store_demo_articles(db)
    bad = "/why-brussels-fears-a-real-ceasefire"
    with pytest.raises(StageFailed, match=rf"stage cluster stopped on a batch of 8 documents: "
                       rf"ValueError: centroid update failed .*fails from \S+{bad}"):  # fmt: skip
        run_stages(db, word_pipeline(FaultyCluster), batch_size=8)
    with connect(db, read_only=True) as con:
        clustered = con.execute(
            "SELECT count(*) FROM stage_state WHERE stage = 'cluster'"
        ).fetchone()[0]
        assert con.execute("SELECT count(*) FROM narrative_members").fetchone()[0] == clustered
        assert con.execute("SELECT count(*) FROM rejections").fetchone()[0] == 0
        [(url, attempts)] = con.execute("SELECT url, attempts FROM stage_errors").fetchall()
    assert url.endswith(bad) and attempts == 1  # the document named, not blamed yet
    assert clustered % 8 == 0 and clustered < len(load_articles())  # whole batches only
    run_stages(db, word_pipeline(), batch_size=8)  # the cause removed
    assert narratives(db) == narratives(reference)

    # a cause that stays: the third failing run sets the document aside and goes on without
    # it, in the same run (it used to stop there too, and leave the rest to a fourth)
    stuck = tmp_path / "stuck.duckdb"
    store_demo_articles(stuck)
    for _ in range(2):
        with pytest.raises(StageFailed):
            run_stages(stuck, word_pipeline(FaultyCluster), batch_size=8)
    third = run_stages(stuck, word_pipeline(FaultyCluster), batch_size=8)
    assert (third.stages[-1].stage, third.stages[-1].rejected) == ("cluster", 1)
    with connect(stuck, read_only=True) as con:
        [(reason, url)] = con.execute("SELECT reason, url FROM rejections").fetchall()
        members = con.execute("SELECT count(*) FROM narrative_members").fetchone()[0]
    assert reason == "stage_error" and url.endswith(bad)
    assert members == len(load_articles()) - 1


def test_an_embed_stage_reads_stored_vectors_through_typed_answers(tmp_path):
    """A copy reuses the vector of its original (a typed lookup answer, not a tuple)."""
    db = tmp_path / "n.duckdb"
    html = blog_page(title="Grain", paragraphs=["Grain prices rose again this week."] * 3,
                     date="2026-10-01", author="x")  # fmt: skip
    with connect(db) as con:
        store_pages(con, [PageRecord(url=f"https://{h}.example/a", source="s", origin="import",
                                     fetched_at=datetime.now(UTC), html=html)
                          for h in ("a", "b")])  # fmt: skip
    report = run_stages(db, [ExtractStage(), EmbedStage()], batch_size=1)
    assert report.stages[1].counters.get("reused_from_a_copy") == 1
