"""The small typed objects that cross module boundaries."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pydantic import BaseModel

DOC_TYPES = ("report", "case_study", "context")
_MARKERS = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class SourceSpan:
    """The pages a stretch of text rests on: [start, end) in its section's (or passage's) text.
    No URLs and editorial=True: text askpanel's editors wrote as a reading aid ([^ours])."""

    start: int
    end: int
    urls: tuple[str, ...] = ()
    editorial: bool = False


@dataclass(frozen=True)
class Section:
    """A run of text under one heading (and, for PDFs, on one page)."""

    heading: str
    text: str
    page: str = ""
    sources: tuple[SourceSpan, ...] = ()  # only for documents whose paragraphs name their sources


@dataclass(frozen=True)
class Document:
    """One parsed source file: metadata plus its text in sections."""

    doc_id: str
    path: str
    content_hash: str
    title: str
    doc_type: str
    sections: list[Section]
    place: str = ""
    region: str = ""
    themes: tuple[str, ...] = ()
    year: int = 0
    sources: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class Passage:
    """One chunk of a document, as stored in Chroma and searched."""

    chunk_id: str
    doc_id: str
    text: str
    title: str
    doc_type: str
    content_hash: str
    position: int
    section: str = ""
    page: str = ""
    place: str = ""
    region: str = ""
    themes: tuple[str, ...] = ()
    year: int = 0
    url: str = ""
    start: int = 0
    end: int = 0
    sources: tuple[SourceSpan, ...] = ()  # which page backs which stretch of `text`; empty: the document's url

    def metadata(self) -> dict[str, Any]:
        """Chroma metadata: scalars, plus themes as a list (Chroma 1.x stores arrays)."""
        meta: dict[str, Any] = {
            "text": self.text,  # here rather than as a Chroma document: its full-text index would double write time
            "doc_id": self.doc_id,
            "title": self.title,
            "doc_type": self.doc_type,
            "content_hash": self.content_hash,
            "position": self.position,
            "section": self.section,
            "page": self.page,
            "place": self.place,
            "region": self.region,
            "year": self.year,
            "url": self.url,
            "start": self.start,
            "end": self.end,
        }
        if self.themes:
            meta["themes"] = list(self.themes)
        if self.sources:
            meta["sources"] = encode_spans(self.sources)
        return meta

    def pages_for(self, start: int, end: int) -> tuple[list[str], bool]:
        """The URLs behind text[start:end], and whether it is the editors' own note; falls back to `url`."""
        urls: list[str] = []
        editorial = False
        for span in self.sources:
            if span.start < end and start < span.end:
                urls.extend(u for u in span.urls if u not in urls)
                editorial = editorial or span.editorial
        if not self.sources:
            return ([self.url] if self.url else []), False
        return urls, editorial and not urls

    @classmethod
    def from_chroma(cls, chunk_id: str, document: str | None, meta: dict[str, Any]) -> Passage:
        return cls(
            chunk_id=chunk_id,
            doc_id=str(meta["doc_id"]),
            text=str(meta.get("text", document or "")),  # stores written before text moved to metadata
            title=str(meta.get("title", "")),
            doc_type=str(meta.get("doc_type", "")),
            content_hash=str(meta.get("content_hash", "")),
            position=int(meta.get("position", 0)),
            section=str(meta.get("section", "")),
            page=str(meta.get("page", "")),
            place=str(meta.get("place", "")),
            region=str(meta.get("region", "")),
            themes=tuple(meta.get("themes") or ()),
            year=int(meta.get("year", 0) or 0),
            url=str(meta.get("url", "")),
            start=int(meta.get("start", 0)),
            end=int(meta.get("end", 0)),
            sources=decode_spans(str(meta.get("sources") or "")),
        )


def encode_spans(spans: tuple[SourceSpan, ...]) -> str:
    """Spans as compact JSON for a Chroma metadata field: [[start, end, [urls], editorial], ...]."""
    import json

    return json.dumps([[s.start, s.end, list(s.urls), int(s.editorial)] for s in spans], separators=(",", ":"))


def decode_spans(raw: str) -> tuple[SourceSpan, ...]:
    if not raw:
        return ()
    import json

    return tuple(SourceSpan(int(a), int(b), tuple(urls), bool(e)) for a, b, urls, e in json.loads(raw))


@dataclass(frozen=True)
class DocumentRecord:
    """The manifest's entry for one ingested document: what is live in the store."""

    doc_id: str
    path: str
    content_hash: str
    n_chunks: int
    title: str
    doc_type: str
    place: str = ""
    region: str = ""
    themes: tuple[str, ...] = ()
    year: int = 0
    sources: tuple[str, ...] = ()
    summary: str = ""
    ingested_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["themes"] = list(self.themes)
        data["sources"] = list(self.sources)
        return data


@dataclass
class IngestReport:
    """What one ingest run changed, and what it could not read."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        lines = [
            f"{len(self.added)} {verb}added, {len(self.updated)} {verb}updated, "
            f"{len(self.removed)} {verb}removed, {len(self.unchanged)} unchanged, "
            f"{len(self.failed)} failed; {self.chunks_embedded} chunks embedded"
        ]
        for label, names in (("added", self.added), ("updated", self.updated), ("removed", self.removed)):
            lines.extend(f"  {label}: {name}" for name in names)
        lines.extend(f"  FAILED {path}: {reason}" for path, reason in self.failed)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        return data


@dataclass(frozen=True)
class Citation:
    """A numbered pointer from the answer to the exact passage it quotes."""

    n: int
    chunk_id: str
    doc_id: str
    title: str
    doc_type: str
    place: str
    section: str
    page: str
    url: str  # the page that supports the quoted sentences (the document's first source when unknown)
    quote: str
    score: float
    passage: str = ""
    urls: list[str] = field(default_factory=list)  # every page behind the quoted sentences, best first
    editorial: bool = False  # the quote is askpanel's own reading aid, not a fact from a page


@dataclass(frozen=True)
class Idea:
    """One adaptable idea drawn from one document: what was done, where, with what result."""

    title: str
    place: str
    doc_type: str
    points: list[str]
    adapt: list[str]
    citations: list[int]
    doc_id: str = ""
    conditions: list[str] = field(default_factory=list)


ANSWER_STATUSES = ("covered", "partial", "not_covered")


@dataclass
class Answer:
    """Everything a front end needs to show one answer.

    status: "covered" (the lead answers the question), "partial" (the sources cover the subject but not the
    detail asked for: the lead says so, and the ideas hold what they do say) or "not_covered" (a refusal
    naming the nearest material). `covered` is True only for "covered".
    """

    question: str
    covered: bool
    lead: str
    ideas: list[Idea]
    citations: list[Citation]
    support: list[str] = field(default_factory=list)  # points that back the lead, each with its [n]
    nearest: list[str] = field(default_factory=list)
    markdown: str = ""
    engine: str = "extractive"
    confidence: float = 0.0  # best evidence score; below settings.min_score the answer is a refusal
    warnings: list[str] = field(default_factory=list)
    corpus_revision: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    status: str = ""
    kind: str = ""  # what the question asks for: who, when, where, how_many, why, which, yes_no, ideas, compare, ...

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "covered" if self.covered else "not_covered"

    def words(self) -> int:
        """How long the answer reads: its lead, points, ideas, conditions and questions, without [n] markers
        or the sources list."""
        parts = [self.lead, *self.support]
        for idea in self.ideas:
            parts += [idea.title, *idea.points, *idea.conditions, *idea.adapt]
        return len(_MARKERS.sub(" ", " ".join(parts)).split())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """The inverse of to_dict. Unknown keys are ignored and missing optional ones take their defaults, so
        an answer stored by an older or newer version still loads; a missing required field raises."""
        return cls(
            **{
                **_known(cls, data),
                "ideas": [Idea(**_known(Idea, i)) for i in data.get("ideas") or []],
                "citations": [Citation(**_known(Citation, c)) for c in data.get("citations") or []],
            }
        )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class SearchHit:
    """One passage found for a query, best first: what a search returns to tools that pick their own evidence."""

    rank: int
    score: float  # fused keyword and meaning rank score: larger is better, comparable within one search only
    chunk_id: str
    doc_id: str
    title: str
    doc_type: str
    place: str
    section: str
    page: str
    url: str
    text: str


class DocumentOut(BaseModel):
    """One live document as the REST and MCP front ends show it; its path on the server is left out on purpose."""

    doc_id: str
    title: str
    doc_type: str
    place: str
    region: str
    themes: list[str]
    year: int
    sources: list[str]
    summary: str
    n_chunks: int
    ingested_at: str
