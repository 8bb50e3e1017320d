"""Ingest benchmark: the whole pipeline's chunks/second beside the model's raw embedding speed on the same texts.

Usage: python benchmarks/bench_ingest.py [--docs 1000] [--seed 13] [--no-bundled]

For the bundled corpus and for a generated corpus of --docs Markdown case studies (300-600 words each, with front
matter, the same bytes for the same seed) it measures, in one process with the model already loaded:
  * pipeline: Assistant.ingest into an empty store — discover, read, parse, chunk, embed, write, commit;
  * raw: Embedder.embed on exactly the strings the pipeline embedded, in the same batches;
  * overhead: (pipeline - raw) / raw — the issue's target is at most 15%;
  * the pipeline with the model swapped for a free stand-in: its own cost, free of embedding-time noise;
  * no-change re-ingest of the same files by a new Assistant (target under 2 s for 1,000 files), and the same
    through the CLI in a fresh process (which adds interpreter start-up and imports);
  * peak RSS of this process after each phase.
Prints a table and writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_OVERHEAD_PCT = 15.0
TARGET_NOCHANGE_S = 2.0

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# -- a generated corpus ---------------------------------------------------------------------------------------

PLACES = [
    ("Swindon", "South West"),
    ("Leeds", "Yorkshire and the Humber"),
    ("Oldham", "North West"),
    ("Melton", "East Midlands"),
    ("Margate", "South East"),
    ("Staffordshire", "West Midlands"),
    ("Cheshire West and Chester", "North West"),
    ("Leicestershire", "East Midlands"),
    ("Bath and North East Somerset", "South West"),
    ("Greater Manchester", "North West"),
    ("Essex", "East of England"),
    ("Camden", "London"),
    ("Sunderland", "North East"),
    ("Cornwall", "South West"),
    ("Norfolk", "East of England"),
    ("Bristol", "South West"),
]
THEMES = [
    "troubled-families",
    "information-sharing",
    "pooled-budgets",
    "co-location",
    "employment",
    "mental-health",
    "early-help",
    "culture-trust",
    "multiple-complex-needs",
    "devolution",
]
PARTNERS = [
    "the county council",
    "the district council",
    "the police",
    "the clinical commissioning group",
    "Jobcentre Plus",
    "the fire and rescue service",
    "housing associations",
    "the probation service",
    "local schools",
    "voluntary sector groups",
]
ACTIONS = [
    "pooled part of their budgets into one fund for families with complex needs",
    "placed staff from several agencies in one building so residents had a single front door",
    "signed an information sharing protocol and appointed a data lead in each partner",
    "gave each family one key worker who coordinated the help of every agency",
    "paired police officers with mental health nurses on evening shifts",
    "opened a skills centre with the college to train long-term unemployed residents",
    "ran workshops where front-line staff redesigned the referral process themselves",
    "used a shared case management system to see which agencies knew a family",
    "commissioned a voluntary sector partner to reach people who avoided statutory services",
    "agreed a payment-by-results contract tied to school attendance and offending",
]
BARRIERS = [
    "Managers worried that sharing records would breach data protection law.",
    "Each agency measured success differently, so savings were hard to attribute.",
    "Funding came in one-year grants, which made long-term staff hard to recruit.",
    "Some partners saw the new team as a threat to their own services.",
    "IT systems could not talk to each other, so staff re-keyed the same information.",
    "Residents distrusted officials after earlier programmes had ended abruptly.",
    "Central government rules tied money to narrow outputs rather than outcomes.",
]
RESULTS_TEXT = [
    "Repeat calls to the police from the families involved fell by {n}% within a year.",
    "School attendance rose for {n}% of the children whose families took part.",
    "The council estimated gross savings of £{m} million over three years.",
    "{n} residents moved into jobs that lasted more than six months.",
    "Detentions under section 136 of the Mental Health Act fell by {n}%.",
    "Waiting times for a first assessment fell from {n} days to under a week.",
    "An evaluation found {n}% of families no longer needed statutory support after a year.",
]
CAVEATS = [
    "The evaluation had no control group, so some of the change may have happened anyway.",
    "The figures come from the council's own monitoring and were not independently audited.",
    "Later reports do not say whether the results lasted once the pilot funding ended.",
    "Staff turnover during the second year makes it hard to separate the model from the people.",
]
ADAPT = [
    "Start with one cohort of families that every partner already worries about.",
    "Agree what data each partner will share before building any shared system.",
    "Name one senior sponsor in each organisation who can unblock decisions.",
    "Measure a small number of outcomes that all partners value, not each agency's outputs.",
    "Budget for evaluation from the start so results can be trusted by funders.",
    "Co-locate a few staff first and expand once the working relationships hold.",
]
HEADINGS = [
    "The place and the problem",
    "Why it mattered",
    "What they did",
    "Barriers they met",
    "What happened",
    "What others said",
]
PROGRAMMES = ["Families First", "Working Together", "One Front Door", "Pathways", "Fresh Start", "Community Hub"]


def generate_doc(rng: random.Random, i: int) -> tuple[str, str]:
    """(file name, Markdown text) of one plausible case study of 300-600 words."""
    place, region = rng.choice(PLACES)
    programme = rng.choice(PROGRAMMES)
    year = rng.randint(2009, 2015)
    doc_type = rng.choices(["case_study", "context", "report"], weights=[8, 1, 1])[0]
    themes = rng.sample(THEMES, rng.randint(1, 3))
    target = rng.randint(310, 560)  # body words; headings and a last sentence past budget take it to 300-600

    def sentence() -> str:
        pick = rng.random()
        if pick < 0.35:
            a, b = rng.sample(PARTNERS, 2)
            return f"In {rng.randint(year - 2, year + 1)} {a} and {b} {rng.choice(ACTIONS)}."
        if pick < 0.55:
            return rng.choice(BARRIERS)
        if pick < 0.8:
            return rng.choice(RESULTS_TEXT).format(n=rng.randint(5, 60), m=rng.randint(1, 12))
        return rng.choice(CAVEATS)

    adapt_items = rng.sample(ADAPT, 3)
    intro = f"{programme} is the name {place} gave to its work on {themes[0].replace('-', ' ')}."
    headings = [h for h in HEADINGS if h in ("What they did", "What happened") or rng.random() < 0.5]
    weights = [rng.uniform(0.5, 2.0) for _ in headings]  # some sections long enough to need two passages
    body = target - len(intro.split()) - sum(len(a.split()) for a in adapt_items)
    sections = []
    for heading, weight in zip(headings, weights, strict=True):
        budget = body * weight / sum(weights)
        paras: list[str] = []
        words = 0
        while words < budget - 8:  # whole sentences, so a section ends within a sentence of its budget
            para: list[str] = []
            for _ in range(rng.randint(2, 5)):
                text = sentence()
                para.append(text)
                words += len(text.split())
                if words >= budget - 8:
                    break
            paras.append(" ".join(para))
        sections.append(f"## {heading}\n" + "\n\n".join(paras))
    adapt = "\n".join(f"- {item}" for item in adapt_items)
    sections.append(f"## To adapt it locally\n{adapt}")
    summary = f"How {place} ran {programme} with {rng.choice(PARTNERS)}, and what changed."
    front = (
        f'---\ntitle: "{place}: {programme} ({i})"\ndoc_type: {doc_type}\nplace: "{place}"\nregion: "{region}"\n'
        f"themes: [{', '.join(themes)}]\nyear: {year}\nsources:\n  - https://example.org/cases/{i}\n"
        f'summary: "{summary}"\n---\n'
    )
    return f"case-{i:05d}.md", front + intro + "\n\n" + "\n\n".join(sections) + "\n"


def write_corpus(folder: Path, n: int, seed: int) -> int:
    """Write n documents; return their total word count."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n):
        name, text = generate_doc(rng, i)
        (folder / name).write_text(text, encoding="utf-8")
        total += len(text.split())
    return total


# -- measuring ------------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Timers:
    """Wall time spent inside chosen functions, patched in place for the length of a `with` block."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, list[Any]] = defaultdict(list)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str, keep_args: bool = False) -> None:
        real = getattr(owner, name)

        @functools.wraps(real)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                if keep_args:
                    self.calls[label].append(args)

        had = name in vars(owner)  # an instance's bound method lives on its class: undo by deleting ours
        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, real) if had else delattr(owner, name))

    def __enter__(self) -> Timers:
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._undo):
            undo()


def timed_pipeline(assistant: Any, folder: Path) -> tuple[Any, float, float, list[list[str]], dict[str, float]]:
    """Ingest `folder` into an empty store.

    Returns the report, wall seconds, CPU seconds of this process (all threads), the batches of texts embedded,
    and wall seconds per stage.
    """
    import askpanel.ingest as ingest
    from askpanel.store import Store

    with Timers() as timers:
        timers.wrap(assistant.embedder, "embed", "embed", keep_args=True)
        timers.wrap(ingest, "read_source", "read")
        timers.wrap(ingest, "load_document", "parse")
        timers.wrap(ingest, "chunk_document", "chunk")
        for name in ("records", "pending", "begin", "put_passages", "commit", "sweep", "bump_revision"):
            timers.wrap(Store, name, "store")
        started, cpu = time.perf_counter(), time.process_time()
        report = assistant.ingest([folder])
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert report.ok, report.summary()
    batches = [list(args[0]) for args in timers.calls["embed"]]
    assert sum(len(b) for b in batches) == report.chunks_embedded
    return report, seconds, cpu, batches, dict(timers.seconds)


def raw_embed(embedder: Any, batches: list[list[str]]) -> tuple[float, float]:
    """Wall and CPU seconds to embed the very strings the pipeline embeds, in the same batches."""
    started, cpu = time.perf_counter(), time.process_time()
    for texts in batches:
        embedder.embed(texts)
    return time.perf_counter() - started, time.process_time() - cpu


def measure(label: str, folder: Path, work: Path) -> dict[str, Any]:
    """Pipeline and raw embedding on the same texts, in the order null pipeline, raw, pipeline, raw.

    A first pass through the model on new batch shapes is slower (kernel selection), so the pipeline is
    compared with the second raw pass, and runs itself after the first one: both see warm kernels.
    """
    import numpy as np

    from askpanel import Assistant

    assistant = Assistant(home=work / f"home-{label}")
    started = time.perf_counter()
    assistant.embedder.embed(["warm up the model before timing"])
    model_load = time.perf_counter() - started
    rss_model = current_rss_mb()

    # 1. The pipeline with the model replaced by a stand-in that costs nothing: its own work, and the texts.
    null = Assistant(home=work / f"home-{label}-null")
    pool = np.random.default_rng(0).standard_normal((512, 384)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)  # unit vectors, as the model gives: the index does real work
    null.embedder.embed = lambda texts: pool[np.arange(len(texts)) % len(pool)]  # type: ignore[method-assign]
    _, null_seconds, null_cpu, batches, _ = timed_pipeline(null, folder)
    null.store.close()
    chunks = sum(len(b) for b in batches)

    raw_first, _ = raw_embed(assistant.embedder, batches)  # 2. raw, first pass over these shapes
    report, pipeline, pipeline_cpu, seen, stages = timed_pipeline(assistant, folder)  # 3. the real pipeline
    assert seen == batches, "the pipeline embedded other texts than the null run"
    rss_after_pipeline, rss_now = peak_rss_mb(), current_rss_mb()
    raw, raw_cpu = raw_embed(assistant.embedder, batches)  # 4. raw again

    fresh = Assistant(home=assistant.settings.home)
    started = time.perf_counter()
    again = fresh.ingest([folder])
    nochange = time.perf_counter() - started
    assert again.chunks_embedded == 0 and len(again.unchanged) == len(report.added), again.summary()
    fresh.store.close()
    assistant.store.close()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    started = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "askpanel", "--home", str(assistant.settings.home), "ingest", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    nochange_cli = time.perf_counter() - started
    assert cli.returncode == 0 and " 0 chunks embedded" in cli.stdout, cli.stdout + cli.stderr

    other = pipeline - sum(stages.values())
    return {
        "corpus": label,
        "documents": len(report.added),
        "chunks": chunks,
        "model_load_s": round(model_load, 2),
        "pipeline_s": round(pipeline, 2),
        "pipeline_chunks_per_s": round(chunks / pipeline, 1),
        "raw_embed_s": round(raw, 2),
        "raw_embed_chunks_per_s": round(chunks / raw, 1),
        "raw_embed_first_pass_s": round(raw_first, 2),
        "overhead_pct": round((pipeline - raw) / raw * 100, 1),
        "overhead_target_pct": TARGET_OVERHEAD_PCT,
        "pipeline_cpu_s": round(pipeline_cpu, 2),
        "raw_embed_cpu_s": round(raw_cpu, 2),
        "overhead_cpu_pct": round((pipeline_cpu - raw_cpu) / raw_cpu * 100, 1),
        "pipeline_without_model_s": round(null_seconds, 2),
        "pipeline_without_model_cpu_s": round(null_cpu, 2),
        "pipeline_without_model_pct_of_raw": round(null_seconds / raw * 100, 1),
        "pipeline_breakdown_s": {
            "embed (inside the pipeline)": round(stages.get("embed", 0.0), 2),
            "store reads and writes": round(stages.get("store", 0.0), 2),
            "read files": round(stages.get("read", 0.0), 3),
            "parse": round(stages.get("parse", 0.0), 3),
            "chunk": round(stages.get("chunk", 0.0), 3),
            "other (discover, hashing, bookkeeping)": round(other, 3),
        },
        "nochange_reingest_s": round(nochange, 3),
        "nochange_reingest_cli_s": round(nochange_cli, 2),
        "nochange_target_s": TARGET_NOCHANGE_S,
        "rss_mb_after_model_load": rss_model,
        "peak_rss_mb_after_pipeline": rss_after_pipeline,
        "rss_mb_right_after_pipeline": rss_now,
        "peak_rss_mb": peak_rss_mb(),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'corpus':<16}{'docs':>6}{'chunks':>8}{'pipeline c/s':>14}{'raw c/s':>9}{'overhead':>10}{'(CPU)':>8}"
        f"{'no model':>10}{'no-change':>11}{'(CLI)':>8}{'peak RSS':>10}"
    ]
    for r in rows:
        lines.append(
            f"{r['corpus']:<16}{r['documents']:>6}{r['chunks']:>8}{r['pipeline_chunks_per_s']:>14}"
            f"{r['raw_embed_chunks_per_s']:>9}{r['overhead_pct']:>9}%{r['overhead_cpu_pct']:>7}%"
            f"{r['pipeline_without_model_s']:>9}s{r['nochange_reingest_s']:>10}s"
            f"{r['nochange_reingest_cli_s']:>7}s{r['peak_rss_mb']:>7} MB"
        )
    for r in rows:
        parts = ", ".join(f"{k} {v}s" for k, v in r["pipeline_breakdown_s"].items())
        lines.append(f"  {r['corpus']}: pipeline {r['pipeline_s']}s = {parts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1600, help="generated documents, about 10,000 chunks (0 to skip)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled corpus")
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="askpanel-bench-ingest-") as tmp:
        work = Path(tmp)
        if not args.no_bundled:
            rows.append(measure("bundled", ROOT / "corpus", work))
            print(table(rows[-1:]), flush=True)
        if args.docs:
            folder = work / "generated"
            started = time.perf_counter()
            words = write_corpus(folder, args.docs, args.seed)
            meta["generated"] = {
                "documents": args.docs,
                "seed": args.seed,
                "words": words,
                "mean_words": round(words / args.docs),
                "write_s": round(time.perf_counter() - started, 2),
            }
            rows.append(measure(f"generated-{args.docs}", folder, work))
            print(table(rows[-1:]), flush=True)

    from askpanel.config import load_settings
    from askpanel.embeddings import resolve_dtype

    settings = load_settings()
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
        "settings": {
            "embed_dtype": resolve_dtype(settings.embed_dtype),
            "embed_batch_size": settings.embed_batch_size,
            "chunk_words": settings.chunk_words,
        },
        **meta,
        "results": rows,
    }
    print()
    print(table(rows))
    print(
        f"(load average {result['machine']['load_average_1m']} on {os.cpu_count()} CPUs: wall-clock comparisons are "
        "only as steady as the machine; CPU time and the model-free run are less sensitive to other work)"
    )
    for r in rows:
        for kind, key in (("wall", "overhead_pct"), ("CPU", "overhead_cpu_pct")):
            verdict = "meets" if r[key] <= TARGET_OVERHEAD_PCT else "MISSES"
            print(
                f"{r['corpus']}: pipeline overhead ({kind} time) {r[key]}% {verdict} the {TARGET_OVERHEAD_PCT}% target"
            )
        print(
            f"{r['corpus']}: without the model the pipeline takes {r['pipeline_without_model_s']}s, "
            f"{r['pipeline_without_model_pct_of_raw']}% of the raw embedding time"
        )
        if r["documents"] >= 1000:
            verdict = "meets" if r["nochange_reingest_s"] < TARGET_NOCHANGE_S else "MISSES"
            seconds = r["nochange_reingest_s"]
            print(f"{r['corpus']}: no-change re-ingest {seconds}s {verdict} the {TARGET_NOCHANGE_S}s target")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(args.out.name + ".tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
