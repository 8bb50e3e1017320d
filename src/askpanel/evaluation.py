"""Score askpanel on the golden questions, beside a plain llama-index baseline, in one run.

What the user sees is what is scored: whether the lead itself answers (lead facts), whether a question whose
subject is covered but whose detail is not gets "the sources do not say" (near misses), and how long answers
are, by kind of question; beside recall, key facts anywhere in the answer, citation precision and refusals.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .assistant import Assistant
    from .models import Answer

GATES = {
    "recall_at_5": 0.9,
    "key_fact_rate": 0.9,
    "lead_hit_rate": 0.85,
    "citation_precision": 0.95,
    "refusal_accuracy": 0.95,
}
MAX_FALSE_REFUSALS = 0.02
MAX_P95_MS = 300.0
MAX_MEDIAN_WORDS = {"lookup": 300, "ideas": 600}
MAX_WORDS = 900
LOOKUP_KINDS = ("factual", "paraphrase", "follow_up", "near_miss")
IDEA_KINDS = ("ideas", "compare")
_MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class EvalItem:
    id: str
    kind: str
    question: str
    expected_docs: list[str]
    key_facts: list[str]
    covered: bool
    history: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    lead_facts: list[str] = field(default_factory=list)  # what the lead itself (its first sentences) must say


@dataclass
class Outcome:
    """One question's result for one system."""

    id: str
    ranked_docs: list[str]
    covered: bool
    facts_found: int
    facts_total: int
    facts_cited: int
    latency_ms: float
    confidence: float = 0.0
    lead_hit: bool | None = None  # None when the item names no lead facts
    words: int = 0
    status: str = ""
    lead: str = ""


@dataclass
class Scores:
    system: str
    questions: int
    recall_at_5: float
    mrr_at_10: float
    key_fact_rate: float
    lead_hit_rate: float
    citation_precision: float
    refusal_accuracy: float  # every question the corpus cannot answer: out of scope and near misses
    out_of_scope_accuracy: float
    near_miss_accuracy: float
    false_refusals: float
    median_words_lookup: float
    median_words_ideas: float
    max_words: int
    p50_ms: float
    p95_ms: float


@dataclass
class EvalResult:
    askpanel: Scores
    baseline: Scores | None
    suggested_min_score: float
    outcomes: list[Outcome]

    def failures(self) -> list[str]:
        s = self.askpanel
        failed = [f"{name} {getattr(s, name):.3f} < {gate}" for name, gate in GATES.items() if getattr(s, name) < gate]
        if s.false_refusals > MAX_FALSE_REFUSALS:
            failed.append(f"false_refusals {s.false_refusals:.3f} > {MAX_FALSE_REFUSALS}")
        if s.p95_ms > MAX_P95_MS:
            failed.append(f"p95_ms {s.p95_ms:.0f} > {MAX_P95_MS:.0f}")
        for kind, most in MAX_MEDIAN_WORDS.items():
            median = getattr(s, f"median_words_{kind}")
            if median >= most:
                failed.append(f"median_words_{kind} {median:.0f} >= {most}")
        if s.max_words > MAX_WORDS:
            failed.append(f"max_words {s.max_words} > {MAX_WORDS}")
        return failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        rows = [self.askpanel] + ([self.baseline] if self.baseline else [])
        names = ["recall_at_5", "mrr_at_10", "key_fact_rate", "lead_hit_rate", "citation_precision"]
        names += ["refusal_accuracy", "out_of_scope_accuracy", "near_miss_accuracy", "false_refusals"]
        names += ["median_words_lookup", "median_words_ideas", "max_words", "p50_ms", "p95_ms"]
        head = f"{'metric':<20}" + "".join(f"{r.system:>22}" for r in rows)
        lines = [head, "-" * len(head)]
        for name in names:
            lines.append(f"{name:<20}" + "".join(f"{float(getattr(r, name)):>22.3f}" for r in rows))
        lines.append(f"questions: {self.askpanel.questions}; suggested min_score: {self.suggested_min_score:.3f}")
        return "\n".join(lines)


def load_items(path: Path) -> list[EvalItem]:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        EvalItem(
            id=str(r["id"]),
            kind=str(r["kind"]),
            question=str(r["question"]),
            expected_docs=list(r.get("expected_docs") or []),
            key_facts=[str(f) for f in r.get("key_facts") or []],
            covered=bool(r.get("covered", True)),
            history=list(r.get("history") or []),
            filters=dict(r.get("filters") or {}),
            lead_facts=[str(f) for f in r.get("lead_facts") or []],
        )
        for r in raw
    ]


def run_eval(assistant: Assistant, questions: Path, baseline: bool = True) -> EvalResult:
    items = load_items(questions)
    assistant.warm()
    outcomes = [_ask(assistant, item) for item in items]
    scores = score("askpanel", items, outcomes)
    base = score("llama-index top_k=2", items, _baseline(assistant, items)) if baseline else None
    return EvalResult(scores, base, suggest_threshold(items, outcomes), outcomes)


def _ask(assistant: Assistant, item: EvalItem) -> Outcome:
    from .compose import gather
    from .understand import understand

    started = time.perf_counter()
    answer = assistant.ask(item.question, filters=item.filters, history=item.history)
    latency = (time.perf_counter() - started) * 1000
    query = understand(item.question, item.history, assistant.places())
    hits = gather(assistant, query, assistant.embedder.embed_one(query.text), item.filters)
    found, cited = _facts_in_answer(answer, item.key_facts)
    return Outcome(
        item.id,
        [h.passage.doc_id for h in hits],
        answer.covered,
        found,
        len(item.key_facts),
        cited,
        latency,
        answer.confidence,
        lead_hit=_lead_hit(answer.lead, item.lead_facts) if answer.covered else (False if item.lead_facts else None),
        words=answer.words(),
        status=answer.status,
        lead=answer.lead,
    )


def _lead_hit(lead: str, facts: list[str]) -> bool | None:
    """Whether the lead holds every lead fact; None when the item names none."""
    if not facts:
        return None
    text = lead.lower()
    return all(f.lower() in text for f in facts)


def _facts_in_answer(answer: Answer, facts: list[str]) -> tuple[int, int]:
    """How many key facts the answer states, and how many of those its cited passages really contain."""
    statements = [answer.lead, *answer.support] + [p for idea in answer.ideas for p in idea.points]
    passages = {c.n: c.passage.lower() for c in answer.citations}
    found = cited = 0
    for fact in facts:
        needle = fact.lower()
        holders = [s for s in statements if needle in s.lower()]
        if not holders:
            continue
        found += 1
        if any(needle in passages.get(int(n), "") for s in holders for n in _MARKER.findall(s)):
            cited += 1
    return found, cited


def _baseline(assistant: Assistant, items: list[EvalItem]) -> list[Outcome]:
    """Plain llama-index: default splitter, in-memory dense index, top_k=2, answer = the top passage."""
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from .chunking import split_sentences

    corpus = Path(assistant.settings.corpus)
    # Files named one by one: given a folder, the reader skips every file whose path has a dot-folder in it,
    # so a checkout under ~/.cache would have no corpus at all.
    files = sorted(str(p) for p in corpus.glob("*.md") if p.name != "README.md" and not p.name.startswith("."))
    docs = SimpleDirectoryReader(input_files=files).load_data()
    index = VectorStoreIndex.from_documents(docs, embed_model=assistant.embedder.llama)
    retriever = index.as_retriever(similarity_top_k=2)
    outcomes = []
    for item in items:
        started = time.perf_counter()
        nodes = retriever.retrieve(item.question)
        top = nodes[0].node.get_content() if nodes else ""
        latency = (time.perf_counter() - started) * 1000
        found = sum(1 for f in item.key_facts if f.lower() in top.lower())
        ranked = [f"{corpus.name}/{n.node.metadata.get('file_name', '')}" for n in nodes]
        lead = " ".join(split_sentences(top)[:2])  # what a reader sees first of its answer
        outcome = Outcome(item.id, ranked, bool(nodes), found, len(item.key_facts), found, latency)
        outcome.lead_hit = _lead_hit(lead, item.lead_facts)
        outcome.words = len(top.split())
        outcomes.append(outcome)
    return outcomes


def score(system: str, items: list[EvalItem], outcomes: list[Outcome]) -> Scores:
    pairs = list(zip(items, outcomes, strict=True))
    answerable = [(i, o) for i, o in pairs if i.covered]
    unanswerable = [(i, o) for i, o in pairs if not i.covered]
    with_docs = [(i, o) for i, o in answerable if i.expected_docs]
    recall = [len(set(i.expected_docs) & set(o.ranked_docs[:5])) / len(set(i.expected_docs)) for i, o in with_docs]
    mrr = [_reciprocal_rank(i.expected_docs, o.ranked_docs[:10]) for i, o in with_docs]
    found = sum(o.facts_found for _, o in answerable)
    total = sum(o.facts_total for _, o in answerable)
    cited = sum(o.facts_cited for _, o in answerable)
    leads = [o.lead_hit for i, o in answerable if o.lead_hit is not None]
    latencies = np.array([o.latency_ms for o in outcomes])
    return Scores(
        system=system,
        questions=len(items),
        recall_at_5=_mean(recall),
        mrr_at_10=_mean(mrr),
        key_fact_rate=found / total if total else 1.0,
        lead_hit_rate=_mean([1.0 if hit else 0.0 for hit in leads]),
        citation_precision=cited / found if found else 1.0,
        refusal_accuracy=_mean([0.0 if o.covered else 1.0 for _, o in unanswerable]),
        out_of_scope_accuracy=_mean([0.0 if o.covered else 1.0 for i, o in unanswerable if i.kind == "out_of_scope"]),
        near_miss_accuracy=_mean([0.0 if o.covered else 1.0 for i, o in unanswerable if i.kind == "near_miss"]),
        false_refusals=_mean([0.0 if o.covered else 1.0 for _, o in answerable]),
        median_words_lookup=_median([o.words for i, o in pairs if i.kind in LOOKUP_KINDS]),
        median_words_ideas=_median([o.words for i, o in pairs if i.kind in IDEA_KINDS]),
        max_words=max((o.words for o in outcomes), default=0),
        p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else 0.0,
        p95_ms=float(np.percentile(latencies, 95)) if len(latencies) else 0.0,
    )


def suggest_threshold(items: list[EvalItem], outcomes: list[Outcome]) -> float:
    """The refusal threshold that best separates answerable from out-of-scope questions on this set (near misses
    are refused by what they ask for, not by this threshold, so they are left out)."""
    pairs = [(o.confidence, i.covered) for i, o in zip(items, outcomes, strict=True) if i.kind != "near_miss"]
    best, best_cost = 0.0, float("inf")
    for threshold in sorted({c for c, _ in pairs}):
        false_refusals = sum(1 for c, ok in pairs if ok and c < threshold)
        false_answers = sum(1 for c, ok in pairs if not ok and c >= threshold)
        cost = 2 * false_refusals + false_answers  # a wrong refusal hides real evidence: weigh it double
        if cost < best_cost:
            best, best_cost = threshold, cost
    return best


def _reciprocal_rank(expected: list[str], ranked: list[str]) -> float:
    return next((1.0 / (rank + 1) for rank, doc in enumerate(ranked) if doc in expected), 0.0)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 1.0


def _median(values: list[int]) -> float:
    return float(np.median(values)) if values else 0.0
