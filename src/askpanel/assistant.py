"""Assistant: the one service behind the CLI, the web chat, REST and Python."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .chunking import split_sentences
from .config import Settings, load_settings
from .embeddings import Embedder
from .ingest import Progress, run_ingest
from .models import Answer, DocumentRecord, IngestReport, Passage, SearchHit
from .retrieval import Retriever
from .store import Store


class Assistant:
    """Ingest documents and answer questions about them, with citations.

    Construction is cheap: the model loads on first use and Chroma opens on first call.
    """

    def __init__(self, home: str | Path | None = None, **overrides: Any) -> None:
        self.settings: Settings = load_settings(home=home, **overrides)
        self.store = Store(self.settings)
        self.embedder = Embedder(self.settings.embed_dtype, self.settings.embed_batch_size)
        cache = self.settings.home / "index" / self.settings.collection if self.settings.cache_index else None
        self.retriever = Retriever(self.store, self.settings.refresh_seconds, cache)
        self._ingest_lock = threading.Lock()

    # -- ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path] | None = None,
        dry_run: bool = False,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Bring files or folders into the store; unchanged files cost no embedding work."""
        with self._ingest_lock:
            report = run_ingest(
                list(paths) if paths else [self.settings.corpus],
                self.store,
                self.embedder,
                self.settings,
                dry_run=dry_run,
                rebuild=rebuild,
                progress=progress,
            )
        self.retriever.invalidate()
        return report

    def documents(self) -> list[DocumentRecord]:
        """Every live document, report first, then context, then case studies by place."""
        order = {"report": 0, "context": 1, "case_study": 2}
        records = self.retriever.snapshot().records.values()
        return sorted(records, key=lambda r: (order.get(r.doc_type, 3), r.place, r.title))

    def health(self) -> int:
        """The number of live documents, after a round trip to the store: raises StoreUnavailable when it is down,
        even while answers could still come from the last snapshot."""
        self.store.revision()
        return len(self.retriever.snapshot().records)

    def places(self) -> list[str]:
        return self.retriever.snapshot().places()

    def themes(self) -> list[str]:
        return sorted({t for r in self.retriever.snapshot().records.values() for t in r.themes})

    # -- answers --------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        filters: dict[str, Any] | None = None,
        history: Sequence[Any] | None = None,
        place_context: str | None = None,
    ) -> Answer:
        """Answer from the corpus: a lead, ideas with [n] citations, or an honest 'not covered'."""
        from .compose import compose

        started = time.perf_counter()
        answer = compose(self, question, filters or {}, history or [], place_context or "")
        if self.settings.llm:
            from .llm import rewrite_with_llm

            answer = rewrite_with_llm(answer, self.settings)
        answer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
        return answer

    def ask_stream(
        self,
        question: str,
        filters: dict[str, Any] | None = None,
        history: Sequence[Any] | None = None,
        place_context: str | None = None,
    ) -> Iterator[Answer]:
        """Yield the extractive answer at once, then (with an LLM configured) its checked rewrite."""
        from .compose import compose

        answer = compose(self, question, filters or {}, history or [], place_context or "")
        yield answer
        if self.settings.llm and answer.covered:
            from .llm import stream_with_llm

            yield from stream_with_llm(answer, self.settings)

    def search(self, question: str, filters: dict[str, Any] | None = None, k: int = 8) -> list[SearchHit]:
        """The passages that best match a question, ranked, without composing an answer (for tools that read them)."""
        from .understand import clean_question

        asked = clean_question(question)
        if not asked:
            return []
        vector = self.embedder.embed_one(asked)
        hits = self.retriever.search(asked, vector, filters or {}, k=max(1, k))
        return [
            SearchHit(
                rank=rank,
                score=round(hit.score, 5),
                chunk_id=p.chunk_id,
                doc_id=p.doc_id,
                title=p.title,
                doc_type=p.doc_type,
                place=p.place,
                section=p.section,
                page=p.page,
                url=p.url,
                text=p.text,
            )
            for rank, hit in enumerate(hits, 1)
            for p in [hit.passage]
        ]

    def passage(self, chunk_id: str) -> Passage | None:
        """One live passage by its chunk id; None when no live document holds it."""
        snap = self.retriever.snapshot()
        index = snap.by_id.get(chunk_id)
        return None if index is None else snap.passages[index]

    def passages(self, doc_id: str) -> list[Passage]:
        """Every live passage of one document, in reading order; empty for an unknown document."""
        snap = self.retriever.snapshot()
        return [snap.passages[i] for i in snap.by_doc.get(doc_id, [])]

    def prepare_index(self) -> None:
        """Build the keyword index now and save it, so the next process to start loads it instead."""
        self.retriever.snapshot()

    def warm(self) -> None:
        """Load the torch model and the keyword index now rather than on the first question: for a process that
        will answer many (a one-off answer is quicker without torch, see Embedder)."""
        self.embedder.warm()
        self.retriever.snapshot()
        split_sentences("Build the sentence splitter now. Answers need it.")  # before requests arrive together

    # -- web chat extras ------------------------------------------------------------------------
    def compare(self, doc_a: str, doc_b: str, question: str = "", place_context: str | None = None) -> list[Answer]:
        """Two documents side by side: the same question answered from each one alone."""
        titles = {r.doc_id: r.title for r in self.documents()}
        return [
            self.ask(
                question or f"What was done in {titles.get(doc, doc)}, and what happened?",
                {"doc_id": [doc]},
                place_context=place_context,
            )
            for doc in (doc_a, doc_b)
        ]

    def feedback(self, answer: Answer, helpful: bool, comment: str = "") -> int:
        """Store a helpful / not-helpful verdict on an answer in the local feedback file; return its id."""
        from .feedback import FeedbackStore

        return FeedbackStore(self.settings.feedback_path).add(answer, helpful, comment)
