"""The golden question set, scored in CI beside the plain llama-index baseline.

Gated here, as the issue asks: recall@5 >= 0.9, key-fact hit rate >= 0.85, citation precision >= 0.95,
refusal accuracy >= 0.9, false refusals <= 5%, and beating the baseline on each.
"""

from __future__ import annotations

from pathlib import Path

from askpanel import Assistant
from askpanel.evaluation import load_items, run_eval

QUESTIONS = Path(__file__).parent / "eval" / "questions.yaml"


def test_question_set_is_broad_enough() -> None:
    items = load_items(QUESTIONS)
    kinds = {kind: sum(1 for i in items if i.kind == kind) for kind in {i.kind for i in items}}
    assert len(items) >= 60
    assert kinds["out_of_scope"] >= 10
    assert {"factual", "paraphrase", "ideas", "compare", "follow_up"} <= set(kinds)


def test_askpanel_beats_the_llama_index_baseline_and_holds_its_gates(assistant: Assistant) -> None:
    result = run_eval(assistant, QUESTIONS, baseline=True)
    print("\n" + result.table())
    ours, base = result.askpanel, result.baseline
    assert base is not None
    assert ours.recall_at_5 >= 0.9
    assert ours.key_fact_rate >= 0.85
    assert ours.citation_precision >= 0.95
    assert ours.refusal_accuracy >= 0.9
    assert ours.false_refusals <= 0.05
    assert result.failures() == []  # `askpanel eval` exits non-zero on the same gates
    assert ours.recall_at_5 > base.recall_at_5
    assert ours.key_fact_rate > base.key_fact_rate
    assert ours.refusal_accuracy > base.refusal_accuracy
