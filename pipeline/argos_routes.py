"""Translation through installed Argos Translate packages (pipeline/argos.py installs and
lists them): routes from each source language into the target, direct or pivoting through
English, that split paragraphs into sentences with the package's own splitter and send whole
batches of sentences to CTranslate2 in one call."""

from __future__ import annotations

from pathlib import Path

from pipeline.argos import PIVOT, _argos, _as_model, _installed_packages
from pipeline.errors import ModelError
from pipeline.textnorm import cap_length, split_sentences


class _Splitter:
    """The package's own sentence-boundary model where it ships one (MiniSBD or Stanza),
    else the rule-based splitter. Never downloads a model."""

    def __init__(self, pkg) -> None:
        self._detect = None
        sbd_dir = Path(pkg.package_path) / "minisbd"
        onnx = sorted(sbd_dir.glob("*.onnx")) if sbd_dir.is_dir() else []
        if onnx:
            from minisbd import SBDetect

            try:
                detector = SBDetect(str(onnx[0]), use_gpu=False)
            except Exception as err:  # noqa: BLE001 - a broken package is the setup's fault
                raise ModelError(
                    f"cannot load the sentence splitter {onnx[0]}: {type(err).__name__}: {err}"
                ) from err
            self._detect = detector.sentences
            self.kind = "minisbd"
        elif (Path(pkg.package_path) / "stanza").is_dir():
            from argostranslate.sbd import StanzaSentencizer

            self._detect = StanzaSentencizer(pkg).split_sentences
            self.kind = "stanza"
        else:
            self.kind = "rules"

    def __call__(self, paragraph: str) -> list[str]:
        if self._detect is None:
            return split_sentences(paragraph)
        return [s.strip() for s in self._detect(paragraph) if s.strip()]


class ArgosRoute:
    """Translation from one language to another through installed packages: the direct
    package, or two packages pivoting through English."""

    def __init__(self, packages: list, *, max_batch_tokens: int = 2048, max_chars: int = 400):
        _, settings = _argos()
        self._settings = settings
        self.packages = packages
        self.source = packages[0].from_code
        self.target = packages[-1].to_code
        self.model_id = "+".join(_as_model(p).model_id for p in packages)
        self.max_batch_tokens = max_batch_tokens
        self.max_chars = max_chars
        self._splitter = _Splitter(packages[0])
        self._translators: dict[int, object] = {}

    def sentences(self, paragraph: str) -> list[str]:
        """The units translated (and cached) one by one; long ones are cut at whitespace so
        nothing is lost to the model's input limit."""
        return cap_length(self._splitter(paragraph), self.max_chars)

    def _translator(self, i: int):
        if i not in self._translators:
            import ctranslate2

            s = self._settings
            path = Path(self.packages[i].package_path) / "model"
            try:
                self._translators[i] = ctranslate2.Translator(
                    str(path),
                    device=s.device,
                    inter_threads=s.inter_threads,
                    intra_threads=s.intra_threads,
                    compute_type=s.compute_type,
                )
            except Exception as err:  # noqa: BLE001 - a model that cannot load is the setup's fault
                raise ModelError(
                    f"cannot load the translation model {self.model_id} at {path}: "
                    f"{type(err).__name__}: {err}; reinstall it with narrascope models install"
                ) from err
        return self._translators[i]

    def translate(self, sentences: list[str]) -> list[str]:
        """Translate sentences in one batched model call per package in the route. A sentence
        over MAX_INPUT_TOKENS tokens (the character cap of ``sentences`` is not a token cap:
        a package whose vocabulary cuts a language into short pieces can make 400 characters
        several hundred tokens, past the model's position limit) is translated in pieces cut
        at word starts, and the pieces' translations joined."""
        texts = list(sentences)
        for i, pkg in enumerate(self.packages):
            if not texts:
                break
            pieces: list[list[str]] = []
            owner: list[int] = []  # the text each piece belongs to
            for n, text in enumerate(texts):
                for piece in _cut_tokens(pkg.tokenizer.encode(text), MAX_INPUT_TOKENS):
                    pieces.append(piece)
                    owner.append(n)
            prefix = [[pkg.target_prefix]] * len(pieces) if pkg.target_prefix else None
            results = self._translator(i).translate_batch(
                pieces,
                target_prefix=prefix,
                replace_unknowns=True,
                max_batch_size=self.max_batch_tokens,
                batch_type="tokens",
                beam_size=self._settings.beam_size,
                length_penalty=0.2,
            )
            joined: list[list[str]] = [[] for _ in texts]
            for n, result in zip(owner, results, strict=True):
                value = pkg.tokenizer.decode(result.hypotheses[0])
                if pkg.target_prefix and value.startswith(pkg.target_prefix):
                    value = value[len(pkg.target_prefix) :]
                joined[n].append(value.strip())
            space = "" if pkg.to_code in _WRITTEN_WITHOUT_SPACES else " "
            texts = [space.join(part for part in parts if part) for parts in joined]
        return texts


# Model inputs are cut to at most this many tokens: under the 256 positions of the smallest
# packages (Argos's own models allow 256 or more), with room for the end-of-sentence token.
MAX_INPUT_TOKENS = 200
WORD_START = "\u2581"  # SentencePiece's mark of a token that starts a word
# Languages whose pieces of one sentence join without a space.
_WRITTEN_WITHOUT_SPACES = {"zh", "ja", "th", "lo", "km", "my"}


def _cut_tokens(tokens: list[str], limit: int) -> list[list[str]]:
    """``tokens`` in as few pieces of at most ``limit`` as fit, of about equal length (so no
    word is left to be translated alone), each cut before a word start where one lies in the
    second half of the piece, else at that length."""
    assert limit > 0
    out = []
    while len(tokens) > limit:
        size = -(-len(tokens) // -(-len(tokens) // limit))  # the pieces left, of equal length
        cut = next(
            (j for j in range(size, size // 2, -1) if tokens[j].startswith(WORD_START)), size
        )
        out.append(tokens[:cut])
        tokens = tokens[cut:]
    if tokens or not out:
        out.append(tokens)
    return out


def routes(target: str, **options) -> dict[str, ArgosRoute]:
    """Source language -> route into ``target``, for every language the installed packages
    can translate: direct packages first, then pivots through English."""
    by_pair = {(p.from_code, p.to_code): p for p in _installed_packages()}
    chains: dict[str, list] = {}
    for (source, tgt), pkg in by_pair.items():
        if tgt == target and source != target:
            chains[source] = [pkg]
    if target != PIVOT and (PIVOT, target) in by_pair:
        for (source, tgt), pkg in by_pair.items():
            if tgt == PIVOT and source not in chains and source != target:
                chains[source] = [pkg, by_pair[(PIVOT, target)]]
        chains.setdefault(PIVOT, [by_pair[(PIVOT, target)]])
    return {source: _LazyRoute(chain, options) for source, chain in chains.items()}


class _LazyRoute:
    """Builds the route (loads sentence splitters and models) only when first used."""

    def __init__(self, packages: list, options: dict) -> None:
        self._packages = packages
        self._options = options
        self._route: ArgosRoute | None = None
        self.model_id = "+".join(_as_model(p).model_id for p in packages)

    def __getattr__(self, name):
        if self._route is None:
            self._route = ArgosRoute(self._packages, **self._options)
        return getattr(self._route, name)
