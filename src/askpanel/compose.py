"""Compose the extractive answer: score sentences, pick a lead, group points into ideas, number citations."""

from __future__ import annotations

import html
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from .chunking import BULLET, split_sentences
from .models import Answer, Citation, Idea, Passage
from .retrieval import IDEAS_DECAY, SAME_DOC_DECAY, Hit, Snapshot, is_adaptation, keyword_terms
from .understand import Query, clean_question, understand

if TYPE_CHECKING:
    from .assistant import Assistant

MAX_IDEAS = 4
POINTS_PER_IDEA = 5
MAX_POINTS = 14  # the whole answer's points: depth goes where the evidence is, length stays bounded
LEAD_GAIN = 0.2  # a second lead sentence must cover this share of the question the first leaves out
COMPARE_POINTS = 2  # at least this many points for each place a comparison names
POINT_FLOOR = 0.5  # a point must score at least this share of the best sentence
ADAPT_PER_IDEA = 3
DUPLICATE_COSINE = 0.9
EMBED_SENTENCES = 24
PLACE_SHORTLIST = 6  # in a comparison, sentences of each place embedded even when outside the shortlist
W_COS, W_OVERLAP, W_RANK = 0.6, 0.25, 0.15  # sentence score: meaning, shared rare words, passage rank
PLACE_BONUS = 0.05  # sentences about a place the question names (or carries over) rank a little higher
UNKNOWN_PENALTY = 0.3  # share of the question's words absent from the corpus vocabulary
NAME_PENALTY = 0.25  # a capitalised name or acronym the corpus never mentions ("Kerslake", "GDPR")
FIGURE_PENALTY = 0.25  # a year or figure in the question absent from the passages of the best sentences
EVIDENCE_SENTENCES = 5
_NAME = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
_NUMBER = re.compile(r"\b\d[\d,./]*\d\b")
NOT_COVERED = "The corpus does not cover this question, so askpanel will not guess."
_FIGURE_QUESTION = re.compile(
    r"\b(how many|how much|how big|how large|scale|size|number|when|what year|what date|how long|figures?|cost|percent"
    r"|achieve|result|outcome|impact"
    r"|effect|sav(?:e|ed|ing|ings)|paid|pay|funded|funding|work(?:ed)?\?)|£",
    re.I,
)
_LEANS_BACK = re.compile(r"^(this|that|these|those|it|its|they|their|such|both|also|the same|he|she|there)\b", re.I)
# A note on what the sources do not say: honest as a point, but no answer to lead with when a fact scores close
_CAVEAT = re.compile(r"^(whether|no source|no evaluation|it is unclear|the stored sources)\b", re.I)
_OUTCOME_SECTION = re.compile(r"happen|outcome|result|impact|figures", re.I)
_DIGIT = re.compile(r"\d")


@dataclass(eq=False)  # identity: two sentences with the same words from different passages are distinct
class Sentence:
    text: str  # as shown in the answer
    hit_rank: int
    passage: Passage
    index: int  # position within its passage
    cosine: float = 0.0
    overlap: float = 0.0
    score: float = 0.0
    vector: np.ndarray | None = None
    verbatim: str = ""  # as it stands in the passage (a list keeps its line breaks), quoted in the citation

    @property
    def quote(self) -> str:
        return self.verbatim or self.text


class SentenceVectors:
    """An LRU cache of sentence embeddings, so repeated passages cost nothing to score. Thread-safe:
    the web server answers several questions at once."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, assistant: Assistant, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
            for text in known:
                self._cache.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, assistant.embedder.embed(missing), strict=True))
            with self._lock:
                self._cache.update((t, known[t]) for t in missing)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


_VECTORS = SentenceVectors()


def compose(
    assistant: Assistant, question: str, filters: dict[str, Any], history: Sequence[Any], place_context: str
) -> Answer:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    asked = clean_question(question)
    if not asked:
        return Answer(question="", covered=False, lead="Please type a question.", ideas=[], citations=[])
    snap = assistant.retriever.snapshot()
    query = understand(asked, history, snap.places())
    vector = assistant.embedder.embed_one(query.text)
    timings["embed"] = _ms(started)
    hits = gather(assistant, query, vector, filters)
    timings["retrieve"] = _ms(started)
    sentences = score_sentences(assistant, snap, query, vector, hits)
    confidence = evidence(sentences, query.text if query.follow_up else query.question, snap)
    if confidence < assistant.settings.min_score:
        answer = not_covered(asked, hits, snap)
    else:
        answer = build_answer(asked, query, sentences, snap, place_context, assistant)
    answer.corpus_revision = snap.revision
    answer.confidence = round(confidence, 4)
    timings["compose"] = _ms(started)
    answer.timings_ms = timings
    answer.markdown = render_markdown(answer)
    return answer


def gather(assistant: Assistant, query: Query, vector: np.ndarray, filters: dict[str, Any]) -> list[Hit]:
    """Passages for the question; with named places, each place's own passages come first."""
    k = assistant.settings.top_k
    decay = IDEAS_DECAY if query.ideas else SAME_DOC_DECAY
    base = assistant.retriever.search(query.text, vector, filters, k=k, decay=decay)
    if not query.places or "place" in filters:
        return base
    per_place = max(2, min(3, k // len(query.places)))  # leave room for other documents on the topic
    focused: list[Hit] = []
    for place in query.places:
        focused.extend(assistant.retriever.search(query.text, vector, {**filters, "place": place}, k=per_place))
    seen = {h.passage.chunk_id for h in focused}
    return focused + [h for h in base if h.passage.chunk_id not in seen]


def score_sentences(
    assistant: Assistant, snap: Snapshot, query: Query, vector: np.ndarray, hits: list[Hit]
) -> list[Sentence]:
    """Sentences of the retrieved passages, scored by meaning, shared words and passage rank.

    A cheap first pass (shared words, passage rank and similarity) keeps the likeliest sentences,
    so only those are embedded: embedding every sentence would cost most of the answer's time.
    """
    wanted = question_terms(query)
    total = sum(snap.weight(t) for t in wanted)
    sentences: list[Sentence] = []
    for rank, hit in enumerate(hits):
        for index, (text, verbatim) in enumerate(answer_units(hit.passage.text)):
            if len(text.split()) >= 6 and not text.endswith((":", "?")):
                sentence = Sentence(text, rank, hit.passage, index, verbatim=verbatim)
                shared = wanted & set(keyword_terms(text))
                sentence.overlap = sum(snap.weight(t) for t in shared) / total if total else 0.0
                sentence.score = 0.5 * sentence.overlap + 0.3 * _rank_score(rank) + 0.2 * hit.dense
                sentences.append(sentence)
    sentences = _shortlist(sentences, query)
    if not sentences:
        return []
    vectors = _VECTORS.get(assistant, [s.text for s in sentences])
    figures = bool(_FIGURE_QUESTION.search(query.question))
    for sentence, sentence_vector in zip(sentences, vectors, strict=True):
        sentence.vector = sentence_vector
        sentence.cosine = float(sentence_vector @ vector)
        sentence.score = (
            W_COS * sentence.cosine + W_OVERLAP * sentence.overlap + W_RANK * _rank_score(sentence.hit_rank)
        )
        if figures and _DIGIT.search(sentence.text):
            sentence.score += 0.05
        if query.places and sentence.passage.place in query.places:
            sentence.score += PLACE_BONUS
    return sorted(sentences, key=lambda s: -s.score)


def _shortlist(sentences: list[Sentence], query: Query) -> list[Sentence]:
    """The likeliest EMBED_SENTENCES, plus the best few of each compared place, which the other
    place's sentences could otherwise crowd out."""
    ranked = sorted(sentences, key=lambda s: -s.score)
    kept = ranked[:EMBED_SENTENCES]
    if query.compare:
        for place in query.places:
            own = [s for s in ranked if s.passage.place == place]
            kept.extend(s for s in own[:PLACE_SHORTLIST] if s not in kept)
    return kept


def answer_units(text: str) -> list[tuple[str, str]]:
    """Sentences of a passage as (shown, verbatim); a 'label:' line and the list under it form one unit,
    so "The four pilots were:" arrives with its four names."""
    units: list[tuple[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        prose: list[str] = []
        i = 0
        while i < len(lines):
            label = lines[i].strip()
            end = i + 1
            while end < len(lines) and BULLET.match(lines[end]):
                end += 1
            if label.endswith(":") and end > i + 1:
                units.extend((s, s) for s in split_sentences("\n".join(prose)))
                prose = []
                items = [BULLET.sub("", line).strip() for line in lines[i + 1 : end]]
                shown = f"{label} {'; '.join(items)}"
                units.append((shown if shown.endswith((".", "?", "!")) else shown + ".", "\n".join(lines[i:end])))
                i = end
            else:
                prose.append(lines[i])
                i += 1
        units.extend((s, s) for s in split_sentences("\n".join(prose)))
    return units


def question_terms(query: Query) -> set[str]:
    """The words a good sentence shares with the question (place names aside: retrieval handles those)."""
    return set(keyword_terms(query.question)) - set(keyword_terms(" ".join(query.places))) or set(
        keyword_terms(query.text)
    )


def _rank_score(rank: int) -> float:
    return 1.0 / (1.0 + 0.5 * rank)


def evidence(sentences: list[Sentence], question: str, snap: Snapshot) -> float:
    """How strongly the best sentence speaks to the question, less penalties for what the corpus lacks:
    words it never uses, names it never mentions, and figures or years the best evidence does not contain."""
    best = max((s.cosine + 0.3 * s.overlap for s in sentences), default=0.0)
    terms = keyword_terms(question)
    known = snap.known_terms()
    unknown = [t for t in terms if t not in known]
    names = [w for w in _NAME.findall(question)[1:] if any(t not in known for t in keyword_terms(w))]
    evidence_text = " ".join(s.passage.text for s in sentences[:EVIDENCE_SENTENCES]).lower()
    figures = [n for n in _NUMBER.findall(question) if n.lower() not in evidence_text]
    penalty = UNKNOWN_PENALTY * (len(unknown) / len(terms) if terms else 1.0)
    penalty += NAME_PENALTY if names else 0.0
    penalty += FIGURE_PENALTY if figures else 0.0
    return best - penalty


def build_answer(
    question: str, query: Query, ranked: list[Sentence], snap: Snapshot, place_context: str, assistant: Assistant
) -> Answer:
    chosen = pick_points(ranked, query)
    citations = Citations()
    lead = _lead(chosen, citations, question_terms(query), snap)
    ideas = []
    by_doc: dict[str, list[Sentence]] = defaultdict(list)
    for sentence in chosen:
        by_doc[sentence.passage.doc_id].append(sentence)
    for doc_id, points in list(by_doc.items())[:MAX_IDEAS]:
        ideas.append(make_idea(doc_id, points, snap, citations, query, place_context))
    return Answer(question=question, covered=True, lead=lead, ideas=ideas, citations=citations.all())


def pick_points(ranked: list[Sentence], query: Query) -> list[Sentence]:
    """The best sentences, near-duplicates dropped, a few per document, every compared place represented."""
    if not ranked:
        return []
    chosen: list[Sentence] = []
    per_doc: dict[str, int] = {}

    def take(sentence: Sentence) -> bool:
        doc = sentence.passage.doc_id
        if len(chosen) >= MAX_POINTS:
            return False
        if per_doc.get(doc, 0) >= POINTS_PER_IDEA or (doc not in per_doc and len(per_doc) >= MAX_IDEAS):
            return False
        if sentence in chosen or any(_same(sentence, other) for other in chosen):
            return False
        chosen.append(sentence)
        per_doc[doc] = per_doc.get(doc, 0) + 1
        return True

    if query.compare:  # side by side means each place gets its say first, even below the floor
        for place in query.places:
            taken = 0
            for sentence in (s for s in ranked if s.passage.place == place):
                taken += take(sentence)
                if taken >= COMPARE_POINTS:
                    break
    floor = ranked[0].score * POINT_FLOOR
    for sentence in ranked:
        if sentence.score < floor and len(chosen) >= 2:
            break
        take(sentence)
    return sorted(chosen, key=lambda s: -s.score)


def _same(a: Sentence, b: Sentence) -> bool:
    if a.vector is None or b.vector is None:
        return a.text == b.text
    return float(a.vector @ b.vector) >= DUPLICATE_COSINE


class Citations:
    """Numbers passages in order of first use; each number's quote holds the sentences taken from it."""

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
        return [
            Citation(
                n=i + 1,
                chunk_id=p.chunk_id,
                doc_id=p.doc_id,
                title=p.title,
                doc_type=p.doc_type,
                place=p.place,
                section=p.section,
                page=p.page,
                url=p.url,
                quote=" … ".join(quotes),
                score=round(score, 3),
                passage=p.text,
            )
            for i, (p, quotes, score) in enumerate(self._items)
        ]


def _lead(chosen: list[Sentence], citations: Citations, wanted: set[str], snap: Snapshot) -> str:
    """The best sentence that stands on its own, plus one more when it answers a part the first leaves out."""
    first = next((s for s in chosen if _can_lead(s) and s.score >= 0.85 * chosen[0].score), chosen[0])
    lead = f"{first.text} [{citations.mark(first)}]"
    missing = wanted - set(keyword_terms(first.text))
    total = sum(snap.weight(t) for t in wanted) or 1.0

    def gain(s: Sentence) -> float:
        return sum(snap.weight(t) for t in missing & set(keyword_terms(s.text))) / total

    others = [s for s in chosen[:6] if s is not first and s.score >= 0.7 * first.score and _can_lead(s)]
    best = max(others, key=gain, default=None)
    if best is not None and gain(best) >= LEAD_GAIN:
        lead += f" {best.text} [{citations.mark(best)}]"
    return lead


def _can_lead(sentence: Sentence) -> bool:
    return not _LEANS_BACK.match(sentence.text) and not _CAVEAT.match(sentence.text)


def make_idea(
    doc_id: str, points: list[Sentence], snap: Snapshot, citations: Citations, query: Query, place_context: str
) -> Idea:
    first = points[0].passage
    ordered = sorted(points, key=lambda s: (s.passage.position, s.index))
    outcome = _outcome(doc_id, snap, points) if first.doc_type == "case_study" else None
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
    return Idea(
        title=first.title,
        place=first.place,
        doc_type=first.doc_type,
        points=texts,
        adapt=choose_questions(questions, first.themes, query, place_context),
        citations=sorted(set(numbers)),
        doc_id=doc_id,
        conditions=conditions[:3],
    )


def _outcome(doc_id: str, snap: Snapshot, points: list[Sentence]) -> Sentence | None:
    """For a case study, the first sentence with a figure from its outcomes section, if not already a point."""
    used = {s.text for s in points}
    for i in snap.by_doc.get(doc_id, []):
        passage = snap.passages[i]
        if not _OUTCOME_SECTION.search(passage.section):
            continue
        for index, text in enumerate(split_sentences(passage.text)):
            if _DIGIT.search(text) and text not in used and len(text.split()) >= 6:
                return Sentence(text, 99, passage, index)
    return None


def adaptation(doc_id: str, snap: Snapshot) -> tuple[list[str], list[str]]:
    """The document's own 'to adapt it locally' section: conditions that held there, and questions."""
    conditions: list[str] = []
    questions: list[str] = []
    for i in snap.by_doc.get(doc_id, []):
        passage = snap.passages[i]
        if is_adaptation(passage):
            for text in split_sentences(passage.text):
                if text.endswith("?"):
                    questions.append(text)
                elif not text.endswith(":"):
                    conditions.append(text)
    return conditions, questions


def choose_questions(own: list[str], themes: Sequence[str], query: Query, place_context: str) -> list[str]:
    """The case study's own questions that best match the asker, topped up from the theme library."""
    context_terms = set(keyword_terms(f"{query.question} {place_context}"))
    ranked = sorted(own, key=lambda q: -len(context_terms & set(keyword_terms(q))))
    picked = ranked[:ADAPT_PER_IDEA]
    library = theme_library()
    matches = [qs[0] for hint, qs in library["contexts"].items() if place_context and _mentions(place_context, hint)]
    picked = list(dict.fromkeys(matches[:2] + picked))
    for theme in themes:
        if len(picked) >= ADAPT_PER_IDEA + 1:
            break
        for question in library["themes"].get(theme, [])[:1]:
            if question not in picked:
                picked.append(question)
    return picked[: ADAPT_PER_IDEA + 1]


@cache
def theme_library() -> dict[str, dict[str, list[str]]]:
    from importlib.resources import files

    import yaml

    loaded = yaml.safe_load(files("askpanel").joinpath("data/adapt.yaml").read_text(encoding="utf-8"))
    return {"themes": loaded.get("themes", {}), "contexts": loaded.get("contexts", {})}


def _mentions(text: str, hint: str) -> bool:
    return re.search(rf"\b{re.escape(hint)}", text, re.I) is not None


def not_covered(question: str, hits: list[Hit], snap: Snapshot) -> Answer:
    nearest = list(dict.fromkeys(h.passage.title for h in hits))[:3]
    return Answer(question=question, covered=False, lead=NOT_COVERED, ideas=[], citations=[], nearest=nearest)


def render_markdown(answer: Answer) -> str:
    """The whole answer as Markdown, with text from documents escaped so it can never become markup."""
    e = _escape
    lines = [f"**Q: {e(answer.question)}**", "", e(answer.lead), ""]
    if not answer.covered:
        if answer.nearest:
            lines.append("Nearest material in the corpus:")
            lines.extend(f"- {e(title)}" for title in answer.nearest)
        return "\n".join(lines).strip() + "\n"
    if answer.ideas:
        lines.append("### Ideas to adapt, not recipes to follow")
    for i, idea in enumerate(answer.ideas, 1):
        where = f" ({e(idea.place)})" if idea.place and idea.place != "England" else ""
        lines += ["", f"#### {i}. {e(idea.title)}{where}", ""]
        lines.extend(f"- {e(point)}" for point in idea.points)
        if idea.conditions:
            lines += ["", "*What made it work there:*"]
            lines.extend(f"- {e(c)}" for c in idea.conditions)
        if idea.adapt:
            lines += ["", "*Questions to ask before borrowing it:*"]
            lines.extend(f"- {e(q)}" for q in idea.adapt)
    lines += ["", "### Sources", ""]
    for c in answer.citations:
        where = ", ".join(x for x in (c.section, f"p. {c.page}" if c.page else "") if x)
        safe_url = quote(c.url, safe=":/?#[]@!$&'()*+,;=%~")  # a '>' or space could end the autolink
        link = f" <{safe_url}>" if c.url.startswith(("http://", "https://")) else ""
        lines.append(f"[{c.n}] {e(c.title)}{' — ' + e(where) if where else ''}: “{e(c.quote)}”{link}")
    return "\n".join(lines).strip() + "\n"


_MARKER_ONLY = re.compile(r"\\\[(\d{1,3})\\\](?!\()")


def _escape(text: str) -> str:
    """HTML-escape, and escape brackets so no link or image survives; only [n] citation markers stay as they are."""
    escaped = html.escape(text, quote=False).replace("[", "\\[").replace("]", "\\]")
    return _MARKER_ONLY.sub(r"[\1]", escaped)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
