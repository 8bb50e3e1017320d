"""A quick first answer: the torch-free model gives the same vectors, and a cold `askpanel ask` needs no torch.

Timing is measured in benchmarks/bench.py (CLI cold start); these tests pin the behaviour it relies on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from askpanel import Assistant
from askpanel.chunking import passage_header, split_sentences
from askpanel.embeddings import Embedder, _embed_numpy, resolve_dtype

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
GOLDEN = [str(item["question"]) for item in yaml.safe_load((ROOT / "tests/eval/questions.yaml").read_text())]
# What a one-off answer has no need of: each costs from half a second (nltk's package) to several (torch).
HEAVY = ("torch", "transformers", "sentence_transformers", "llama_index", "gradio", "matplotlib", "pandas", "nltk")


@pytest.fixture(scope="module")
def float32_model():  # type: ignore[no-untyped-def]
    """sentence-transformers' own model in float32: the reference the numpy model must reproduce."""
    return Embedder("float32").model


def reference(model, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    with torch.inference_mode():
        return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True))


def corpus_sentences(assistant: Assistant, n: int) -> list[str]:
    sentences = [s for p in assistant.retriever.snapshot().passages for s in split_sentences(p.text)]
    return sentences[:: max(1, len(sentences) // n)][:n]


def test_the_numpy_model_gives_sentence_transformers_float32_vectors(assistant: Assistant, float32_model) -> None:  # type: ignore[no-untyped-def]
    passages = assistant.retriever.snapshot().passages
    texts = corpus_sentences(assistant, 240) + GOLDEN
    # ingest's strings (header and text, some cut at 256 word pieces), and text no corpus holds
    texts += [f"{passage_header(p)}\n{p.text}" for p in passages[:: max(1, len(passages) // 20)]]
    texts += ["", " ", "x" * 5000, "Café naïve résumé — “quoted” 😀 中文 \u0000 \u200b", "a\n\n\tb"]

    ours = _embed_numpy(texts)
    theirs = reference(float32_model, texts)

    assert len(texts) >= 300
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    # The same vectors up to float32 rounding (measured: min cosine 0.9999999, largest difference 3e-7). The bar
    # is set where near misses fail: the tanh approximation of GELU gives 0.9999986 and differences of 3e-4.
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.999999, (cosine.min(), texts[int(cosine.argmin())][:80])
    assert np.abs(ours - theirs).max() <= 5e-6
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # one text's vector does not depend on the texts beside it
    assert np.allclose(_embed_numpy(texts[:1])[0], ours[0], atol=1e-5)


def test_golden_questions_retrieve_the_same_top_10_with_either_model(assistant: Assistant, float32_model) -> None:  # type: ignore[no-untyped-def]
    ours = _embed_numpy(GOLDEN)
    theirs = reference(float32_model, GOLDEN)
    for question, mine, reference_vector in zip(GOLDEN, ours, theirs, strict=True):
        got = [h.passage.chunk_id for h in assistant.retriever.search(question, mine, {}, k=10)]
        want = [h.passage.chunk_id for h in assistant.retriever.search(question, reference_vector, {}, k=10)]
        assert got == want, question


def test_stored_vectors_agree_with_the_numpy_model(assistant: Assistant) -> None:
    """Passages were embedded at ingest by torch (bfloat16 where the CPU has it); a cold process embeds questions
    in float32 with numpy."""
    got = assistant.store._call(lambda s: s._chunks.get(include=["embeddings"]))
    stored = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    passages = [p for p in assistant.retriever.snapshot().passages if p.chunk_id in stored]
    ours = _embed_numpy([f"{passage_header(p)}\n{p.text}" for p in passages[:60]])
    # normalised in bfloat16, stored vectors are unit length only to ~0.3% (Chroma's cosine space divides it out)
    cosine = np.array(
        [
            float(v @ stored[p.chunk_id]) / np.linalg.norm(stored[p.chunk_id])
            for v, p in zip(ours, passages, strict=False)
        ]
    )
    assert cosine.mean() >= 0.9999 and cosine.min() >= 0.999, (cosine.mean(), cosine.min())


def test_once_the_process_has_the_torch_model_small_batches_use_it(assistant: Assistant) -> None:
    """A server warms up with torch: its answers keep torch's speed, and one model answers every question."""
    embedder = Embedder(assistant.settings.embed_dtype, assistant.settings.embed_batch_size)
    embedder.warm()
    texts = ["How did Melton get partners to share a building?"]
    import torch

    with torch.inference_mode():
        direct = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.array_equal(embedder.embed(texts), np.asarray(direct, dtype=np.float32))


def test_an_answers_sentences_embed_alike_in_small_batches_and_one_at_a_time(assistant: Assistant) -> None:
    """Torch pads a batch to its longest text; batching short texts for speed must not move their vectors."""
    embedder = Embedder(assistant.settings.embed_dtype, assistant.settings.embed_batch_size)
    embedder.warm()
    texts = [
        *split_sentences(assistant.retriever.snapshot().passages[0].text)[:5],
        "Melton's shared building opened in 2010.",
        "A much longer sentence, " + "with clause after clause about joint working, " * 12 + "ends here.",
    ]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([text])[0] for text in texts])
    cosine = np.sum(together * alone, axis=1)
    assert cosine.min() >= 0.999, cosine


COLD_ASK = """
import json, sys
from askpanel.cli import main
main(["--home", sys.argv[1], "ask", sys.argv[2], "--json"], standalone_mode=False)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_a_cold_ask_answers_without_torch_llama_index_or_gradio(corpus_home: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            COLD_ASK,
            str(corpus_home),
            "How did places get partners to trust each other with data?",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    *answer_lines, modules_line = done.stdout.strip().splitlines()
    answer = json.loads("\n".join(answer_lines))
    assert answer["covered"] and answer["citations"] and "[1]" in json.dumps(answer)
    loaded = set(json.loads(modules_line))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


SPLIT_WITHOUT_NLTK_PACKAGE = """
import json, sys
from askpanel.chunking import _punkt
from askpanel.retrieval import _stopwords
texts = json.load(sys.stdin)
splits = [_punkt()(t) for t in texts]
private = "nltk" not in sys.modules
import nltk  # the whole package still imports and works after the private Punkt
from nltk import download
from nltk.tokenize import punkt
print(json.dumps({"splits": splits, "private": private, "after": _punkt()(texts[0]), "stopwords": sorted(_stopwords()),
                  "whole": callable(download) and hasattr(punkt, "PunktSentenceTokenizer")}))
"""


def test_sentences_and_stop_words_are_llama_indexs_without_importing_it(assistant: Assistant) -> None:
    """Passages (and so chunk ids) and answers depend on these: they must not change with the import."""
    import re

    from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer
    from llama_index.core.utils import globals_helper

    from askpanel.chunking import _logical_lines

    texts = [p.text for p in assistant.retriever.snapshot().passages]
    texts += [path.read_text(encoding="utf-8") for path in sorted((ROOT / "corpus").glob("*.md"))]
    texts += ["", "Mr. Smith met Dr. Jones at 3 p.m. in the U.K. Then... they left!  Did they? Yes.", "No stop"]
    texts += [line for t in texts for block in re.split(r"\n\s*\n", t) for line in _logical_lines(block)]
    done = subprocess.run(
        [sys.executable, "-c", SPLIT_WITHOUT_NLTK_PACKAGE],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)

    assert got["private"], "nltk's package was imported"
    assert got["whole"]
    llama_split = split_by_sentence_tokenizer()
    assert got["splits"] == [llama_split(t) for t in texts]
    assert got["after"] == got["splits"][0]
    extra = {"tell", "please", "could", "would", "us", "me", "also", "get", "many", "much"}
    assert set(got["stopwords"]) == set(globals_helper.stopwords) | extra


@pytest.mark.parametrize(
    ("setting", "avx512_bf16", "amx", "expected"),
    [
        ("auto", False, False, "float32"),  # emulated bfloat16 was measured 7x slower than float32 (AVX2 EPYC)
        ("auto", True, False, "bfloat16"),
        ("auto", False, True, "bfloat16"),  # AMX: 2.8x faster than float32, same vectors
        ("bfloat16", False, False, "bfloat16"),  # a setting made on purpose is kept
        ("float32", True, True, "float32"),
    ],
)
def test_auto_dtype_is_bfloat16_only_on_cpus_with_bfloat16_instructions(
    monkeypatch: pytest.MonkeyPatch, setting: str, avx512_bf16: bool, amx: bool, expected: str
) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert resolve_dtype(setting) == expected
