"""The golden question set, scored in CI beside the plain llama-index baseline.

The issue's targets live in askpanel.evaluation (GATES and the length and latency limits): `askpanel eval --check`
fails on any it misses. This test holds in CI the ones the engine meets today and must not lose: recall@5 >= 0.9,
citation precision >= 0.95, out-of-scope refusals >= 0.9, false refusals <= 5%, answer lengths and p95, and beating
the baseline on recall, key facts, the lead and refusals. Those it does not yet meet (key facts >= 0.9, the lead
>= 0.85, refusals with near misses >= 0.95, false refusals <= 2%) are printed beside it, so a run shows the gap.
"""

from __future__ import annotations

from pathlib import Path

from askpanel import Assistant
from askpanel.evaluation import MAX_MEDIAN_WORDS, MAX_P95_MS, MAX_WORDS, load_items, run_eval

QUESTIONS = Path(__file__).parent / "eval" / "questions.yaml"


def test_question_set_is_broad_enough() -> None:
    items = load_items(QUESTIONS)
    kinds = {kind: sum(1 for i in items if i.kind == kind) for kind in {i.kind for i in items}}
    assert len(items) >= 200
    assert kinds["out_of_scope"] >= 10 and kinds["near_miss"] >= 30
    assert {"factual", "paraphrase", "ideas", "compare", "follow_up"} <= set(kinds)
    lookups = [i for i in items if i.kind in ("factual", "follow_up") and i.covered]
    assert sum(1 for i in lookups if i.lead_facts) / len(lookups) >= 0.9, "look-ups say what the lead must hold"


def test_askpanel_beats_the_llama_index_baseline_and_holds_its_gates(assistant: Assistant) -> None:
    result = run_eval(assistant, QUESTIONS, baseline=True)
    print("\n" + result.table())
    print("targets not yet met: " + ("; ".join(result.failures()) or "none"))
    ours, base = result.askpanel, result.baseline
    assert base is not None
    assert ours.recall_at_5 >= 0.9
    assert ours.citation_precision >= 0.95
    assert ours.out_of_scope_accuracy >= 0.9
    assert ours.false_refusals <= 0.05
    assert ours.median_words_lookup < MAX_MEDIAN_WORDS["lookup"]
    assert ours.median_words_ideas < MAX_MEDIAN_WORDS["ideas"]
    assert ours.max_words <= MAX_WORDS
    assert ours.p95_ms <= MAX_P95_MS
    assert ours.recall_at_5 > base.recall_at_5
    assert ours.key_fact_rate > base.key_fact_rate
    assert ours.lead_hit_rate > base.lead_hit_rate
    assert ours.refusal_accuracy > base.refusal_accuracy
    # a ratchet below the targets: what the engine reaches today on the golden set, so no change loses it
    assert ours.lead_hit_rate >= 0.60
    assert ours.key_fact_rate >= 0.74
    assert ours.near_miss_accuracy >= 0.63


def test_the_baseline_reads_a_corpus_under_a_hidden_folder(tmp_path: Path) -> None:
    """A checkout under ~/.cache/... must still find its corpus: the reader skips dot-folders it is pointed at."""
    from askpanel.evaluation import EvalItem, _baseline

    corpus = tmp_path / ".cache" / "checkout" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "lamps.md").write_text("---\ntitle: Lamps\n---\nUrlbury replaced 900 street lamps in 2013.\n")
    (corpus / "README.md").write_text("Not a document.\n")
    assistant = Assistant(home=tmp_path / "home", corpus=corpus)
    item = EvalItem("h1", "factual", "How many lamps did Urlbury replace?", ["corpus/lamps.md"], ["900"], True)
    [outcome] = _baseline(assistant, [item])
    assert outcome.facts_found == 1 and outcome.ranked_docs == ["corpus/lamps.md"]
