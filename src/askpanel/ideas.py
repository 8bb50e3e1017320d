"""Idea cards and citations: what was done, what happened, what made it work there, and questions to ask."""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from .chunking import split_sentences
from .models import Citation, Idea, Passage
from .retrieval import Snapshot, is_adaptation, keyword_terms

if TYPE_CHECKING:
    from .compose import Sentence
    from .understand import Query

CONDITIONS_PER_IDEA = 2
QUESTIONS_PER_IDEA = 2
_OUTCOME_SECTION = re.compile(r"happen|outcome|result|impact|figures", re.I)
_DIGIT = re.compile(r"\d")


class Citations:
    """Numbers passages in order of first use; each number's quote holds the sentences taken from it, and
    its links are the pages behind those sentences."""

    def __init__(self) -> None:
        self._by_chunk: dict[str, int] = {}
        self._items: list[tuple[Passage, list[str], float]] = []

    def mark(self, sentence: Sentence) -> int:
        n = self._by_chunk.get(sentence.passage.chunk_id)
        if n is None:
            self._items.append((sentence.passage, [], sentence.score))
            n = self._by_chunk[sentence.passage.chunk_id] = len(self._items)
        quotes = self._items[n - 1][1]
        if sentence.quote not in quotes:
            quotes.append(sentence.quote)
        return n

    def all(self) -> list[Citation]:
        return [_citation(i + 1, p, quotes, score) for i, (p, quotes, score) in enumerate(self._items)]


def _citation(n: int, passage: Passage, quotes: list[str], score: float) -> Citation:
    urls: list[str] = []
    editorial = True
    for quote in quotes:
        start = passage.text.find(quote)
        found, own_note = passage.pages_for(start, start + len(quote)) if start >= 0 else ([passage.url], False)
        urls.extend(u for u in found if u and u not in urls)
        editorial = editorial and own_note
    return Citation(
        n=n,
        chunk_id=passage.chunk_id,
        doc_id=passage.doc_id,
        title=passage.title,
        doc_type=passage.doc_type,
        place=passage.place,
        section=passage.section,
        page=passage.page,
        url=urls[0] if urls else "",
        quote=" … ".join(quotes),
        score=round(score, 3),
        passage=passage.text,
        urls=urls,
        editorial=editorial and not urls,
    )


def make_idea(
    doc_id: str,
    points: list[Sentence],
    snap: Snapshot,
    citations: Citations,
    query: Query,
    place_context: str,
    asked: set[str],
) -> Idea:
    """One card: the document's points in reading order, its outcome, conditions and questions of its own.
    `asked` holds the questions earlier cards of the same answer showed, so none is shown twice."""
    first = points[0].passage
    ordered = sorted(points, key=lambda s: (s.passage.position, s.index))
    outcome = outcome_of(doc_id, snap, points) if first.doc_type == "case_study" else None
    if outcome is not None:
        ordered.append(outcome)
    texts = []
    numbers: list[int] = []
    for sentence in ordered:
        n = citations.mark(sentence)
        numbers.append(n)
        prefix = "What happened: " if sentence is outcome else ""
        texts.append(f"{prefix}{sentence.text} [{n}]")
    conditions, questions = adaptation(doc_id, snap)
    context_terms = set(keyword_terms(f"{query.text} {place_context}"))
    by_text = {c.text: c for c in conditions}
    shown = _closest(list(by_text), context_terms, CONDITIONS_PER_IDEA, set())
    # a condition is a sourced fact like any point, so it carries its citation
    marks = [citations.mark(by_text[text]) for text in shown]
    cited_conditions = [f"{text} [{n}]" for text, n in zip(shown, marks, strict=True)]
    chosen = _closest(questions, context_terms, QUESTIONS_PER_IDEA, asked)
    chosen = [*place_questions(place_context, asked), *chosen]
    asked.update(_key(q) for q in chosen)
    return Idea(
        title=first.title,
        place=first.place,
        doc_type=first.doc_type,
        points=texts,
        adapt=chosen,
        citations=sorted(set(numbers + marks)),
        doc_id=doc_id,
        conditions=cited_conditions,
    )


def outcome_of(doc_id: str, snap: Snapshot, points: list[Sentence]) -> Sentence | None:
    """For a case study, the first sentence with a figure from its outcomes section, if not already a point."""
    from .compose import Sentence

    used = {s.text for s in points}
    for i in snap.by_doc.get(doc_id, []):
        passage = snap.passages[i]
        if not _OUTCOME_SECTION.search(passage.section):
            continue
        for index, text in enumerate(split_sentences(passage.text)):
            if _DIGIT.search(text) and text not in used and len(text.split()) >= 6:
                return Sentence(text, 99, passage, index)
    return None


def adaptation(doc_id: str, snap: Snapshot) -> tuple[list[Sentence], list[str]]:
    """The document's own 'to adapt it locally' section: conditions that held there (sentences of their passage,
    so they can be cited), and questions."""
    from .compose import Sentence

    conditions: list[Sentence] = []
    questions: list[str] = []
    for i in snap.by_doc.get(doc_id, []):
        passage = snap.passages[i]
        if is_adaptation(passage):
            for index, text in enumerate(split_sentences(passage.text)):
                if text.endswith("?"):
                    questions.append(text)
                elif not text.endswith(":"):
                    conditions.append(Sentence(text, 99, passage, index))
    return conditions, questions


def _closest(items: list[str], terms: set[str], limit: int, exclude: set[str]) -> list[str]:
    """The items sharing most words with the question (ties keep the document's order), none already shown."""
    fresh = [item for item in items if _key(item) not in exclude]
    ranked = sorted(range(len(fresh)), key=lambda i: (-len(terms & set(keyword_terms(fresh[i]))), i))
    return [fresh[i] for i in ranked[:limit]]


def _key(question: str) -> str:
    return " ".join(keyword_terms(question))


def place_questions(place_context: str, asked: set[str]) -> list[str]:
    """Questions for the asker's kind of place ("a rural district", "a small voluntary sector"), each shown once per
    answer."""
    if not place_context:
        return []
    library = context_library()
    found = [qs[0] for hint, qs in library.items() if _mentions(place_context, hint)]
    return [q for q in found[:2] if _key(q) not in asked]


@cache
def context_library() -> dict[str, list[str]]:
    from importlib.resources import files

    import yaml

    loaded = yaml.safe_load(files("askpanel").joinpath("data/adapt.yaml").read_text(encoding="utf-8"))
    return dict(loaded.get("contexts", {}))


def _mentions(text: str, hint: str) -> bool:
    return re.search(rf"\b{re.escape(hint)}", text, re.I) is not None
