"""Build a tiny, offline Argos Translate package (.argosmodel) for tests and benchmarks.

Recipe from ../shared/docs/ENVIRONMENT.md: a SentencePiece model trained on a few hundred
lines, a random-weight MarianMT converted with CTranslate2, ``metadata.json``, and a
sentence-boundary model (``minisbd/<lang>.onnx``) so argostranslate never downloads one.
The translations are garbage; the package exercises the real install, load, sentence
splitting and translation code paths.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

# A few hundred varied lines in the languages the tests use; the content only shapes the vocabulary.
_SEED_LINES = [
    "Россия готова к переговорам о прекращении огня, заявил министр.",
    "Санкции Запада ударили по продовольственной безопасности Африки.",
    "Україна отримала нову партію озброєнь від союзників.",
    "Die Sanktionen schaden vor allem der europäischen Industrie.",
    "The ceasefire talks collapsed after the latest shelling.",
    "Would you like me to tailor this piece for a specific audience?",
    "Biolaboratories near the border raise questions, officials said.",
    "Русскоязычные жители Прибалтики сталкиваются с дискриминацией.",
]


def _corpus(n: int = 400) -> list[str]:
    lines = []
    for i in range(n):
        base = _SEED_LINES[i % len(_SEED_LINES)]
        words = base.split()
        rot = i % len(words)
        lines.append(" ".join(words[rot:] + words[:rot]) + f" {i}")
    return lines


def _sentencepiece(workdir: Path, vocab_size: int) -> Path:
    import sentencepiece as spm

    corpus = workdir / "corpus.txt"
    corpus.write_text("\n".join(_corpus()), encoding="utf-8")
    prefix = workdir / "sp"
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        character_coverage=1.0,
        model_type="unigram",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _marian(workdir: Path, sp_model: Path) -> Path:
    """A random-weight MarianMT with the SentencePiece vocabulary, saved with its tokenizer."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {p: i for i, p in enumerate(pieces)}
    vocab["<pad>"] = len(vocab)
    hf_dir = workdir / "hf"
    hf_dir.mkdir()
    shutil.copy(sp_model, hf_dir / "source.spm")
    shutil.copy(sp_model, hf_dir / "target.spm")
    (hf_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(hf_dir / "source.spm"),
        target_spm=str(hf_dir / "target.spm"),
        vocab=str(hf_dir / "vocab.json"),
        unk_token="<unk>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    tokenizer.save_pretrained(hf_dir)
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=vocab["</s>"],
    )
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(hf_dir)
    return hf_dir


def _sentence_splitter(path: Path, lang: str) -> None:
    """A character-level MiniSBD model: '.', '!', '?' end a sentence, a space ends a token."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    units = ["<PAD>", "<UNK>", " ", ".", "!", "?"]
    table = np.zeros((len(units), 5), dtype=np.float32)
    table[:, 0] = 1.0  # inside a token
    table[units.index(" "), :] = [0, 1, 0, 0, 0]
    for mark in ".!?":
        table[units.index(mark), :] = [0, 0, 1, 0, 0]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "units"], ["logits"], axis=0)],
        "tiny_sbd",
        [
            helper.make_tensor_value_info("units", TensorProto.INT64, ["batch", "chars"]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "chars", 0]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "chars", 5])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = {
        "lang_code": lang,
        "config": json.dumps({"feat_funcs": [], "max_seqlen": 300, "batch_size": 8}),
        "vocab": json.dumps(
            {
                "lang": lang,
                "idx": 0,
                "cutoff": 0,
                "lower": False,
                "_id2unit": units,
                "_unit2id": {u: i for i, u in enumerate(units)},
            }
        ),
        "lexicon": "null",
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def build_package(
    out_dir: Path,
    from_code: str = "ru",
    to_code: str = "en",
    *,
    from_name: str = "Russian",
    to_name: str = "English",
    version: str = "0.0.1-test",
    vocab_size: int = 160,
) -> Path:
    """Write ``translate-<from>_<to>-test.argosmodel`` into ``out_dir`` and return its path."""
    from ctranslate2.converters import TransformersConverter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"translate-{from_code}_{to_code}-test"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sp_model = _sentencepiece(work, vocab_size)
        hf_dir = _marian(work, sp_model)
        pkg = work / name
        TransformersConverter(str(hf_dir)).convert(str(pkg / "model"))
        shutil.copy(sp_model, pkg / "sentencepiece.model")
        (pkg / "minisbd").mkdir()
        _sentence_splitter(pkg / "minisbd" / f"{from_code}.onnx", from_code)
        metadata = {
            "package_version": version,
            "argos_version": "1.9",
            "from_code": from_code,
            "from_name": from_name,
            "to_code": to_code,
            "to_name": to_name,
            "type": "translate",
        }
        (pkg / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        archive = out_dir / f"{name}.argosmodel"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(pkg.rglob("*")):
                zf.write(path, path.relative_to(work))
    return archive
