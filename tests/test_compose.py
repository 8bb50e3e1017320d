"""Reading a passage into answer units: sentences, and a label with the list under it as one unit."""

from __future__ import annotations

import pytest

from askpanel.compose import answer_units


@pytest.mark.parametrize(
    ("passage", "shown"),
    [
        (
            "The package had three parts:\n- £1m for nine councils;\n- £6m for 13 councils; and\n- £83m of provision.",
            "The package had three parts: £1m for nine councils; £6m for 13 councils; £83m of provision.",
        ),
        (  # items written as sentences keep one stop, at the end
            "Partners included:\n- Oldham Council.\n- Greater Manchester Police.",
            "Partners included: Oldham Council; Greater Manchester Police.",
        ),
        (
            "The four pilots were:\n- Essex\n- Greater Manchester\n- Cheshire West and Chester\n- West London",
            "The four pilots were: Essex; Greater Manchester; Cheshire West and Chester; West London.",
        ),
    ],
)
def test_a_label_and_its_list_read_as_one_sentence_without_doubled_punctuation(passage: str, shown: str) -> None:
    units = answer_units(passage)
    assert [s for s, _ in units] == [shown]
    assert units[0][1] == passage  # the citation quotes the list as it stands


def test_sentences_before_a_label_stay_sentences_of_their_own() -> None:
    passage = "Several local funds existed. Local funds included:\n- a skills fund\n- a housing fund"
    assert [s for s, _ in answer_units(passage)] == [
        "Several local funds existed.",
        "Local funds included: a skills fund; a housing fund.",
    ]
