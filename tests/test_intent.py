"""Reading a question: the kind of answer it wants, the figures it names, and the clause a partial answer opens with."""

from __future__ import annotations

import pytest

from askpanel import facts
from askpanel.facts import carries, has_change, holds
from askpanel.intent import missing_sentence, read_intent


@pytest.mark.parametrize(
    ("question", "lead"),
    [
        (
            "Which software vendor did Oldham use to match family records?",
            "The sources do not say which software vendor Oldham used to match family records.",
        ),
        (  # a noun before "and" is no verb: "police and fire station", not "policed"
            "How much a year did the shared police and fire station at Thrapston save?",
            "The sources do not say how much a year the shared police and fire station at Thrapston saved.",
        ),
        (  # the verb is the first one after the subject, not the question's last word
            "How many serious case reviews did the Centre of Excellence go through for its 2016 child protection"
            " report?",
            "The sources do not say how many serious case reviews the Centre of Excellence went through for its 2016"
            " child protection report.",
        ),
        (
            "In the first phase of troubled families, how much could a council claim per family?",
            "The sources do not say how much a council could claim per family.",
        ),
        (  # two parts, the first turned on its own verb
            "How many bids did the 2013-14 Transformation Challenge Award receive, and how many succeeded?",
            "The sources do not say how many bids the 2013-14 Transformation Challenge Award received and how many"
            " succeeded.",
        ),
        (  # a preposition before the wh-phrase stays with it
            "By how many calls a year did the Margate Task Force cut 999 calls from its frequent callers?",
            "The sources do not say by how many calls a year the Margate Task Force cut 999 calls from its frequent"
            " callers.",
        ),
        (  # "say" takes the clause after it: the verb to turn is "say", not the last one
            "By how much did the North West ambulance service say calls from its frequent callers fell?",
            "The sources do not say by how much the North West ambulance service said calls from its frequent callers"
            " fell.",
        ),
        (  # a bare plural subject, and a verb that doubles its last letter
            "How many bids did councils submit?",
            "The sources do not say how many bids councils submitted.",
        ),
        (  # the wh-phrase holds the subject, and "were cut" stays as asked
            "How many posts were cut when North and North East Lincolnshire merged their HR and legal teams?",
            "The sources do not say how many posts were cut when North and North East Lincolnshire merged their HR and"
            " legal teams.",
        ),
        ("Which four areas were chosen as pilots?", "The sources do not say which four areas were chosen as pilots."),
        (  # "shared" describes the office; the verb is "meant"
            "How many staff was Melton's new shared office in Parkside meant to hold?",
            "The sources do not say how many staff Melton's new shared office in Parkside was meant to hold.",
        ),
        ("What was the award given for?", "The sources do not say what the award was given for."),
        (  # "helped by" describes the adults: "was" goes after the whole subject
            "What was the reoffending rate for adults helped by Supporting Leicestershire Families?",
            "The sources do not say what the reoffending rate for adults helped by Supporting Leicestershire"
            " Families was.",
        ),
        (  # "and the county" belongs to the subject
            "Were Melton and the county hoping to share data?",
            "The sources do not say whether Melton and the county were hoping to share data.",
        ),
        # shapes the clause cannot turn get the plain sentence, never a garbled one
        (
            "How big a single pot did the reviewers want?",
            "The sources do not answer that question directly.",
        ),
        (
            "Our force wants to know what Leicestershire Police said in 2021 about the triage car.",
            "The sources do not answer that question directly.",
        ),
    ],
)
def test_a_partial_answer_opens_with_the_question_turned_into_a_clause(question: str, lead: str) -> None:
    assert missing_sentence(read_intent(question)) == lead


@pytest.mark.parametrize(
    ("question", "wants"),
    [
        ("Who led the Public Service Transformation Network?", "who"),
        ("When was the Public Service Transformation Network announced?", "when"),
        ("What were the bidding deadlines for the 2014-16 Transformation Challenge Award?", "when"),
        ("How many agencies take part in the Margate Task Force?", "how_many"),
        ("By how much did calls from frequent callers fall?", "how_many"),  # a change: any figure answers
        ("For how long did the Blackpool pilot run?", "how_many"),
        ("What proportion of working-age people in Birkenhead were out of work?", "how_many"),
        ("What was Sir Derek Myers paid as co-chair?", "how_much"),
        ("What did the alternative-to-custody scheme return for every pound spent?", "how_much"),  # a sum per £1
        ("Why did Melton build a new shared building?", "why"),
        ("Which four areas were chosen as Whole Place Community Budget pilots?", "which"),
        ("Did the panel want a single pot for each place?", "yes_no"),
        # a question about a statement asks what the statement was about
        ("We want to know what the police said in 2021 about how many people were detained.", "how_many"),
        ("What did Solace say about the report?", "what"),
    ],
)
def test_the_kind_of_answer_comes_from_the_form_of_the_question(question: str, wants: str) -> None:
    assert read_intent(question).wants == wants


@pytest.mark.parametrize(
    ("question", "also"),
    [
        ("When was the network announced, and who was put in charge of it?", ("who",)),
        ("Who ran both councils as chief executive, and since when?", ("when",)),
        ("Who led the network?", ()),
    ],
)
def test_a_second_part_asks_for_a_second_kind_of_answer(question: str, also: tuple[str, ...]) -> None:
    assert read_intent(question).also == also


@pytest.mark.parametrize(
    ("question", "head", "names"),
    [
        ("How many of the borough's own staff moved into Parkside?", "staff", ["Parkside"]),  # counted past "of the"
        ("How many of them moved in?", "", []),  # a pronoun names nothing to count
        ("Roughly how many people did Blackpool's pilot help?", "people", ["Blackpool"]),  # "Roughly" is no name
        ("How many Birkenhead residents found jobs?", "birkenhead residents", ["Birkenhead"]),  # no auxiliary
        ("How many of the 400 people the workzones placed were still in work?", "people", []),  # not "400 ..."
    ],
)
def test_the_thing_counted_and_the_names_asked_about_come_from_the_question(
    question: str, head: str, names: list[str]
) -> None:
    intent = read_intent(question)
    assert (intent.head, intent.names) == (head, names)


@pytest.mark.parametrize(
    ("text", "figure", "found"),
    [
        ("DCLG gave £15 million for 2014–15.", "£15m", True),
        ("DCLG gave £15m for 2014–15.", "£15 million", True),
        ("It was worth £6.9 million.", "£6.9m", True),
        ("A £5 billion fund.", "£5bn", True),
        ("DCLG gave £150m.", "£15m", False),
        ("Taunton Deane was given £750,000.", "£750,000", True),
        ("In 2013 the pilot began.", "2014", False),
    ],
)
def test_a_sum_asked_for_in_one_form_is_found_in_another(text: str, figure: str, found: bool) -> None:
    assert holds(text, figure) is found


@pytest.mark.parametrize(
    ("sentence", "wants", "head", "answers"),
    [
        ("The council planned an office for its 170 staff.", "how_many", "staff", True),
        # a duration counts time, not the staff asked about
        ("The county council pulled its staff out of Parkside 14 months earlier.", "how_many", "staff", False),
        ("Crews receive five more days of ambulance aid training.", "how_many", "lives", False),
        # a share and a ratio say nothing of how many there are
        ("About 80% of the families turned their lives around.", "how_many", "families", False),
        ("The programme gives each family one key worker.", "how_many", "workers", False),
        ("The programme employs 40 key workers, one key worker per family.", "how_many", "workers", True),
        ("The pilot ran for six months.", "how_many", "", True),  # "how long": the duration is the answer
        # two councils named without the word "Council"
        ("The post was shared between Kensington & Chelsea and Hammersmith & Fulham.", "which", "councils", True),
        # "who checked it?" is answered by a body as well as by a person
        ("The University of East Anglia evaluated the pilot independently.", "who", "", True),
        ("The pilot was evaluated independently.", "who", "", False),
        # the source a sentence names is not who did what was asked
        ("The network was announced on 21 March 2013, according to the BBC.", "who", "", False),
        # an owner's thing, and a place with a compass word, are not people
        ("Blackpool's High Intensity pilot began in August 2013.", "who", "", False),
        ("The pilot covered South Holland and East Lindsey.", "who", "", False),
        ("Rhian Monteith led the pilot.", "who", "", True),
    ],
)
def test_a_sentence_carries_the_fact_asked_only_when_it_counts_or_names_what_was_asked(
    sentence: str, wants: str, head: str, answers: bool
) -> None:
    assert (carries(sentence, wants, head=head) >= 0.7) is answers


def test_a_name_made_of_the_questions_own_words_does_not_answer_who() -> None:
    question = "Who evaluated the tri-borough care proceedings pilot?"
    assert carries("The Tri-borough Care Proceedings Pilot lasted a year.", "who", question=question) < 0.7
    assert carries("The University of East Anglia evaluated the pilot.", "who", question=question) >= 0.7


@pytest.mark.parametrize(
    ("question", "change"),
    [
        ("By how much did the ambulance service say calls from its frequent callers fell?", True),
        ("How much did crime fall in Margate?", True),
        ("How many bids did the award receive?", False),
        ("How much did the partners pool?", False),
        ("When did detentions fall?", False),  # a date, not a figure
    ],
)
def test_a_question_about_how_far_a_figure_moved_asks_for_a_change(question: str, change: bool) -> None:
    assert read_intent(question).change is change


@pytest.mark.parametrize(
    ("sentence", "question", "states"),
    [
        ("NWAS reported that calls from those 83 people fell from 667 to 242 (64%).", "calls fell", True),
        ("Detentions dropped from 450 a year to 158.", "detentions fell", True),
        ("The survey covered 12 of the 13 ambulance services.", "calls fell", False),  # a count, no change
        ("Ambulance call-outs were rising by roughly 6% a year.", "calls fell", False),  # the other way
        ("Ambulance call-outs were rising by roughly 6% a year.", "call-outs rose", True),
    ],
)
def test_a_change_is_stated_only_by_a_move_the_way_the_question_asks(
    sentence: str, question: str, states: bool
) -> None:
    assert has_change(sentence, question) is states


@pytest.mark.parametrize(
    ("question", "per"),
    [
        ("How much a year did the shared station at Thrapston save?", "year"),
        ("What did Hampshire's programme cost per family in its first phase?", "family"),
        ("What did the alternative-to-custody scheme return for every pound spent?", "pound"),
        ("How many of the 400 people were still in a job a year later?", ""),  # "a year later" is no rate
        ("What yearly saving could community budgets bring if every area adopted them?", "year"),  # "every area": no
        ("What saving could community budgets bring if every area adopted them?", ""),  # ... rate at all
    ],
)
def test_a_figure_asked_per_unit_is_a_rate(question: str, per: str) -> None:
    assert read_intent(question).per == per


@pytest.mark.parametrize(
    ("text", "unit", "rate"),
    [
        ("an average benefit of about £62,649 per family", "family", True),
        ("councils could earn up to £4,000 for each family helped", "family", True),
        ("troubled families had cost the government about £119 million in Hampshire in 2011", "family", False),
        ("the station saves about £100,000 a year", "year", True),
        ("the station cost £2 million in 2012", "year", False),
    ],
)
def test_only_a_figure_per_unit_answers_a_rate(text: str, unit: str, rate: bool) -> None:
    assert facts.gives_rate(text, unit) is rate


def test_a_year_is_not_a_count_of_the_thing_asked() -> None:
    assert not facts.quantity_of("allowed Adur and Worthing in 2013 to move office staff", "staff")
    assert facts.quantity_of("an office for its 170 staff", "staff")
