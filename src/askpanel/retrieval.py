"""Hybrid search: BM25 over a keyword index derived from Chroma, dense search in Chroma, fused by rank."""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import ADAPT_HEADING, passage_header
from .models import DocumentRecord, Passage
from .store import FILTER_KEYS, Store, chroma_where

RRF_K = 20  # smaller than the usual 60: a first place in either ranking should count for a lot here
CANDIDATES = 50
SAME_DOC_DECAY = 0.8  # each extra passage from one document counts for less: answers draw on several places
IDEAS_DECAY = 0.5  # and much less when the question asks for ideas from several places
BACKGROUND_REBUILD_CHUNKS = 20_000


class FilterError(ValueError):
    """A filter the store cannot apply; the message names the field."""


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # fused rank score
    dense: float  # cosine similarity to the query (0 when only BM25 found it)
    bm25: float


@dataclass
class Snapshot:
    """An immutable view of the live corpus: documents, passages and the keyword index over them."""

    revision: str
    records: dict[str, DocumentRecord]
    passages: list[Passage]
    tokenizer: Any = None
    bm25: Any = None
    by_id: dict[str, int] = field(default_factory=dict)
    by_doc: dict[str, list[int]] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    _known: set[str] | None = None
    _acronyms: dict[str, str] | None = None

    @classmethod
    def build(cls, revision: str, records: dict[str, DocumentRecord], passages: list[Passage]) -> Snapshot:
        """Index the live passages among `passages` (those whose hash matches the manifest)."""
        live = [p for p in passages if p.doc_id in records and records[p.doc_id].content_hash == p.content_hash]
        live.sort(key=lambda p: (p.doc_id, p.position))
        tokenizer = bm25 = None
        if live:
            import bm25s

            tokenizer = keyword_tokenizer()
            tokens = tokenizer.tokenize(
                [f"{passage_header(p)}\n{p.text}" for p in live], return_as="tuple", show_progress=False
            )
            bm25 = bm25s.BM25()
            bm25.index(tokens, show_progress=False)
        return cls.assemble(revision, records, live, tokenizer, bm25)

    @classmethod
    def assemble(
        cls, revision: str, records: dict[str, DocumentRecord], live: list[Passage], tokenizer: Any, bm25: Any
    ) -> Snapshot:
        """A snapshot from live passages in (doc_id, position) order and their keyword index, built or loaded."""
        snap = cls(revision, records, live, tokenizer, bm25)
        snap.by_id = {p.chunk_id: i for i, p in enumerate(live)}
        by_doc: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(live):
            by_doc[p.doc_id].append(i)
        snap.by_doc = dict(by_doc)
        snap.columns = {
            "doc_type": np.array([p.doc_type for p in live], dtype=object),
            "place": np.array([p.place.lower() for p in live], dtype=object),
            "region": np.array([p.region.lower() for p in live], dtype=object),
            "year": np.array([p.year for p in live], dtype=np.int64),
            "doc_id": np.array([p.doc_id for p in live], dtype=object),
        }
        if bm25 is not None:
            doc_freq = np.diff(bm25.scores["indptr"])
            snap.idf = {
                stem: float(np.log(1 + len(live) / max(1, doc_freq[i])))
                for stem, i in tokenizer.get_vocab_dict().items()
                if i < len(doc_freq)
            }
        return snap

    def mask(self, filters: dict[str, Any]) -> np.ndarray | None:
        if not filters:
            return None
        keep = np.ones(len(self.passages), dtype=bool)
        for key, value in filters.items():
            values = _values(value)
            if key == "themes":
                wanted = {str(v) for v in values}
                keep &= np.array([bool(wanted & set(p.themes)) for p in self.passages], dtype=bool)
            elif key == "year":
                keep &= np.isin(self.columns["year"], [int(v) for v in values])
            elif key in ("place", "region"):
                keep &= np.isin(self.columns[key], [str(v).lower() for v in values])
            else:
                keep &= np.isin(self.columns[key], [str(v) for v in values])
        return keep

    def weight(self, term: str) -> float:
        """Inverse document frequency: rare words say more about what a question is after."""
        return self.idf.get(term, float(np.log(1 + len(self.passages))))

    def known_terms(self) -> set[str]:
        """Every word stem the corpus uses, in its text or in its documents' metadata."""
        if self._known is None:
            meta = " ".join(f"{r.title} {r.place} {r.region} {' '.join(r.themes)}" for r in self.records.values())
            vocab = self.tokenizer.get_vocab_dict() if self.tokenizer is not None else {}
            base = _base_forms()
            self._known = set(vocab) | {base.get(v, v) for v in vocab} | set(keyword_terms(meta.replace("-", " ")))
        return self._known

    def places(self) -> list[str]:
        return sorted({r.place for r in self.records.values() if r.place and r.place != "England"})

    def acronyms(self) -> dict[str, str]:
        """Acronyms the corpus spells out, "PSTN" -> "Public Service Transformation Network", from the
        "Full Name (ACRONYM)" pattern, kept where the initials agree. Linear in the text: each "(ABC)" looks
        back at the few words before it, so a page of capitalised words cannot make it backtrack."""
        if self._acronyms is None:
            found: dict[str, str] = {}
            for passage in self.passages:
                for match in _ACRONYM_IN_BRACKETS.finditer(passage.text):
                    acronym = match.group(1)
                    words = passage.text[max(0, match.start() - 120) : match.start()].split()[-10:]
                    for start in range(len(words)):
                        candidate = " ".join(words[start:])
                        if _initials(candidate) == acronym.rstrip("s") and candidate[:1].isupper():
                            found.setdefault(acronym, candidate.strip(",;:"))
                            break
                        if _abbreviates(acronym, words[start:]):  # "Centre of Excellence for ... (CoE)"
                            found.setdefault(acronym, " ".join(words[start : start + len(acronym)]).strip(",;:"))
                            break
            self._acronyms = found
        return self._acronyms


_ACRONYM_IN_BRACKETS = re.compile(r"\(([A-Z]{2,}s?|[A-Z][a-z][A-Z])\)")


def _abbreviates(acronym: str, words: list[str]) -> bool:
    """A mixed-case acronym ("CoE") spells, letter by letter and case by case, the first words of a name."""
    return (
        any(c.islower() for c in acronym)
        and len(words) >= len(acronym)
        and "".join(w[0] for w in words[: len(acronym)]) == acronym
    )


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.split() if w[:1].isupper())


def keyword_tokenizer() -> Any:
    """A fresh tokenizer for each snapshot: a tokenizer freezes its vocabulary at its first corpus."""
    import Stemmer
    from bm25s.tokenization import Tokenizer

    return Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"), splitter=WORD_PATTERN)


# "A&E" is one word to the people who ask about it: split at "&" it would vanish into two letters
WORD_PATTERN = r"(?u)\b\w&\w\b|\b\w\w+\b"
_WORD = re.compile(WORD_PATTERN)


def keyword_terms(text: str) -> list[str]:
    """Stemmed content words of a text: what sentences and questions share when they share meaning. Irregular
    past forms count as their verb ("built" as "build", "paid" as "pay"), which no stemmer does."""
    base = _base_forms()
    words = [base.get(w, w) for w in _WORD.findall(text.lower()) if w not in _stopwords()]
    return list(_stemmer().stemWords(words)) if words else []


@cache
def _base_forms() -> dict[str, str]:
    from .intent import IRREGULAR_PAST

    return {past: verb for verb, past in IRREGULAR_PAST.items() if " " not in verb and past != verb}


@cache
def _stopwords() -> frozenset[str]:
    from importlib.resources import files

    listed = files("askpanel").joinpath("data/stopwords-english.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in listed if w and not w.startswith("#")) | {
        "tell",
        "please",
        "could",
        "would",
        "us",
        "me",
        "also",
        "get",
        "many",
        "much",
    }


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


class Retriever:
    """Keeps a snapshot in step with Chroma and answers hybrid searches against it."""

    def __init__(self, store: Store, refresh_seconds: float = 1.0, cache: Path | None = None) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.cache = cache  # where snapshots are saved, so a restart loads one instead of rebuilding it
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._building = False

    def snapshot(self) -> Snapshot:
        """The current snapshot; looks for changes by other processes at most every refresh_seconds."""
        snap = self._snapshot
        now = time.monotonic()
        if snap is not None and now - self._checked < self.refresh_seconds:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and time.monotonic() - self._checked < self.refresh_seconds:
                return snap
            revision = self.store.revision()
            self._checked = time.monotonic()
            if snap is not None and snap.revision == revision:
                return snap
            if snap is not None and len(snap.passages) >= BACKGROUND_REBUILD_CHUNKS:
                self._rebuild_in_background(snap, revision)
                return snap
            self._snapshot = self._rebuild(snap, revision)
            return self._snapshot

    def invalidate(self) -> None:
        self._checked = 0.0

    def _rebuild(self, old: Snapshot | None, revision: str) -> Snapshot:
        from . import snapshot_cache

        records = self.store.records()
        if old is None and self.cache is not None:
            loaded = snapshot_cache.load(self.cache, revision, records)
            if loaded is not None:
                return loaded
        keep: list[Passage] = []
        fetch: list[str] = []
        for doc_id, record in records.items():
            old_record = old.records.get(doc_id) if old else None
            if old is not None and old_record is not None and old_record.content_hash == record.content_hash:
                keep.extend(old.passages[i] for i in old.by_doc.get(doc_id, []))
            else:
                fetch.append(doc_id)
        keep.extend(self.store.passages_of(fetch))
        snap = Snapshot.build(revision, records, keep)
        # Saved when a start had to build it, for the next start; a serving process that refreshes after
        # every ingest commit does not spend its cores saving each version. Off the answer's path, and not a
        # daemon thread, so a short CLI run still finishes the save.
        if old is None and self.cache is not None:
            threading.Thread(target=snapshot_cache.save, args=(self.cache, snap), name="askpanel-save-index").start()
        return snap

    def _rebuild_in_background(self, old: Snapshot, revision: str) -> None:
        if self._building:
            return
        self._building = True

        def work() -> None:
            try:
                self._snapshot = self._rebuild(old, revision)
            finally:
                self._building = False

        threading.Thread(target=work, daemon=True).start()

    def search(
        self,
        query: str,
        vector: np.ndarray,
        filters: dict[str, Any] | None = None,
        k: int = 8,
        decay: float = SAME_DOC_DECAY,
    ) -> list[Hit]:
        snap = self.snapshot()
        filters = normalise_filters(filters or {}, snap)
        if not snap.passages:
            return []
        dense = self._dense(snap, vector, filters)
        keyword = self._keyword(snap, query, filters)
        fused: dict[str, float] = defaultdict(float)
        for ranking in (dense, keyword):
            for rank, (chunk_id, _) in enumerate(ranking):
                fused[chunk_id] += 1.0 / (RRF_K + rank + 1)
        _drop_adaptation_sections(snap, fused)
        dense_sim = dict(dense)
        bm25_score = dict(keyword)
        order = sorted(fused, key=lambda c: -fused[c])
        hits = [
            Hit(snap.passages[snap.by_id[c]], fused[c], dense_sim.get(c, 0.0), bm25_score.get(c, 0.0)) for c in order
        ]
        return diversify(hits, k, decay)

    def _dense(self, snap: Snapshot, vector: np.ndarray, filters: dict[str, Any]) -> list[tuple[str, float]]:
        rows = self.store.dense(vector, min(CANDIDATES, len(snap.passages)), chroma_where(filters))
        return [(chunk_id, sim) for chunk_id, sim in rows if chunk_id in snap.by_id]  # the id carries the hash

    def _keyword(self, snap: Snapshot, query: str, filters: dict[str, Any]) -> list[tuple[str, float]]:
        ids = snap.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        if not ids:
            return []
        scores = snap.bm25.get_scores(ids)
        mask = snap.mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(CANDIDATES, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]  # a full sort of 100k scores costs more than the search
        top = top[np.argsort(-scores[top])]
        return [(snap.passages[i].chunk_id, float(scores[i])) for i in top if scores[i] > 0]


def _drop_adaptation_sections(snap: Snapshot, fused: dict[str, float]) -> None:
    """'To adapt it locally' sections are questions for the reader: they match "how should we..."
    questions well but hold nothing to quote, so they would take the places of passages of evidence."""
    for chunk_id in [c for c in fused if is_adaptation(snap.passages[snap.by_id[c]])]:
        del fused[chunk_id]


def is_adaptation(passage: Passage) -> bool:
    return passage.section.lower().startswith(ADAPT_HEADING)


def diversify(hits: Sequence[Hit], k: int, decay: float = SAME_DOC_DECAY) -> list[Hit]:
    """Greedy re-rank that discounts further passages from an already chosen document."""
    chosen: list[Hit] = []
    per_doc: dict[str, int] = defaultdict(int)
    pool = list(hits)
    while pool and len(chosen) < k:
        best = max(pool, key=lambda h: h.score * decay ** per_doc[h.passage.doc_id])
        pool.remove(best)
        chosen.append(best)
        per_doc[best.passage.doc_id] += 1
    return chosen


def _is_text(value: Any) -> bool:
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Chroma would reject the whole query
        return False
    return True


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def normalise_filters(filters: dict[str, Any], snap: Snapshot) -> dict[str, Any]:
    """Drop empty values, reject unknown keys, and map place names to their stored spelling."""
    clean: dict[str, Any] = {}
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise FilterError(f"unknown filter '{key}' (allowed: {', '.join(FILTER_KEYS)})")
        if value in (None, "", [], ()):
            continue
        values = _values(value)
        if not all(_is_text(v) for v in values):
            raise FilterError(f"filter '{key}' holds characters that are not text: {value!r:.80}")
        if key == "year":
            try:
                clean[key] = [int(v) for v in values]
            except (TypeError, ValueError) as exc:
                raise FilterError(f"filter 'year' must be a whole number, got {value!r}") from exc
        elif key == "place":
            spelled = {r.place.lower(): r.place for r in snap.records.values()}
            clean[key] = [spelled.get(str(v).lower(), str(v)) for v in values]
        else:
            clean[key] = value
    return clean
