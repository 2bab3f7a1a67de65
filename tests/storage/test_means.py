"""Language means: epochs as documents arrive, shrinkage of small languages, and the SQL
macros giving the same similarity as pipeline/similarity.py."""

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.similarity import document_vectors, story_vectors
from storage import connect
from storage import means as language_means
from storage.bulk import insert_rows
from storage.outputs.embed import COLUMNS as EMBED_COLUMNS

MODEL = "test-model"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
DIM = 8


def add(con, rng, n: int, lang: str, offset: np.ndarray, start: int = 0) -> list[str]:
    """n documents in ``lang`` whose vectors share the language's ``offset``."""
    ids = [f"{lang}-{start + i}" for i in range(n)]
    rows, vectors = [], []
    for doc_id in ids:
        text = rng.normal(size=DIM) + offset
        lead = text + rng.normal(scale=0.3, size=DIM)
        text, lead = text / np.linalg.norm(text), lead / np.linalg.norm(lead)
        vectors.append((doc_id, text, lead))
        rows.append((doc_id, f"https://x.test/{doc_id}", None, NOW, NOW, 1))
    insert_rows(
        con,
        "documents",
        [("doc_id", "VARCHAR"), ("canonical_url", "VARCHAR"), ("source", "VARCHAR"),
         ("first_seen_at", "TIMESTAMPTZ"), ("last_seen_at", "TIMESTAMPTZ"),
         ("current_version", "INTEGER")],
        rows,
    )  # fmt: skip
    insert_rows(
        con,
        "languages",
        [("doc_id", "VARCHAR"), ("version", "INTEGER"), ("stage_version", "VARCHAR"),
         ("lang", "VARCHAR"), ("confidence", "DOUBLE"), ("method", "VARCHAR")],
        [(d, 1, "1", lang, 1.0, "test") for d in ids],
    )  # fmt: skip
    insert_rows(
        con,
        "embeddings",
        EMBED_COLUMNS,
        [
            (d, 1, "2", MODEL, "test", DIM, "original", 1, False, d, None, NOW,
             t.tolist(), lead.tolist())
            for d, t, lead in vectors
        ],
    )  # fmt: skip
    return ids


@pytest.fixture
def store(tmp_path):
    db = tmp_path / "means.duckdb"
    with connect(db):
        pass
    return db


def test_epochs_follow_growth_and_small_languages_lean_on_the_whole(store):
    rng = np.random.default_rng(0)
    ru_offset, en_offset = np.eye(DIM)[0] * 3, np.eye(DIM)[1] * 3
    with connect(store) as con:
        add(con, rng, 40, "ru", ru_offset)
        add(con, rng, 2, "en", en_offset)
        assert language_means.refresh(con, MODEL, "original", NOW) == 3  # ru, en, '*'
        assert language_means.refresh(con, MODEL, "original", NOW) == 0  # nothing grew
        add(con, rng, 2, "ru", ru_offset, start=40)  # +5%: no new epoch for ru
        add(con, rng, 1, "en", en_offset, start=2)  # +50%: a new epoch for en
        assert language_means.refresh(con, MODEL, "original", NOW) == 1
        means = language_means.load(con, MODEL, "original")
        epochs = dict(
            con.execute(
                "SELECT lang, max(epoch) FROM language_means WHERE vector = 'text' GROUP BY 1"
            ).fetchall()
        )
        en_vectors = np.array(
            [r[0] for r in con.execute(
                "SELECT vector FROM embeddings WHERE doc_id LIKE 'en-%'").fetchall()]
        )  # fmt: skip
        overall = np.array(
            [r[0] for r in con.execute("SELECT vector FROM embeddings").fetchall()]
        ).mean(0)
    assert epochs == {"ru": 1, "en": 2, "*": 1}
    assert means.epochs[("text", "en")] == 2
    ru, en, whole = (means.mean("text", lang) for lang in ("ru", "en", "*"))
    # Russian's mean points along its offset; English, with 3 documents, leans on the whole:
    # SHRINK pseudo-documents of the mean over every document at the time
    assert np.argmax(ru) == 0
    shrink = language_means.SHRINK
    expected = (en_vectors.sum(0) + shrink * overall) / (len(en_vectors) + shrink)
    assert np.allclose(en, expected, atol=1e-5)
    assert means.mean("text", "und") is whole and means.mean("text", None) is whole
    assert means.mean("text", "fr") is whole


def test_centring_removes_the_language_offset(store):
    rng = np.random.default_rng(1)
    with connect(store) as con:
        add(con, rng, 400, "ru", np.eye(DIM)[0] * 3)
        add(con, rng, 400, "en", np.eye(DIM)[1] * 3)
        language_means.refresh(con, MODEL, "original", NOW)
        rows = con.execute(
            "SELECT e.doc_id, coalesce(lead_vector, vector), vector, l.lang FROM embeddings e "
            "JOIN languages l USING (doc_id) ORDER BY e.doc_id"
        ).fetchall()
        means = language_means.load(con, MODEL, "original")
        lead = np.array([r[1] for r in rows])
        text = np.array([r[2] for r in rows])
        langs = [r[3] for r in rows]
        raw = text / np.linalg.norm(text, axis=1, keepdims=True)
        centred = document_vectors(lead, text, langs, means)
        ru = np.array([lang == "ru" for lang in langs])
        # raw: documents of one language sit together; centred: no longer
        same_raw = (raw[ru] @ raw[ru].T).mean() - (raw[ru] @ raw[~ru].T).mean()
        same_centred = (centred[ru] @ centred[ru].T).mean() - (centred[ru] @ centred[~ru].T).mean()
        assert same_raw > 0.5 and abs(same_centred) < same_raw / 4
        # the SQL macro is the same similarity
        a, b = rows[0][0], rows[-1][0]
        sql = con.execute("SELECT doc_similarity(?, ?)", [a, b]).fetchone()[0]
        assert sql == pytest.approx(float(centred[0] @ centred[-1]), abs=1e-5)
        assert con.execute("SELECT doc_similarity(?, ?)", [a, a]).fetchone()[0] == pytest.approx(1)
        assert con.execute("SELECT doc_similarity(?, 'missing')", [a]).fetchone()[0] is None
        story = story_vectors(lead, langs, means)
        sql = con.execute("SELECT story_similarity(?, ?)", [a, b]).fetchone()[0]
        assert sql == pytest.approx(float(story[0] @ story[-1]), abs=1e-5)
