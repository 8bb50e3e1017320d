"""all-MiniLM-L6-v2 without torch: a numpy forward pass over the bundled weights, for a quick first answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

DIM = 384
GROUP_TOKENS = 2048


@dataclass(frozen=True)
class _Layer:
    """One BERT encoder layer; matrices transposed for `x @ w`, query, key and value side by side."""

    qkv: np.ndarray
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


class NumpyMiniLM:
    """sentence-transformers' float32 vectors for this model (BERT, mean pooling, L2 norm), computed in numpy.

    Loading reads 90 MB of weights and the tokenizer (~0.3 s) instead of importing torch, transformers and
    sentence-transformers (~5 s). Texts are packed, not padded: each linear layer runs once over every token
    of the batch, and only attention goes text by text, so no work is spent on padding and a text's vector does
    not depend on the texts beside it.
    """

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config["layer_norm_eps"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json pads and truncates to 128 tokens; sentence-transformers cuts at max_seq_length (256) and
        # pads only to the longest text of a batch, which attention masks out: no padding at all is the same.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"])))
        w = load_file(str(model_dir / "model.safetensors"))
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [_layer(w, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, float32, one row per text."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        # A few thousand tokens at a time keep each intermediate array to a few MB (64 passages of 256 tokens
        # at once would hold ~100 MB per array), with matrices still large enough for BLAS to run at full speed.
        groups: list[list[list[int]]] = []
        group: list[list[int]] = []
        tokens = 0
        for row in ids:
            if group and tokens + len(row) > GROUP_TOKENS:
                groups.append(group)
                group, tokens = [], 0
            group.append(row)
            tokens += len(row)
        groups.append(group)
        return np.concatenate([self._encode(group) for group in groups])

    def _encode(self, ids: list[list[int]]) -> np.ndarray:
        lengths = np.array([len(i) for i in ids])
        starts = np.concatenate([[0], np.cumsum(lengths)])
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = self.word[np.concatenate(ids)] + self.position[positions] + self.token_type
        x = _layer_norm(x, *self.norm, self.eps)
        for layer in self.layers:
            x = self._layer(x, starts, layer)
        pooled = np.add.reduceat(x, starts[:-1], axis=0) / lengths[:, None].astype(np.float32)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return pooled

    def _layer(self, x: np.ndarray, starts: np.ndarray, layer: _Layer) -> np.ndarray:
        dim = x.shape[1]
        width = dim // self.heads
        qkv = x @ layer.qkv + layer.qkv_bias
        context = np.empty_like(x)
        scale = np.float32(1.0 / np.sqrt(width))
        for a, b in pairwise(starts):
            q, k, v = (
                qkv[a:b, i * dim : (i + 1) * dim].reshape(b - a, self.heads, width).transpose(1, 0, 2) for i in range(3)
            )
            scores = (q @ k.transpose(0, 2, 1)) * scale
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context[a:b] = (scores @ v).transpose(1, 0, 2).reshape(b - a, dim)
        x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.norm1, self.eps)
        return _layer_norm(
            x + _gelu(x @ layer.up + layer.up_bias) @ layer.down + layer.down_bias, *layer.norm2, self.eps
        )


def _layer(w: dict[str, np.ndarray], p: str) -> _Layer:
    attention = [f"{p}attention.self.{name}" for name in ("query", "key", "value")]
    return _Layer(
        qkv=np.ascontiguousarray(np.concatenate([w[f"{a}.weight"] for a in attention]).T),
        qkv_bias=np.concatenate([w[f"{a}.bias"] for a in attention]),
        out=np.ascontiguousarray(w[f"{p}attention.output.dense.weight"].T),
        out_bias=w[f"{p}attention.output.dense.bias"],
        norm1=(w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"]),
        up=np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T),
        up_bias=w[f"{p}intermediate.dense.bias"],
        down=np.ascontiguousarray(w[f"{p}output.dense.weight"].T),
        down_bias=w[f"{p}output.dense.bias"],
        norm2=(w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
    )


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: np.float32) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


# Eigen's float32 erf (also XLA's): a rational function on [-4, 4], within a few float32 ulps of the exact erf
# and faster than scipy's. GELU runs on every hidden unit of every token, six times over.
_ERF_P = [
    np.float32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
]
_ERF_Q = [
    np.float32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
]


def _erf(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, np.float32(-4), np.float32(4))
    x2 = x * x
    p = x2 * _ERF_P[0]
    p += _ERF_P[1]
    for c in _ERF_P[2:]:
        p *= x2
        p += c
    p *= x
    q = x2 * _ERF_Q[0]
    q += _ERF_Q[1]
    for c in _ERF_Q[2:]:
        q *= x2
        q += c
    p /= q
    return p


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) (not the tanh approximation), computed in place."""
    phi = _erf(x * np.float32(1 / np.sqrt(2)))
    phi += np.float32(1.0)
    phi *= np.float32(0.5)
    x *= phi
    return x
