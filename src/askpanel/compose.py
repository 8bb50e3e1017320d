"""Compose the extractive answer: score sentences, pick the lead that answers what was asked, shape the rest."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import facts
from .chunking import BULLET, split_sentences
from .ideas import Citations, make_idea
from .intent import IDEA_CUES, Intent, dashless, missing_sentence
from .markdown import render_markdown
from .models import Answer, Idea, Passage
from .retrieval import IDEAS_DECAY, SAME_DOC_DECAY, Hit, Snapshot, keyword_terms
from .understand import Query, clean_question, understand

if TYPE_CHECKING:
    from .assistant import Assistant

DUPLICATE_COSINE = 0.9
EMBED_SENTENCES = 16
TYPED_SHORTLIST = 8  # sentences carrying the kind of fact asked for, embedded even when outside the shortlist
PLACE_SHORTLIST = 6  # in a comparison, sentences of each place embedded even when outside the shortlist
# sentence score: meaning, shared rare words, passage rank. Shared rare words weigh a little more than meaning:
# MiniLM rates a sentence on the question's topic as highly as one holding its answer (golden set: lead hit
# 0.48 -> 0.55, near misses 0.44 -> 0.49 against 0.6 / 0.25 / 0.15)
W_COS, W_OVERLAP, W_RANK = 0.4, 0.45, 0.15
W_DETAIL = 0.5  # share of a sentence's meaning judged against the question without its names (what is asked)
PLACE_BONUS = 0.05  # sentences about a place the question names (or carries over) rank a little higher
UNKNOWN_PENALTY = 0.3  # share of the question's words absent from the corpus vocabulary
NAME_PENALTY = 0.25  # a capitalised name or acronym the corpus never mentions ("Kerslake", "GDPR")
FIGURE_PENALTY = 0.25  # a year or figure in the question absent from the passages of the best sentences
EVIDENCE_SENTENCES = 5
CORE_WEIGHT = 0.5  # extra weight of words in the question proper over those of an opening clause
# The lead: relevance first, then whether a sentence carries the kind of fact asked, names what it is about,
# matches the years and figures asked, names the noun asked for, and stands on its own.
W_KIND, W_FOCUS, W_CONSTRAINT, W_HEAD, W_ALONE = 0.5, 0.25, 0.3, 0.2, 0.2  # each: the share lost when lacking it
ANSWER_POOL = 0.5  # a sentence this close to the best can show that the detail asked for is covered
LEAD_POOL = ANSWER_POOL  # lead candidates: any sentence that could show the detail is covered can lead
CAVEAT_POOL = 0.8  # a note on what the sources lack this close to the best says the detail is not covered
CAVEAT_OVER_ANSWER = 1.1  # a note on a gap outweighs a sentence that answers only when clearly more relevant
CAVEAT_DETAIL = 0.4  # ... when it shares this much of what the question asks (beyond the names it is about)
KIN_FLOOR = 0.35  # MiniLM cosine below which what a number counts ("fire stations") is not what was asked ("lives")
KIN_SENTENCES = 40  # the best sentences whose counted nouns are compared with the one asked for
ANTECEDENT_OVERLAP = 0.05  # the sentence a lead leans on shares at least this share of the question's words
LEAD_GAIN = 0.2  # a second lead sentence must cover this share of the question the first leaves out
POINT_FLOOR = 0.5  # a point must score at least this share of the best sentence
LOOKUP_POINTS = 5  # a look-up: the lead and up to this many supporting points
MAX_IDEAS = 3
IDEA_POINTS = 3
COMPARE_POINTS = 3
SUPPORT_POINTS = 2  # report and context points beside the idea cards
COVER_GAIN = 1.0  # how much a point's value grows with the share of the question it covers that others have not
_NAME = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
_NUMBER = re.compile(r"\b\d[\d,./]*\d\b")
NOT_COVERED = "The corpus does not cover this question, so askpanel will not guess."
_FIGURE_QUESTION = re.compile(
    r"\b(how many|how much|how big|how large|scale|size|number|when|what year|what date|how long|figures?|cost|percent"
    r"|achieve|result|outcome|impact"
    r"|effect|sav(?:e|ed|ing|ings)|paid|pay|funded|funding|work(?:ed)?\?)|£",
    re.I,
)
_LEANS_BACK = re.compile(
    r"^(?:(?i:this|that|these|those|it|its|they|their|such|both|also|the same|he|she|his|her|there|here|then"
    r"|however|but|and|so)\b|[Tt]he (?:team|programme|scheme|project|pilot|service|network|centre|panel|council"
    r"|fund|award|report|building|initiative|partnership|board|group|hub|car|force|task force|approach|model"
    r"|work|account|review|study|document|same|two|three|four|first|second|latter|former|other)\b(?! of\b))"
)
_SHORT_NAME = re.compile(r"^The ((?:[A-Z][\w’'-]*\s?){1,3})")
# "After the fire, ..." or "At that time, ...": an opening that points back at something the reader hasn't seen
_POINTS_BACK = re.compile(
    r"^(?:after|before|during|since|following|by|at|in|from|with|under|for|on|despite|unlike|like) "
    r"(?:the|that|this|those|these|its|their|such) [\w'’-]+(?: [\w'’-]+)?,",
    re.I,
)
# A note on what the sources do not say: honest as a point, but no answer to lead with when a fact scores close
_CAVEAT = re.compile(
    r"^(whether|no source|no evaluation|it is unclear|it is not known|the stored sources|no available|neither "
    r"(?:available )?source|none of the|the sources? (?:do|does|did) not|no figures?|no independent)\b",
    re.I,
)
_DIGIT = re.compile(r"\d")
_PERSON = re.compile(r"\b(?:he|she|him|her|his|hers)\b", re.I)
_ITEM_END = re.compile(r"(?:[;,.]|[;,] (?:and|or))$")


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

    @property
    def editorial(self) -> bool:
        """Whether askpanel's editors wrote it as a reading aid ([^ours]) rather than a source saying it."""
        start = self.passage.text.find(self.quote)
        return start >= 0 and self.passage.pages_for(start, start + len(self.quote))[1]


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
        answer = not_covered(asked, hits)
    else:
        # what the sentences count is embedded only if the reading meets a count of some other thing
        kin = functools.partial(counted_kin, assistant, query, sentences)
        answer = build_answer(asked, query, sentences, snap, place_context, kin)
    answer.kind = "compare" if query.compare else "ideas" if query.ideas else query.intent.wants
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
    core = wanted & set(keyword_terms(query.intent.core))  # what is asked counts more than its setting
    total = sum(snap.weight(t) for t in wanted) + CORE_WEIGHT * sum(snap.weight(t) for t in core)
    aliases = _aliases(query.focus, snap)
    sentences: list[Sentence] = []
    for rank, hit in enumerate(hits):
        for index, (text, verbatim) in enumerate(answer_units(hit.passage.text)):
            if len(text.split()) >= 6 and not text.endswith((":", "?")):
                sentence = Sentence(text, rank, hit.passage, index, verbatim=verbatim)
                shared = wanted & sentence_terms(text, aliases)
                weight = sum(snap.weight(t) for t in shared) + CORE_WEIGHT * sum(snap.weight(t) for t in shared & core)
                sentence.overlap = weight / total if total else 0.0
                sentence.score = 0.5 * sentence.overlap + 0.3 * _rank_score(rank) + 0.2 * hit.dense
                sentences.append(sentence)
    sentences = _shortlist(sentences, query)
    if not sentences:
        return []
    asked = _asked_detail(query)
    # embedded alone, as the question is: in a batch its vector would shift with the sentences beside it, so two
    # processes with different caches could rank the same question differently
    detail = assistant.embedder.embed_one(asked) if asked else vector
    vectors = _VECTORS.get(assistant, [s.text for s in sentences])
    figures = bool(_FIGURE_QUESTION.search(query.question))
    for sentence, sentence_vector in zip(sentences, vectors, strict=True):
        sentence.vector = sentence_vector
        sentence.cosine = float(sentence_vector @ vector)
        meaning = (1 - W_DETAIL) * sentence.cosine + W_DETAIL * float(sentence_vector @ detail)
        sentence.score = W_COS * meaning + W_OVERLAP * sentence.overlap + W_RANK * _rank_score(sentence.hit_rank)
        if figures and _DIGIT.search(sentence.text):
            sentence.score += 0.05
        if query.places and sentence.passage.place in query.places:
            sentence.score += PLACE_BONUS
    return sorted(sentences, key=lambda s: -s.score)


def counted_kin(assistant: Assistant, query: Query, ranked: list[Sentence]) -> dict[str, float]:
    """For "How many lives ...": how close in meaning each thing the best sentences count ("fire stations",
    "agencies") is to the thing asked for, so "three fire stations" is not read as a count of lives while
    "14 agencies" still answers "how many organisations"."""
    head = query.intent.head
    if query.intent.wants != "how_many" or not head or head in facts.SHARE_WORDS | facts.ANY_COUNT:
        return {}
    nouns = list(dict.fromkeys(n for s in ranked[:KIN_SENTENCES] for n in facts.counted_nouns(s.text)))
    if not nouns:
        return {}
    vectors = _VECTORS.get(assistant, [head, *nouns])
    return {noun: float(vector @ vectors[0]) for noun, vector in zip(nouns, vectors[1:], strict=True)}


def _asked_detail(query: Query) -> str:
    """The question without the names it is about: "What were the bidding deadlines for the ?" is what tells
    the answer from every other sentence about the award."""
    text = query.intent.core
    for name in query.focus:
        text = text.replace(name, " ")
    return text if keyword_terms(text) else ""


def _aliases(names: list[str], snap: Snapshot) -> list[tuple[re.Pattern[str], set[str]]]:
    """Other ways the corpus names what the question names: "PSTN" for the Public Service Transformation
    Network, or the name in full for an acronym; a sentence using one shares the question's words."""
    known = snap.acronyms()
    aliases = []
    for name in names:
        stems = set(keyword_terms(name))
        if known.get(name):  # the question used the acronym
            aliases.append((re.compile(re.escape(known[name]), re.I), stems))
        acronym = facts.acronym_of(name)
        if acronym and acronym in known:
            aliases.append((re.compile(rf"\b{acronym}\b"), stems))
    return aliases


def sentence_terms(text: str, aliases: list[tuple[re.Pattern[str], set[str]]]) -> set[str]:
    terms = set(keyword_terms(text))
    for pattern, stems in aliases:
        if pattern.search(text):
            terms |= stems
    return terms


def _shortlist(sentences: list[Sentence], query: Query) -> list[Sentence]:
    """The likeliest EMBED_SENTENCES, plus the best few that carry the kind of fact asked for and the best few
    of each compared place, which the rest could otherwise crowd out."""
    ranked = sorted(sentences, key=lambda s: -s.score)
    kept = ranked[:EMBED_SENTENCES]
    chosen = set(map(id, kept))
    extra: list[Sentence] = []
    if query.intent.strict:
        extra += [s for s in ranked if facts.carries(s.text, query.intent.wants) >= 0.7][:TYPED_SHORTLIST]
    if query.compare:
        for place in query.places:
            extra += [s for s in ranked if s.passage.place == place][:PLACE_SHORTLIST]
    for sentence in extra:
        if id(sentence) not in chosen:
            chosen.add(id(sentence))
            kept.append(sentence)
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
                # Only the label's own sentence introduces the list: "... existed. Local funds included:"
                *before, label = split_sentences(label) or [label]
                units.extend((s, s) for s in split_sentences("\n".join([*prose, *before])))
                prose = []
                # items joined with "; " lose their own closing ";", "; and" or "."
                items = [_ITEM_END.sub("", BULLET.sub("", line).strip()) for line in lines[i + 1 : end]]
                shown = f"{label} {'; '.join(items)}"
                verbatim = "\n".join([label, *lines[i + 1 : end]])
                units.append((shown if shown.endswith((".", "?", "!")) else shown + ".", verbatim))
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
    terms = keyword_terms(IDEA_CUES.sub(" ", question))  # "what could we borrow?" names no topic of its own
    known = snap.known_terms()
    unknown = [t for t in terms if t not in known]
    names = [w for w in _NAME.findall(question)[1:] if any(t not in known for t in keyword_terms(w))]
    evidence_text = " ".join(s.passage.text for s in sentences[:EVIDENCE_SENTENCES]).lower()
    figures = [n for n in _NUMBER.findall(question) if n.lower() not in evidence_text]
    penalty = UNKNOWN_PENALTY * (len(unknown) / len(terms) if terms else 1.0)
    penalty += NAME_PENALTY if names else 0.0
    penalty += FIGURE_PENALTY if figures else 0.0
    return best - penalty


# == reading the evidence against the question =================================================
@dataclass
class Fit:
    """How one sentence fits what the question asks, beyond its relevance score."""

    kind: float  # carries the kind of fact asked for (a person, a date, a figure...)
    focus: float  # names what the question is about (1), or sits in a document about it (0.6)
    constraint: float  # holds the years and figures asked about: in the sentence (1), its passage (0.5)
    head: float  # names the noun asked for ("award" in "What award did ..."): 1, or its passage does: 0.5
    alone: bool  # names its own subject rather than leaning on an earlier sentence
    names_head: bool = False  # the question asks for a noun and this sentence names it

    def answers(self, strict: bool, head_required: bool = True, counted: bool = False) -> bool:
        """Whether the sentence can answer the detail asked: the kind of fact (or the noun asked for), about the
        focus, for the years asked; and, where the noun asked for names a class ("which department") or the
        sum is of something ("what was X paid"), naming it there or in its passage. Where a number or date is
        asked (`counted`), naming the thing counted ("calls") without one answers nothing."""
        kind = not strict or self.kind >= 0.7 or (self.names_head and not counted)
        return kind and self.focus >= 0.8 and self.constraint >= 1.0 and (self.head > 0 or not head_required)


class Reader:
    """Judges sentences against one question: what kind of fact, about what, for which years."""

    def __init__(self, query: Query, snap: Snapshot, kin: Callable[[], dict[str, float]] | None = None) -> None:
        self.query = query
        self._kin_source = kin
        # "How many agencies take part?" after a turn on Margate: the reader did not name it, so the lead must
        # ("What did he do next?" is about a person the last answer named, not what the last question did)
        self.carried = (
            query.follow_up and not query.intent.names and bool(query.focus) and not _PERSON.search(query.question)
        )
        self.intent = query.intent
        self.snap = snap
        self.names = [_name_terms(n, snap) for n in query.focus]
        self.name_places = [_place_named(n, snap) for n in query.focus]
        head = [t for t in keyword_terms(self.intent.head) if t not in _GENERIC_HEAD_TERMS]
        self.head_terms = set(head[-1:])  # the head noun itself: "vendor" in "software vendor"
        words = self.intent.head.split()
        # as asked: "agencies", so a plural wants a list; "proportion" names no thing, but wants a share
        self.head_word = words[-1] if words and (head or words[-1] in facts.SHARE_WORDS) else ""
        if self.intent.wants == "how_much" and not head:  # "What was X paid": the sum must be a payment
            self.head_terms = _money_verb(self.intent)
        self._fits: dict[int, Fit] = {}
        self._doc_terms: dict[str, set[str]] = {}
        self.asked = self.intent.constraints
        self.pays = self.intent.wants == "who" and bool(_money_verb(self.intent))
        self.posts = (
            {_post(m.group(0)) for m in _ROLE.finditer(self.intent.clause)} if self.intent.wants == "who" else set()
        )
        named = set(keyword_terms(" ".join(query.focus)))
        self.detail_terms = set(keyword_terms(IDEA_CUES.sub(" ", query.question))) - named  # what is asked about it

    def overlap(self, text: str) -> float:
        """The weighted share of the question's words a text holds."""
        wanted = question_terms(self.query)
        total = sum(self.snap.weight(t) for t in wanted) or 1.0
        return sum(self.snap.weight(t) for t in wanted & set(keyword_terms(text))) / total

    def fit(self, sentence: Sentence) -> Fit:
        found = self._fits.get(id(sentence))
        if found is None:
            found = self._fits[id(sentence)] = self._judge(sentence)
        return found

    def _judge(self, sentence: Sentence) -> Fit:
        text = sentence.text
        terms = set(keyword_terms(text))
        kind = 1.0
        if self.intent.lookup:
            kind = facts.carries(
                dashless(text),
                self.intent.wants,
                self.snap.places(),
                self.head_word,
                self.asked,
                self.query.focus,
                self.query.question,
            )
            if is_caveat(sentence):  # "Whether the report mentions Leeds cannot be checked" names no place it says
                kind = min(kind, 0.5)
            if kind == facts.COUNTS_OTHER and self._counts_other_things(text):
                kind = 0.6  # "The pilot ran from three fire stations" counts no lives
            if self.intent.change and not facts.has_change(text, self.intent.clause):  # "By how much did calls fall?"
                kind = min(kind, 0.6)
            if self.intent.per and not facts.gives_rate(text, self.intent.per):  # "cost per family": not a total
                kind = min(kind, 0.5)
            if self.posts and not _holder_named(text, self.posts):  # "Who ran both councils as chief executive?"
                kind = min(kind, 0.7 if facts.people(text) else 0.5)
            if self.pays:  # "Who paid for it?": the answer is whoever the money came from
                kind = 1.0 if facts.bodies(text) and (facts.has_money(text) or _FUNDING.search(text)) else kind * 0.6
        return Fit(
            kind=kind,
            focus=self._focus(text, terms, sentence.passage),
            constraint=self._constraint(text, sentence.passage),
            head=self._head(terms, sentence.passage),
            alone=_stands_alone(sentence) and not sentence.editorial,
            names_head=bool(self.head_terms & terms),
        )

    @functools.cached_property
    def kin(self) -> dict[str, float]:
        return self._kin_source() if self._kin_source else {}

    def _counts_other_things(self, text: str) -> bool:
        kin = self.kin
        return bool(kin) and all(kin.get(noun, 1.0) < KIN_FLOOR for noun in facts.counted_nouns(text))

    def _focus(self, text: str, terms: set[str], passage: Passage) -> float:
        if not self.names:
            return 1.0
        meta = set(keyword_terms(f"{passage.title} {passage.place} {passage.section}"))
        scores = []
        for (stems, acronyms), place in zip(self.names, self.name_places, strict=True):
            if place and passage.place and passage.place != place:
                # "North and North East Lincolnshire" asked, a Lincolnshire case study read: "Lincolnshire's
                # fire authority" is another place, so only the name in full counts
                scores.append(1.0 if stems <= terms else 0.0)
            elif _covers(stems, terms, self.snap) or any(re.search(rf"\b{re.escape(a)}\b", text) for a in acronyms):
                scores.append(1.0)
            elif (
                (place and passage.place == place and stems == set(keyword_terms(place)))  # the place itself
                or _covers(stems, set(keyword_terms(passage.text)) | set(keyword_terms(passage.title)), self.snap)
                or any(a in passage.text for a in acronyms)
            ):
                scores.append(0.8)  # the passage is about the name: it says so, or its document is that name's own
            elif _covers(stems, meta | terms | self._document_terms(passage.doc_id), self.snap):
                scores.append(0.6)  # the document it comes from names it
            else:
                scores.append(0.0)
        # a place asked about is the subject: outside its own case study, the fund or programme named beside it
        # ("the Transformation Challenge Award") may be another place's
        elsewhere = [
            score for score, place in zip(scores, self.name_places, strict=True) if place and place != passage.place
        ]
        return max(elsewhere or scores)

    def _document_terms(self, doc_id: str) -> set[str]:
        found = self._doc_terms.get(doc_id)
        if found is None:
            text = " ".join(self.snap.passages[i].text for i in self.snap.by_doc.get(doc_id, []))
            found = self._doc_terms[doc_id] = set(keyword_terms(text))
        return found

    def _constraint(self, text: str, passage: Passage) -> float:
        wanted = self.intent.constraints
        if not wanted:
            return 1.0
        sentence = dashless(text)
        if all(facts.holds(sentence, c) for c in wanted):
            return 1.0
        around = dashless(passage.text)
        return 0.5 if all(facts.holds(around, c) for c in wanted) else 0.0

    def _head(self, terms: set[str], passage: Passage) -> float:
        if not self.head_terms or self.intent.wants not in ("which", "how_many", "how_much", "who"):
            return 1.0
        if self.head_terms & terms:
            return 1.0
        return 0.5 if self.head_terms & set(keyword_terms(passage.text)) else 0.0

    def _says_detail_unknown(self, sentence: Sentence) -> bool:
        """A note on what the sources lack that is about this question's detail, not some other gap."""
        if not is_caveat(sentence) or self.fit(sentence).focus < 0.6:
            return False
        terms = set(keyword_terms(sentence.text))
        if self.head_terms & terms:
            return True
        total = sum(self.snap.weight(t) for t in self.detail_terms) or 1.0
        return sum(self.snap.weight(t) for t in self.detail_terms & terms) / total >= CAVEAT_DETAIL

    def lead_value(self, sentence: Sentence) -> float:
        """Relevance, scaled down for each way the sentence falls short of answering: it lacks the kind of fact
        asked, is not about what was asked, misses the years or the noun asked for, or leans on other text."""
        fit = self.fit(sentence)
        return (
            sentence.score
            * (1 - W_KIND * (1 - fit.kind))
            * (1 - W_FOCUS * (1 - fit.focus))
            * (1 - W_CONSTRAINT * (1 - fit.constraint))
            * (1 - W_HEAD * (1 - fit.head))
            * (1.0 if fit.alone and not (self.carried and fit.focus < 1.0) else 1 - W_ALONE)
        )

    def missing_detail(self, ranked: list[Sentence]) -> tuple[bool, Sentence | None]:
        """Whether the sources cover the question's subject but not the detail it asks for, and the corpus's own
        note saying so when it has one. The detail is missing when:
        - a note on what the sources lack ("No available source gives ...") is among the best evidence;
        - the noun asked for is one the corpus never uses ("Which software vendor ...");
        - no sentence near the best carries the kind of fact asked (a person, a date, a sum...), about the focus,
          naming what was asked for, for the years asked."""
        if self.query.compare or self.intent.ideas:
            return False, None
        top = ranked[0].score
        caveat = next((s for s in ranked if s.score >= top * CAVEAT_POOL and self._says_detail_unknown(s)), None)
        if self.head_terms and not self.head_terms & self.snap.known_terms():
            return True, caveat
        strict = self.intent.strict
        if strict or self.intent.constraints:
            pool = [s for s in ranked if s.score >= top * ANSWER_POOL]
            answering = [s for s in pool if self._answers(s, strict)]
            if not answering:
                return True, caveat
            if strict and (caveat is None or caveat.score < CAVEAT_OVER_ANSWER * answering[0].score):
                return False, None  # a sentence carries the fact asked for, as relevant as any note on a gap
        if caveat is not None and caveat.score >= max((s.score for s in ranked if not is_caveat(s)), default=0.0):
            return True, caveat  # the most relevant thing the sources say is that they do not say it
        return False, None

    def _answers(self, sentence: Sentence, strict: bool) -> bool:
        if is_caveat(sentence):
            return False
        fit = self.fit(sentence)
        wants = self.intent.wants
        if wants == "how_much" and not self.intent.head and self.head_terms and not fit.names_head:
            return False  # "What was X paid?": the sentence must say the sum was a payment
        counted = wants in ("how_many", "how_much", "when")
        return fit.answers(strict, head_required=wants in ("which", "who"), counted=counted)


_GENERIC_HEAD_TERMS = set(
    keyword_terms(
        "idea way thing kind sort type lesson approach example part role result money cash sum amount total fund"
        " funding grant extra figure number date day time month year"
    )
) | set(keyword_terms(" ".join(facts.SHARE_WORDS)))
# a post asked about ("as a shared chief executive", "who chaired"): whoever held it is a person, not a body
_ROLE = re.compile(
    r"\b(?:chief executives?|directors?|chair(?:s|ed|man|woman)?|co-chairs?|leaders?|ministers?|secretar(?:y|ies)"
    r"|managers?|head(?:ed)?|mayors?|commissioners?|councillors?|officers?|lead|led)\b"
    r"(?! (?:council|authority|body|agency))",
    re.I,
)


def _post(word: str) -> str:
    """A post as one form: "Chief Executives", "chaired" and "co-chair" become "chief executive" and "chair"."""
    word = re.sub(r"ies$", "y", word.lower())
    if word in _LEADS:  # "Who led the network?" is answered by whoever headed or directed it
        return "lead"
    return re.sub(r"^co-|(?:s|ed|man|woman)$", "", word)


_LEADS = {"led", "lead", "leader", "leaders", "head", "headed", "director", "directors"}


def _holder_named(text: str, asked: set[str]) -> bool:
    """Whether a person is named beside the post asked about ("South Holland's chief executive, Terry Huggins"),
    not merely somewhere in a sentence that mentions it ("Lord Porter said that chief executives ...")."""
    posts = [m.span() for m in _ROLE.finditer(text) if _post(m.group(0)) in asked]
    for name in facts.people(text):
        start = text.find(name)
        end = start + len(name)
        between = [text[b:start] if b <= start else text[end:a] for a, b in posts]
        if any(len(gap) <= 30 and not _REPORTED.search(gap) for gap in between):
            return True
    return False


# a post and a name with these between are not its holder: "Lord Porter also said that chief executives ..."
_REPORTED = re.compile(r"\b(?:said|says|wrote|writes|told|argued|warned|that|whose|which|who)\b|[;:]")


_FUNDING = re.compile(r"(?<!-)\b(?:fund(?:s|ed|ing)?|grants?|paid|pays?|financ(?:e|ed|es|ing)|money|budget)\b", re.I)
# Verbs that say a sum changed hands without saying what for: any sum in the sentence can answer them
_LIGHT_MONEY_VERBS = set(keyword_terms("get got receive received win won gain have has had give gave worth"))


def _money_verb(intent: Intent) -> set[str]:
    """The verb a how-much question asks the sum of ("paid", "spend", "cost"), unless it is a light one."""
    found = re.findall(
        r"\b(paid|pay|pays|cost|costs|spend|spent|spends|earn|earned|earns|save|saved|saves|charge|charged|"
        r"invest|invested|raise|raised)\b",
        intent.clause or "",
        re.I,
    )
    return set(keyword_terms(" ".join(found))) - _LIGHT_MONEY_VERBS


def _name_terms(name: str, snap: Snapshot) -> tuple[set[str], list[str]]:
    """A focus name's word stems, and the other forms it goes by: the acronym ("PSTN" for the network, or the
    name in full for the acronym) and, for a person, the surname alone ("Ritchie" for Pat Ritchie)."""
    acronyms = [a for a in (facts.acronym_of(name),) if a]
    if facts.is_person(name):
        acronyms.append(name.split()[-1])
    known = snap.acronyms()
    if known.get(name):  # the question used the acronym: the sentence may spell the name out
        acronyms.append(known[name])
    # the question spelt out a name the corpus shortens: "CoE" for the Centre of Excellence
    acronyms += [a for a, full in known.items() if a != name and (full.startswith(name) or name.startswith(full))]
    return set(keyword_terms(name)), acronyms


def _place_named(name: str, snap: Snapshot) -> str:
    """The case-study place a focus name spells or belongs to, in any word order ("North and North East
    Lincolnshire", "Wigan Council", "Supporting Leicestershire Families"), or "": the place named most fully."""
    stems = set(keyword_terms(name))
    within = [p for p in snap.places() if (place := set(keyword_terms(p))) and place <= stems]
    return max(within, key=lambda p: len(set(keyword_terms(p))), default="")


def _covers(stems: set[str], terms: set[str], snap: Snapshot | None = None) -> bool:
    """Whether `terms` hold most of a name: by weight, so the rare words of "Surrey Family Support Programme"
    count for more than "family" or "programme"."""
    if not stems:
        return False
    weight = snap.weight if snap is not None else (lambda _t: 1.0)
    return sum(weight(t) for t in stems & terms) / sum(weight(t) for t in stems) >= 0.6


_CONNECTIVE = re.compile(
    r"\b(?:nonetheless|nevertheless|instead|therefore|thus|consequently|meanwhile|likewise)\b", re.I
)


def _stands_alone(sentence: Sentence) -> bool:
    text = sentence.text
    return not (
        _LEANS_BACK.match(text)
        or _POINTS_BACK.match(text)
        or _CAVEAT.match(text)
        or _CONNECTIVE.search(text)  # "... was nonetheless expected to ...": it answers an earlier sentence
        or _short_name(sentence)
    )


def _short_name(sentence: Sentence) -> bool:
    """ "The Task Force's work ..." in a document about the Margate Task Force: a name cut short, which a
    reader who has not seen the longer one cannot place."""
    match = _SHORT_NAME.match(sentence.text)
    if not match:
        return False
    short = match.group(1).strip().removesuffix("'s").removesuffix("’s")
    longer = re.search(rf"\b[A-Z][\w’'-]* {re.escape(short)}\b", sentence.passage.title)
    return longer is not None and longer.group(0) not in sentence.text


def is_caveat(sentence: Sentence) -> bool:
    """A note on what the sources do not say ("Neither available source says how many ...")."""
    return bool(_CAVEAT.match(sentence.text)) or bool(
        re.search(
            r"\b(?:is|are|was|were) not (?:known|available)\b|"
            r"\bcannot be (?:checked|confirmed)|\bgives? no\b|\bnames? no\b|\bno (?:source|figures?) (?:says?|gives?)",
            sentence.text,
            re.I,
        )
    )


# == shaping the answer ========================================================================
def build_answer(
    question: str,
    query: Query,
    ranked: list[Sentence],
    snap: Snapshot,
    place_context: str,
    kin: Callable[[], dict[str, float]] | None = None,
) -> Answer:
    if not ranked:
        return Answer(question=question, covered=False, lead=NOT_COVERED, ideas=[], citations=[])
    reader = Reader(query, snap, kin)
    citations = Citations()
    partial, caveat = reader.missing_detail(ranked)
    if query.compare:
        lead, ideas, support = _compare(query, ranked, reader, snap, citations, place_context)
    elif query.ideas:
        lead, ideas, support = _ideas(query, ranked, reader, snap, citations, place_context)
    else:
        lead, ideas, support = _lookup(query, ranked, reader, snap, citations, place_context, partial, caveat)
    status = "partial" if partial else "covered"
    return Answer(
        question=question,
        covered=status == "covered",
        status=status,
        lead=lead,
        ideas=ideas,
        support=support,
        citations=citations.all(),
    )


def _lookup(
    query: Query,
    ranked: list[Sentence],
    reader: Reader,
    snap: Snapshot,
    citations: Citations,
    place_context: str,
    partial: bool,
    caveat: Sentence | None = None,
) -> tuple[str, list[Idea], list[str]]:
    """A look-up: the sentence that answers, then the few points that back it. An account of what a place did
    ("What did Melton build after the fire?") also gets that place's idea card. A partial answer says first
    what the sources lack, then (the corpus's own note on it, or) the best of what they do say."""
    first = caveat or choose_lead(ranked, reader)
    if partial:
        subject = query.focus[0] if query.focus else ""
        lead = f"{missing_sentence(query.intent, subject)} {_cited(first, citations)}"
        used = [first]
    else:
        used = with_context(first, ranked, reader)
        if len(used) == 1:
            used = lead_sentences(first, ranked, reader, snap)
        lead = " ".join(_cited(s, citations) for s in used)
    ideas: list[Idea] = []
    if query.intent.wants in ("what", "how") and first.passage.doc_type == "case_study" and not partial:
        points = _points_of(first.passage.doc_id, ranked, used, IDEA_POINTS)
        if points:
            ideas.append(make_idea(first.passage.doc_id, points, snap, citations, query, place_context, set()))
            used += points
    support = [_cited(s, citations) for s in _support(ranked, used, reader, LOOKUP_POINTS - len(ideas))]
    return lead, ideas, support


def _ideas(
    query: Query, ranked: list[Sentence], reader: Reader, snap: Snapshot, citations: Citations, place_context: str
) -> tuple[str, list[Idea], list[str]]:
    """Ideas from several places: one card per case study, the report and context documents as support."""
    docs = _idea_docs(ranked, MAX_IDEAS)
    if not docs:
        return _lookup(query, ranked, reader, snap, citations, place_context, False)
    asked: set[str] = set()
    ideas = []
    used: list[Sentence] = []
    for doc_id in docs:
        points = _points_of(doc_id, ranked, used, IDEA_POINTS)
        if not points:  # everything it had to say repeats an earlier card
            continue
        used += points
        ideas.append(make_idea(doc_id, points, snap, citations, query, place_context, asked))
    if not ideas:
        return _lookup(query, ranked, reader, snap, citations, place_context, False)
    titles = [f"{_topic(idea)} [{idea.citations[0]}]" for idea in ideas]
    count = ("one place", "two places", "three places", "four places")[len(ideas) - 1]
    lead = f"Ideas from {count}: {_join(titles)}."
    support = [_cited(s, citations) for s in _support(ranked, used, reader, SUPPORT_POINTS, other_types=True)]
    return lead, ideas, support


def _compare(
    query: Query, ranked: list[Sentence], reader: Reader, snap: Snapshot, citations: Citations, place_context: str
) -> tuple[str, list[Idea], list[str]]:
    """Places side by side: a card for each place named, with its own points."""
    ideas = []
    used: list[Sentence] = []
    asked: set[str] = set()
    leads = []
    for place in query.places:
        own = [s for s in ranked if s.passage.place == place]
        if not own:
            continue
        best = own[0]
        points = [best, *_points_of(best.passage.doc_id, own, [best, *used], COMPARE_POINTS - 1, floor=0.0)]
        used += points
        ideas.append(make_idea(best.passage.doc_id, points, snap, citations, query, place_context, asked))
        leads.append(best)
    if not leads:
        return _lookup(query, ranked, reader, snap, citations, place_context, False)
    lead = " ".join(_cited(s, citations) for s in leads[:2])
    return lead, ideas, []


def choose_lead(ranked: list[Sentence], reader: Reader) -> Sentence:
    """Among sentences close to the best, the one that best carries what was asked, about what was asked
    (a sentence that leans on the one before it is judged as if it stood alone when that one can be shown with it
    and is itself on the question's topic: with_context adds it)."""
    floor = ranked[0].score * LEAD_POOL
    pool = [s for s in ranked if s.score >= floor]

    def value(s: Sentence) -> float:
        if _antecedent(s, reader) is not None:
            return reader.lead_value(s) / (1 - W_ALONE) * 0.95
        return reader.lead_value(s)

    return max(pool, key=value)


def with_context(first: Sentence, ranked: list[Sentence], reader: Reader) -> list[Sentence]:
    """The lead, preceded by the sentence it leans on ("That evidence said ...") when that one stands alone
    and a self-standing sentence would not answer as well."""
    before = _antecedent(first, reader)
    if before is None:
        return [first]
    alone = [s for s in ranked if s.score >= ranked[0].score * LEAD_POOL and reader.fit(s).alone]
    best_alone = max((reader.lead_value(s) for s in alone), default=0.0)
    return [before, first] if reader.lead_value(first) / (1 - W_ALONE) * 0.95 > best_alone else [first]


def _antecedent(sentence: Sentence, reader: Reader) -> Sentence | None:
    """The sentence before one that leans on it, when that one stands alone and shares the question's words:
    an unrelated sentence before it would explain nothing."""
    if reader.fit(sentence).alone or sentence.editorial or is_caveat(sentence) or sentence.index == 0:
        return None
    units = answer_units(sentence.passage.text)
    if sentence.index >= len(units):
        return None
    shown, verbatim = units[sentence.index - 1]
    before = Sentence(shown, sentence.hit_rank, sentence.passage, sentence.index - 1, verbatim=verbatim)
    if not _stands_alone(before) or before.editorial or len(shown.split()) < 6:
        return None
    noun = _LEANING_NOUN.match(sentence.text)
    if noun:  # "That evidence said ..." leans on a sentence about evidence
        return before if set(keyword_terms(noun.group(1))) & set(keyword_terms(shown)) else None
    return before if reader.overlap(shown) >= ANTECEDENT_OVERLAP else None


# "That evidence ...", "The same Melton Times report ...": words of which the sentence before must name one
_LEANING_NOUN = re.compile(
    r"^(?:[Tt]his|[Tt]hat|[Tt]hese|[Tt]hose|[Tt]he|[Ss]uch) (?:same |other )?((?:[\w’'-]+ ){0,2}[\w-]+)"
)


def lead_sentences(first: Sentence, ranked: list[Sentence], reader: Reader, snap: Snapshot) -> list[Sentence]:
    """The lead sentence, plus one more when the question has a second part the first does not answer
    ("What award ..., and on what date?") or when it adds much of what the question asks that the first lacks."""
    wanted = question_terms(reader.query)
    missing = wanted - set(keyword_terms(first.text))
    total = sum(snap.weight(t) for t in wanted) or 1.0
    named = reader.query.focus  # the network asked about is not who was put in charge of it

    def carried(s: Sentence, kind: str) -> float:
        return facts.carries(s.text, kind, named=named)

    # a second part the first sentence answers only in part ("the Chancellor's Budget" for who ran the network)
    partly = next((k for k in reader.intent.also if carried(first, k) < 1.0), "")
    whole = _answers_both(first, ranked, reader, partly, carried)
    if whole is not None:
        return [whole]
    second = partly if partly and carried(first, partly) < 0.7 else ""

    def gain(s: Sentence) -> float:
        return sum(snap.weight(t) for t in missing & set(keyword_terms(s.text))) / total

    def helps(s: Sentence) -> bool:
        if second:
            return carried(s, second) >= 0.7
        # a single-part question: a second sentence only when it adds much of what was asked and the first
        # does not name what the question is about
        return gain(s) >= LEAD_GAIN and reader.fit(first).focus < 1.0 and reader.fit(s).focus == 1.0

    floor = (0.4 if second else 0.7) * first.score  # a second part may be answered by a less central sentence
    others = [
        s
        for s in ranked[:12]
        if s is not first
        and s.score >= floor
        and reader.fit(s).alone
        and reader.fit(s).focus >= 0.6
        and not _similar(s, first)
        and helps(s)
    ]
    best = max(others, key=lambda s: gain(s) + s.score, default=None)
    if best is None and _announces(first):
        best = _next_sentence(first, ranked)
    return [first, best] if best is not None else [first]


def _figures(sentence: Sentence) -> set[str]:
    return set(re.findall(r"\d[\d,.]*\d|\d", sentence.text))


def _answers_both(
    first: Sentence, ranked: list[Sentence], reader: Reader, second: str, carried: Callable[[Sentence, str], float]
) -> Sentence | None:
    """A sentence close to the lead that answers both parts of a two-part question ("announced on 21 March 2013
    and would be headed by Robert Pollock"): with the lead's figures and dates, and the rest, in one sentence."""
    if not second:
        return None
    both = [
        s
        for s in ranked[:12]
        if s is not first
        and s.score >= 0.6 * first.score
        and _figures(first) <= _figures(s)
        and reader.fit(s).alone
        and reader.fit(s).constraint >= reader.fit(first).constraint
        and reader.fit(s).focus >= reader.fit(first).focus
        and reader.fit(s).kind >= max(0.8, reader.fit(first).kind)
        and carried(s, second) >= max(0.9, carried(first, second) + 0.1)
    ]
    return max(both, key=lambda s: s.score, default=None)


_ANNOUNCES = re.compile(
    rf"\b(?:\d+|{facts.NUMBER_WORDS}) (?:[\w-]+ ){{0,2}}(?:kinds?|types?|groups?|ways?|areas|places|partners|changes"
    r"|things|proposals|strands|themes|aims|steps|parts|streams|elements|organisations|agencies|pilots)\b"
    r"[^,;:]*(?:, (?:according to|as|in) [^,;:]*)?[.:]$",
    re.I,
)


def _announces(sentence: Sentence) -> bool:
    """ "The call for evidence excluded three kinds of proposal.": the items follow in the next sentence."""
    return bool(_ANNOUNCES.search(sentence.text))


def _next_sentence(sentence: Sentence, ranked: list[Sentence]) -> Sentence | None:
    """The sentence after this one in its passage, as scored, if it was among the candidates."""
    return next((s for s in ranked if s.passage is sentence.passage and s.index == sentence.index + 1), None)


def _similar(a: Sentence, b: Sentence) -> bool:
    """Too close to add anything as a second lead sentence."""
    return a.vector is not None and b.vector is not None and float(a.vector @ b.vector) >= 0.75


def _points_of(
    doc_id: str, ranked: list[Sentence], used: list[Sentence], limit: int, floor: float = POINT_FLOOR
) -> list[Sentence]:
    """A document's best sentences not yet used, no two saying the same thing."""
    if not ranked:
        return []
    least = ranked[0].score * floor
    points: list[Sentence] = []
    for sentence in ranked:
        if len(points) >= limit:
            break
        if sentence.passage.doc_id != doc_id or sentence.score < least:
            continue
        if any(sentence is u or _same(sentence, u) for u in (*used, *points)):
            continue
        points.append(sentence)
    return points


def _support(
    ranked: list[Sentence], used: list[Sentence], reader: Reader, limit: int, other_types: bool = False
) -> list[Sentence]:
    """Points that back the lead: close to the best, about the focus, not repeating what is shown. Each next
    point is the one that best answers while covering most of what the question asks that is not yet covered,
    so a two-part question gets both parts."""
    if limit <= 0:
        return []
    least = ranked[0].score * POINT_FLOOR
    pool = [
        s
        for s in ranked
        if s.score >= least
        and not (other_types and s.passage.doc_type == "case_study")
        and reader.fit(s).focus >= 0.6
        and reader.fit(s).alone
    ]
    wanted = reader.detail_terms or question_terms(reader.query)
    total = sum(reader.snap.weight(t) for t in wanted) or 1.0
    covered = set().union(*(keyword_terms(s.text) for s in used)) if used else set()
    picked: list[Sentence] = []
    while pool and len(picked) < limit:

        def value(s: Sentence, covered: set[str] = covered) -> float:
            new = (wanted - covered) & set(keyword_terms(s.text))
            return reader.lead_value(s) * (1 + COVER_GAIN * sum(reader.snap.weight(t) for t in new) / total)

        best = max(pool, key=value)
        pool.remove(best)
        if any(best is u or _same(best, u) for u in (*used, *picked)):
            continue
        picked.append(best)
        covered |= set(keyword_terms(best.text))
    return picked


def _idea_docs(ranked: list[Sentence], limit: int) -> list[str]:
    """The case studies whose best sentence is close to the best evidence, best first."""
    if not ranked:
        return []
    least = ranked[0].score * 0.6
    docs: list[str] = []
    for sentence in ranked:
        doc = sentence.passage.doc_id
        if sentence.score < least or len(docs) >= limit:
            break
        if sentence.passage.doc_type == "case_study" and doc not in docs:
            docs.append(doc)
    return docs


def _topic(idea: Idea) -> str:
    """ "Melton: Parkside, a shared building" -> "Melton — Parkside, a shared building"."""
    place, sep, topic = idea.title.partition(": ")
    if sep:
        return f"{place} — {topic}"
    return f"{idea.place} — {idea.title}" if idea.place and idea.place != "England" else idea.title


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "; ".join(items[:-1]) + "; and " + items[-1]


def _cited(sentence: Sentence, citations: Citations) -> str:
    return f"{sentence.text} [{citations.mark(sentence)}]"


def _same(a: Sentence, b: Sentence) -> bool:
    if a.vector is None or b.vector is None:
        return a.text == b.text
    return float(a.vector @ b.vector) >= DUPLICATE_COSINE


def not_covered(question: str, hits: list[Hit]) -> Answer:
    nearest = list(dict.fromkeys(h.passage.title for h in hits))[:3]
    return Answer(question=question, covered=False, lead=NOT_COVERED, ideas=[], citations=[], nearest=nearest)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
