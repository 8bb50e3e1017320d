"""Read a question in the light of earlier turns: which places it means and what to search for."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .intent import DESCRIBES, IDEA_CUES, Intent, names_in, read_intent

MAX_QUESTION_CHARS = 2000
# Lone surrogates too: JSON can carry them ("\ud800"), but no tokenizer or UTF-8 encoder accepts them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")
_COMPARE = re.compile(
    r"\b(compare|comparing|comparison|versus|vs\.?|differ(?:ence|ent)?|side by side|contrast)\b", re.I
)
_FOLLOW_UP = re.compile(
    r"^\s*(what about|how about|and\b|what of|compare|who paid|who funded|what happened|how much|did it|did they)"
    r"|\b(it|that|this|they|them|those|these|there|their|its|he|she|him|her|his)\b",
    re.I,
)
_GENERIC_WORDS = {
    *("west", "east", "north", "south", "and", "the", "of", "somerset", "city", "county", "england", "borough"),
    *("council", "district", "town", "tri", "greater", "upon"),
}
ALIASES = {
    "banes": "Bath and North East Somerset",
    "b&nes": "Bath and North East Somerset",
    "thanet": "Margate",
    "cliftonville": "Margate",
    "cheshire": "West Cheshire",
}


@dataclass(frozen=True)
class Query:
    """What to search for: the question, widened by earlier turns when it leans on them."""

    question: str
    text: str
    places: list[str] = field(default_factory=list)
    compare: bool = False
    follow_up: bool = False
    ideas: bool = False  # asks for ways of doing something, so answers should range over several places
    intent: Intent = field(default_factory=lambda: Intent("what"))
    focus: list[str] = field(default_factory=list)  # the names it is about, carried from earlier turns if none


def clean_question(raw: str) -> str:
    """Strip control characters and runs of space; keep at most MAX_QUESTION_CHARS."""
    return " ".join(_CONTROL.sub(" ", raw or "").split())[:MAX_QUESTION_CHARS]


def earlier_questions(history: Sequence[Any]) -> list[str]:
    """The user's earlier questions, from plain strings, {'role','content'} messages or (user, bot) pairs."""
    questions: list[str] = []
    for turn in history:
        if isinstance(turn, str):
            questions.append(turn)
        elif isinstance(turn, dict) and turn.get("role", "user") == "user":
            content = turn.get("content") or turn.get("question") or ""
            questions.append(content if isinstance(content, str) else str(content))
        elif isinstance(turn, (list, tuple)) and turn and isinstance(turn[0], str):
            questions.append(turn[0])
    return [clean_question(q) for q in questions if q and clean_question(q)]


def place_patterns(places: Sequence[str]) -> list[tuple[re.Pattern[str], str]]:
    """Regexes that find each known place by its name, a distinctive word of it, or an alias."""
    patterns: list[tuple[re.Pattern[str], str]] = []
    for place in places:
        names = {place.lower()}
        names |= {w for w in re.findall(r"[a-z]+", place.lower()) if len(w) >= 4 and w not in _GENERIC_WORDS}
        names |= {alias for alias, target in ALIASES.items() if target == place}
        alternation = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
        patterns.append((re.compile(rf"\b(?:{alternation})(?:'s)?\b", re.I), place))
    return patterns


def places_in(text: str, patterns: Sequence[tuple[re.Pattern[str], str]]) -> list[str]:
    """Places named in the text, in order; not one that only describes another ("the Leicestershire borough")."""
    found = [
        (m.start(), place)
        for pattern, place in patterns
        for m in [pattern.search(text)]
        if m and not DESCRIBES.match(text, m.end())
    ]
    return [place for _, place in sorted(found)]


def understand(question: str, history: Sequence[Any], places: Sequence[str]) -> Query:
    query = _resolve(question, history, places)
    intent = read_intent(question)
    focus = intent.names
    if not focus and query.follow_up:  # "How many agencies take part?" is about what the last turn named
        focus = next((found for q in reversed(earlier_questions(history)) if (found := names_in(q))), [])
    focus = focus or query.places
    ideas = intent.ideas and not query.compare
    text = query.text
    if ideas:  # "What ideas could we borrow?" says what kind of answer, not what about: search for the topic
        topic = " ".join(IDEA_CUES.sub(" ", text).split())
        text = topic if len(topic.split()) >= 3 else text
    return replace(query, text=text, ideas=ideas, intent=intent, focus=list(focus))


def _resolve(question: str, history: Sequence[Any], places: Sequence[str]) -> Query:
    patterns = place_patterns(places)
    named = places_in(question, patterns)
    compare = bool(_COMPARE.search(question))
    earlier = earlier_questions(history)
    if not earlier:
        return Query(question, question, named, compare and len(named) >= 2)
    short = len(question.split()) <= 7
    if not (short or _FOLLOW_UP.search(question)):
        return Query(question, question, named, compare and len(named) >= 2)
    previous = " ".join(earlier[-2:])  # a chain of follow-ups leans on more than the last turn
    carried = next((found for q in reversed(earlier) if (found := places_in(q, patterns))), [])
    if compare:
        focus = list(dict.fromkeys(carried + named))
        return Query(question, f"{question} {previous}", focus, len(focus) >= 2, True)
    if named:
        # "What about Oldham?": ask the earlier question again, about the newly named place.
        topic = previous
        for pattern, _ in patterns:
            topic = pattern.sub(" ", topic)
        return Query(question, f"{question} {' '.join(topic.split())}", named, False, True)
    return Query(question, f"{question} {previous}", carried, False, True)
