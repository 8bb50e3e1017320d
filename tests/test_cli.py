"""`askpanel ask` on the command line: the answer as text or JSON, follow-ups through --history, bad options named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from askpanel.cli import main


def ask(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "ask", *args])
    return result.exit_code, result.output


def test_ask_prints_the_lead_and_its_numbered_sources(corpus_home: Path) -> None:
    code, out = ask(corpus_home, "What did Melton build after the fire?")

    assert code == 0, out
    assert "Parkside" in out.split("Sources:")[0]
    assert "[1] " in out.split("Sources:")[1]


@pytest.mark.parametrize(
    "history",
    [
        ["What did Melton do at Parkside?"],
        ["What did Melton build after the fire?", "Who were the partners?"],
    ],
)
def test_what_about_a_new_place_after_melton_answers_for_that_place(corpus_home: Path, history: list[str]) -> None:
    options = [arg for question in history for arg in ("--history", question)]
    code, out = ask(corpus_home, "What about Margate?", "--json", *options)

    assert code == 0, out
    answer = json.loads(out)
    assert answer["citations"][0]["place"] == "Margate"
    assert "Melton" not in answer["lead"]


def test_history_carries_the_subject_into_a_question_that_does_not_name_it(corpus_home: Path) -> None:
    question = "Who were the partners?"
    _, alone = ask(corpus_home, question, "--json")
    _, follow_up = ask(corpus_home, question, "--json", "--history", "What did Melton build after the fire?")

    cited = {c["place"] for c in json.loads(follow_up)["citations"]}
    assert "Melton" in cited
    assert json.loads(alone)["lead"] != json.loads(follow_up)["lead"]


def test_a_filter_without_an_equals_sign_is_named_and_nothing_is_asked(corpus_home: Path) -> None:
    code, out = ask(corpus_home, "What did Melton build?", "--filter", "place")

    assert code == 2
    assert "--filter" in out and "expected KEY=VALUE" in out
