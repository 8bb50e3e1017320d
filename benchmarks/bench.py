"""Answer benchmarks: retrieval and whole-answer latency, cold start and memory, from the bundled corpus to 100k chunks.

Usage: python benchmarks/bench.py [--sizes 1x,10x,100x,100000] [--questions 40] [--cli-runs 5]
       python benchmarks/bench.py --cold-only [--cli-runs 7]   # just the CLI cold start, bundled corpus
Each size runs in its own process, twice: the first start after an ingest builds and saves the keyword
index, the second loads it; each has its own peak memory and cold start. Stores larger than the bundled
corpus are generated: bundled passages with their sentences reshuffled, and their real embeddings plus
small noise (renormalised), so no 100k-chunk embedding run is needed; the output says so.

The CLI cold start is `askpanel ask` run as a user runs it, in a fresh process each time: interpreter
start-up, imports, opening the store, loading the keyword index and the model, the answer. Each run's wall
and CPU time, their medians, and where the time goes (phases timed in one more fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FALLBACK_QUESTIONS = [
    "When did a fire destroy Melton's council offices?",
    "How big was the transformation fund the panel proposed?",
    "How could a district get partners to trust each other with data?",
    "What did the Leicestershire triage car achieve?",
    "What were the three fundamental changes?",
    "What is the capital of France?",
]


def questions(limit: int) -> list[str]:
    import yaml

    path = ROOT / "tests" / "eval" / "questions.yaml"
    found = [str(r["question"]) for r in yaml.safe_load(path.read_text())] if path.exists() else []
    return (found or FALLBACK_QUESTIONS)[:limit]


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.array(values)
    return {f"p{p}": round(float(np.percentile(arr, p)), 1) for p in (50, 95, 99)}


def build_synthetic(home: Path, chunks: int, seed: int = 7) -> str:
    """Fill `home` with `chunks` generated passages derived from the bundled corpus (see module docstring)."""
    from askpanel import Assistant
    from askpanel.chunking import split_sentences
    from askpanel.models import DocumentRecord, Passage

    base_home = home.parent / "base"
    base = Assistant(home=base_home)
    base.ingest([ROOT / "corpus"])
    got = base.store._call(lambda s: s._chunks.get(include=["embeddings", "documents", "metadatas"]))
    originals = [
        Passage.from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    vectors = np.asarray(got["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(seed)
    shuffle = random.Random(seed)
    target = Assistant(home=home)
    per_doc = 10
    for start in range(0, chunks, 5000):
        batch, batch_vectors, records = [], [], []
        for i in range(start, min(start + 5000, chunks)):
            j = i % len(originals)
            src = originals[j]
            sentences = split_sentences(src.text)
            shuffle.shuffle(sentences)
            doc_id = f"generated/doc-{i // per_doc:06d}.md"
            batch.append(
                Passage(
                    chunk_id=f"gen-{i:07d}",
                    doc_id=doc_id,
                    text=" ".join(sentences),
                    title=f"{src.title} ({i // per_doc})",
                    doc_type=src.doc_type,
                    content_hash=f"h{i // per_doc}",
                    position=i % per_doc,
                    section=src.section,
                    place=src.place,
                    region=src.region,
                    themes=src.themes,
                    year=src.year,
                    url=src.url,
                )
            )
            noisy = vectors[j] + rng.normal(0, 0.02, size=vectors.shape[1]).astype(np.float32)
            batch_vectors.append(noisy / np.linalg.norm(noisy))
            if i % per_doc == 0:
                records.append(
                    DocumentRecord(
                        doc_id,
                        doc_id,
                        f"h{i // per_doc}",
                        per_doc,
                        batch[-1].title,
                        src.doc_type,
                        src.place,
                        src.region,
                        src.themes,
                        src.year,
                    )
                )
        target.store.put_passages(batch, np.stack(batch_vectors))
        target.store.commit(records)
    target.store.bump_revision()
    return "generated text (bundled passages, sentences reshuffled); embeddings = real bundled vectors + noise"


def measure(home: Path, n_questions: int, data: str, warm: bool = True) -> dict:
    """Run in a fresh process: cold start, then retrieval and answer latencies, baseline, peak memory.

    After the first answer the process warms up as `askpanel serve` does (Assistant.warm loads the torch model),
    so the latencies are a server's; with warm=False they are those of a process that never loads torch.
    """
    started = time.perf_counter()
    from askpanel import Assistant

    assistant = Assistant(home=home)
    qs = questions(n_questions)
    assistant.ask(qs[0])
    cold = time.perf_counter() - started
    if warm:
        assistant.warm()
    for q in qs[:3]:
        assistant.ask(q)  # warm the caches the steady state will have
    retrieval, whole = [], []
    for q in qs:
        t = time.perf_counter()
        assistant.retriever.search(q, assistant.embedder.embed_one(q), {}, k=assistant.settings.top_k)
        retrieval.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        assistant.ask(q)
        whole.append((time.perf_counter() - t) * 1000)
    if not warm:
        return {"answer_ms": percentiles(whole), "retrieval_ms": percentiles(retrieval)}
    baseline = baseline_latency(assistant, qs)
    return {
        "chunks": assistant.store.count(),
        "data": data,
        "cold_start_to_first_answer_s": round(cold, 2),
        "retrieval_ms": percentiles(retrieval),
        "answer_ms": percentiles(whole),
        "baseline_llama_index_top2_ms": percentiles(baseline),
        "peak_rss_mb": own_peak_rss_mb(),
        "questions": len(qs),
    }


def baseline_latency(assistant, qs: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    """Plain llama-index over the same Chroma collection: dense top_k=2, answer = the top passage."""
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    collection = assistant.store._call(lambda s: s._chunks)
    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=collection), embed_model=assistant.embedder.llama
    )
    retriever = index.as_retriever(similarity_top_k=2)
    times = []
    for q in qs:
        t = time.perf_counter()
        nodes = retriever.retrieve(q)
        _ = nodes[0].node.get_content() if nodes else ""
        times.append((time.perf_counter() - t) * 1000)
    return times


CLI_QUESTION = "How did places get partners to trust each other with data?"


def cli_cold_start(home: Path, runs: int, question: str = CLI_QUESTION) -> dict:
    """`askpanel ask QUESTION` in a fresh process, `runs` times: wall and CPU seconds of each, medians, peak RSS."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "askpanel", "--home", str(home), "ask", question], capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"askpanel ask failed on {home}: {done.stderr[-2000:]}")
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {
        "cli_cold_start_s": round(float(np.median(wall)), 2),
        "cli_cold_start_cpu_s": round(float(np.median(cpu)), 2),
        "cli_cold_start_runs_s": [round(w, 2) for w in wall],
        "cli_phases_s": phases_in_child(home, question),
    }


def phases_in_child(home: Path, question: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--phases", str(home), "--data", question],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def phases(home: Path, question: str) -> dict:
    """The steps of a cold answer one at a time, in a fresh process (the answer itself opens the store, loads the
    index and the model on first use; here each is done first, to time it). Interpreter start-up is not in it."""
    out: dict[str, float] = {}
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        out[name] = round(now - mark, 3)
        mark = now

    import askpanel.cli  # noqa: F401  (what `askpanel ask` imports before it starts)

    step("import askpanel")
    from askpanel import Assistant

    assistant = Assistant(home=home)
    assistant.store.revision()
    step("open the store (import chromadb, connect)")
    assistant.retriever.snapshot()
    step("load the keyword index")
    assistant.embedder.embed_one("warm up")
    step("load the model, embed one text")
    answer = assistant.ask(question)
    step("first answer")
    out.update({f"first answer: {k}": round(v / 1000, 3) for k, v in answer.timings_ms.items() if k != "total"})
    loaded = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    return {**out, "peak_rss_mb": own_peak_rss_mb(), "heavy modules loaded": loaded}  # type: ignore[dict-item]


def own_peak_rss_mb() -> float:
    """This process's peak memory. Not ru_maxrss: on Linux a child keeps the high-water mark its parent had when
    it was spawned (the parent here holds the torch model), while VmHWM belongs to the new address space."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


HEAVY = {"torch", "transformers", "sentence_transformers", "llama_index", "gradio", "matplotlib", "pandas", "nltk"}


def chunks_for(size: str, bundled: int) -> int:
    return bundled * int(size[:-1]) if size.endswith("x") else int(size)


def run_size(size: str, n_questions: int, workdir: Path, cli_runs: int = 5) -> dict:
    home = workdir / f"home-{size}"
    if size == "1x":
        from askpanel import Assistant

        Assistant(home=home).ingest([ROOT / "corpus"])
        data = "bundled corpus, real embeddings"
    else:
        from askpanel import Assistant

        bundled = Assistant(home=workdir / "probe")
        bundled.ingest([ROOT / "corpus"])
        data = build_synthetic(home, chunks_for(size, bundled.store.count()))
    # The first start after an ingest builds the keyword index from Chroma and saves it; every later
    # start loads the saved one. Both are measured; the figures of the second run are the ones kept.
    first = measure_in_child(home, n_questions, data)
    again = measure_in_child(home, n_questions, data)
    cli = cli_cold_start(home, cli_runs) if cli_runs else {}
    row = {"size": size, **again, "cold_start_first_after_ingest_s": first["cold_start_to_first_answer_s"], **cli}
    if size == "1x":
        no_torch = measure_in_child(home, n_questions, data, warm=False)
        row["answer_ms_without_torch"] = no_torch["answer_ms"]
        row["retrieval_ms_without_torch"] = no_torch["retrieval_ms"]
    return row


def measure_in_child(home: Path, n_questions: int, data: str, warm: bool = True) -> dict:
    flags = [] if warm else ["--no-warm"]
    result = subprocess.run(
        [sys.executable, __file__, "--measure", str(home), "--questions", str(n_questions), "--data", data, *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["chunks"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (
        ("retrieval_ms", "retrieval"),
        ("answer_ms", "whole answer"),
        ("baseline_llama_index_top2_ms", "llama-index top_k=2"),
    ):
        left.plot(x, [r[key]["p95"] for r in rows], marker="o", label=f"{label} p95")
    left.set(xscale="log", xlabel="chunks in store", ylabel="ms", title="Latency (p95)")
    left.legend()
    right.plot(x, [r["peak_rss_mb"] for r in rows], marker="o", color="tab:red")
    right.set(xscale="log", xlabel="chunks in store", ylabel="MB", title="Peak memory (RSS)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(rows: list[dict]) -> str:
    head = "| chunks | data | retrieval p50/p95 ms | answer p50/p95 ms | llama-index top2 p95 ms "
    head += "| cold start s (first after ingest) | CLI cold start s (CPU s) | peak MB |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['chunks']:,} | {'real' if r['size'] == '1x' else 'generated'} "
            f"| {r['retrieval_ms']['p50']}/{r['retrieval_ms']['p95']} "
            f"| {r['answer_ms']['p50']}/{r['answer_ms']['p95']} | {r['baseline_llama_index_top2_ms']['p95']} "
            f"| {r['cold_start_to_first_answer_s']} ({r['cold_start_first_after_ingest_s']}) "
            f"| {r.get('cli_cold_start_s', '–')} ({r.get('cli_cold_start_cpu_s', '–')}) | {r['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1x,10x,100x,100000")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--cli-runs", type=int, default=5, help="fresh `askpanel ask` processes per size (0: none)")
    parser.add_argument("--cold-only", action="store_true", help="only the CLI cold start on the bundled corpus")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phases", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args.data, warm=not args.no_warm)))
        return
    if args.phases:
        print(json.dumps(phases(args.phases, args.data)))
        return
    if args.cold_only:
        with tempfile.TemporaryDirectory() as tmp:
            from askpanel import Assistant

            home = Path(tmp) / "home-1x"
            Assistant(home=home).ingest([ROOT / "corpus"])
            cli_cold_start(home, 1)  # the first start after an ingest may build the keyword index: not counted
            print(json.dumps(cli_cold_start(home, args.cli_runs), indent=2))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            row = run_size(size, args.questions, Path(tmp), args.cli_runs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    (RESULTS / "answers.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / "answers.png")
    print(table(rows))


if __name__ == "__main__":
    main()
