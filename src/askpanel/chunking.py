"""Split a Document into passages along its headings and paragraphs, with deterministic ids."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from .models import Document, Passage, SourceSpan

CHUNKER_VERSION = "2"  # 2: passages carry the source pages of their paragraphs
ADAPT_HEADING = "to adapt it locally"
BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")


_PUNKT_LOCK = threading.Lock()


@cache
def _punkt() -> Callable[[str], list[str]]:
    """NLTK's Punkt with no trained parameters, cutting as llama-index's sentence splitter did (a sentence runs
    to the start of the next one), so passages and their ids stay exactly as they were."""
    # One thread at a time: two first answers at once would each swap nltk's entries in sys.modules, and the
    # second would import the real package over the first's stand-ins (measured: HTTP 500s on a fresh server).
    with _PUNKT_LOCK:
        tokenizer = _punkt_module().PunktSentenceTokenizer()

    def split(text: str) -> list[str]:
        starts = [start for start, _ in tokenizer.span_tokenize(text)]
        return [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=False)]

    return split


def _punkt_module() -> Any:
    """nltk.tokenize.punkt, without running nltk's package __init__ unless something else already has.

    That __init__ imports scipy.stats, pandas and most of NLTK (over a second on a cold start) for a module that
    needs eight small ones. They are loaded beneath stand-in parent packages, then every nltk module is taken
    out of sys.modules again, so a later `import nltk` (llama-index's) loads the whole package as usual; this
    private copy lives on in the tokenizer that uses it.
    """
    if "nltk" in sys.modules:
        from nltk.tokenize import punkt

        return punkt
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nltk is needed to split sentences")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (("nltk", root), ("nltk.tokenize", root / "tokenize")):
        stand_in = types.ModuleType(name)
        stand_in.__path__ = [str(path)]
        sys.modules[name] = stand_in
    try:
        return importlib.import_module("nltk.tokenize.punkt")
    finally:
        for name in [n for n in sys.modules if n == "nltk" or n.startswith("nltk.")]:
            del sys.modules[name]


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage; each list item counts as a sentence of its own."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        for line in _logical_lines(block):
            sentences.extend(s.strip() for s in _punkt()(line) if s.strip())
    return sentences


def _logical_lines(block: str) -> list[str]:
    """Join wrapped lines, but keep bullets and label lines ('...:') apart."""
    lines: list[str] = []
    for raw in block.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if lines and not BULLET.match(raw) and not lines[-1].endswith(":") and not BULLET.match(lines[-1]):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return [BULLET.sub("", line) for line in lines]


def words(text: str) -> int:
    return len(text.split())


def chunk_document(doc: Document, target_words: int = 160) -> list[Passage]:
    """Pack paragraphs into passages of about `target_words`, never crossing a heading or a page."""
    seed = f"{doc.doc_id}\0{doc.content_hash}\0{CHUNKER_VERSION}\0{target_words}"
    prefix = hashlib.sha256(seed.encode()).hexdigest()[:16]
    url = doc.sources[0] if doc.sources else ""
    passages: list[Passage] = []
    offset = 0
    for section in doc.sections:
        for start, end, text in _pack(section.text, target_words):
            passages.append(
                Passage(
                    chunk_id=f"{prefix}-{len(passages):04d}",
                    doc_id=doc.doc_id,
                    text=text,
                    title=doc.title,
                    doc_type=doc.doc_type,
                    content_hash=doc.content_hash,
                    position=len(passages),
                    section=section.heading,
                    page=section.page,
                    place=doc.place,
                    region=doc.region,
                    themes=doc.themes,
                    year=doc.year,
                    url=_first_url(section.sources, start, end) or url,
                    start=offset + start,
                    end=offset + end,
                    sources=_spans_within(section.sources, start, end),
                )
            )
        offset += len(section.text) + 2
    return passages


def _spans_within(spans: tuple[SourceSpan, ...], start: int, end: int) -> tuple[SourceSpan, ...]:
    """The section's source spans that overlap [start, end), in the passage's own coordinates."""
    return tuple(
        SourceSpan(max(s.start, start) - start, min(s.end, end) - start, s.urls, s.editorial)
        for s in spans
        if s.start < end and start < s.end
    )


def _first_url(spans: tuple[SourceSpan, ...], start: int, end: int) -> str:
    return next((s.urls[0] for s in _spans_within(spans, start, end) if s.urls), "")


def _pack(text: str, target: int) -> list[tuple[int, int, str]]:
    """(start, end, text) spans of whole paragraphs (or sentences of a long one) near `target` words."""
    pieces: list[tuple[int, int]] = []
    for match in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", text, flags=re.S):
        start, end = match.span()
        if words(match.group()) <= target * 1.5:
            pieces.append((start, end))
        else:
            pieces.extend(_sentence_spans(text, start, end, target))
    spans: list[tuple[int, int, str]] = []
    cur_start, cur_end, cur_words = -1, -1, 0
    for start, end in pieces:
        n = words(text[start:end])
        if cur_start >= 0 and cur_words + n > target:
            spans.append((cur_start, cur_end, text[cur_start:cur_end]))
            cur_start, cur_words = -1, 0
        if cur_start < 0:
            cur_start = start
        cur_end, cur_words = end, cur_words + n
    if cur_start >= 0:
        spans.append((cur_start, cur_end, text[cur_start:cur_end]))
    return spans


def _sentence_spans(text: str, start: int, end: int, target: int) -> list[tuple[int, int]]:
    """Cut an over-long paragraph at sentence ends; a sentence-less wall of words is cut by word count."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for sentence in _punkt()(text[start:end]):
        found = text.find(sentence, cursor, end)
        if found < 0:
            continue
        for piece_start, piece_end in _word_windows(text, found, found + len(sentence), target):
            spans.append((piece_start, piece_end))
        cursor = found + len(sentence)
    return spans or list(_word_windows(text, start, end, target))


def _word_windows(text: str, start: int, end: int, target: int) -> list[tuple[int, int]]:
    tokens = list(re.finditer(r"\S+", text[start:end]))
    if len(tokens) <= target * 1.5:
        return [(start, end)]
    return [
        (start + tokens[i].start(), start + tokens[min(i + target, len(tokens)) - 1].end())
        for i in range(0, len(tokens), target)
    ]


def passage_header(passage: Passage) -> str:
    """Title and section, prepended to the text for embedding and keyword search only."""
    parts = [passage.title, passage.place, passage.section]
    return " — ".join(p for p in parts if p)
