"""The bundled corpus: every document is well formed, every passage names the pages behind it, and the set is big
enough to be useful."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from askpanel.chunking import chunk_document
from askpanel.loaders import EDITORIAL_KEY, load_document
from askpanel.models import DOC_TYPES

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DOCS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")
MARKER = re.compile(r"\[\^([a-z0-9-]+)\]")
ENDS_WITH_MARKER = re.compile(r"\[\^[a-z0-9-]+\]\s*$")
ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def split_document(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: no front matter"
    end = text.index("\n---", 4)
    return yaml.safe_load(text[4:end]), text[end + 4 :]


def units(body: str) -> list[str]:
    """Paragraphs and list items: what must each end with the key of its source. Headings and 'label:' lines
    carry no facts of their own."""
    found: list[str] = []
    current: list[str] = []
    for line in body.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":") or ITEM.match(line):
            if current:
                found.append(" ".join(current))
            current = []
            if ITEM.match(line):
                current = [stripped]
            continue
        current.append(stripped)
    if current:
        found.append(" ".join(current))
    return found


def body_words(path: Path) -> int:
    return len(MARKER.sub(" ", split_document(path)[1]).split())


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_document_has_valid_front_matter(path: Path) -> None:
    meta, _ = split_document(path)
    assert meta["doc_type"] in DOC_TYPES
    assert isinstance(meta["title"], str) and meta["title"].strip()
    assert isinstance(meta["summary"], str) and meta["summary"].strip()
    assert isinstance(meta["year"], int) and 2000 <= meta["year"] <= 2026
    assert isinstance(meta["sources"], dict) and meta["sources"], "sources must map keys to URLs"
    assert all(str(url).startswith(("http://", "https://")) for url in meta["sources"].values())
    assert meta.get("place") and meta.get("themes")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_paragraph_and_item_ends_with_a_known_source_key(path: Path) -> None:
    meta, body = split_document(path)
    unmarked = [u for u in units(body) if not ENDS_WITH_MARKER.search(u)]
    assert not unmarked, f"{path.name}: no source key at the end of: {unmarked[0][-120:]!r}"
    used = set(MARKER.findall(body))
    assert used - {EDITORIAL_KEY} <= set(meta["sources"]), f"{path.name}: undefined keys {used - set(meta['sources'])}"
    assert set(meta["sources"]) <= used, f"{path.name}: sources never cited: {set(meta['sources']) - used}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_passage_resolves_to_a_listed_url_or_is_marked_as_ours(path: Path) -> None:
    meta, _ = split_document(path)
    listed = set(meta["sources"].values())
    doc = load_document(path, f"corpus/{path.name}", path.read_bytes())
    for passage in chunk_document(doc):
        assert passage.sources, f"{path.name} [{passage.section}]: passage with no source spans"
        for span in passage.sources:
            assert span.editorial or span.urls, (
                f"{path.name}: a span with no page: {passage.text[span.start : span.end]!r}"
            )
            assert set(span.urls) <= listed
        assert MARKER.search(passage.text) is None, "markers are taken out of the text askpanel quotes"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_document_loads_into_sections(path: Path) -> None:
    doc = load_document(path, f"corpus/{path.name}", path.read_bytes())
    assert len(doc.sections) >= 3
    assert sum(len(s.text.split()) for s in doc.sections) >= 300


@pytest.mark.parametrize(
    "path", [p for p in DOCS if split_document(p)[0]["doc_type"] == "case_study"], ids=lambda p: p.name
)
def test_case_studies_end_with_adaptation_questions_marked_as_ours(path: Path) -> None:
    doc = load_document(path, f"corpus/{path.name}", path.read_bytes())
    last = doc.sections[-1]
    assert last.heading.lower() == "to adapt it locally"
    questions = [line for line in last.text.splitlines() if line.strip().endswith("?")]
    assert len(questions) >= 3
    for question in questions:
        start = last.text.index(question)
        spans = [s for s in last.sources if s.start < start + len(question) and start < s.end]
        assert spans and all(s.editorial for s in spans), f"{path.name}: question not marked [^ours]: {question}"


def test_no_two_case_studies_ask_the_same_question() -> None:
    seen: dict[str, str] = {}
    for path in DOCS:
        for line in split_document(path)[1].splitlines():
            question = MARKER.sub("", line).strip(" -*\t")
            if question.endswith("?"):
                assert question not in seen, f"{path.name} repeats a question of {seen[question]}: {question}"
                seen[question] = path.name


def test_titles_are_unique() -> None:
    titles = [split_document(p)[0]["title"] for p in DOCS]
    assert len(titles) == len(set(titles))


def test_corpus_is_large_enough_and_covers_all_three_types() -> None:
    kinds = {split_document(p)[0]["doc_type"] for p in DOCS}
    assert len(DOCS) >= 45
    assert sum(body_words(p) for p in DOCS) >= 35_000, "words of text, not counting front matter or source keys"
    assert kinds == set(DOC_TYPES)


@pytest.mark.parametrize(
    "fact",
    [
        "30 May 2008",
        "£5bn",
        "30 separate",
        "1,390",
        "Admiralty House",
        "£400",
        "Section 136",
        "£18.6m",
        "£410m",
        "120,000",
        "14 agencies",
        "1 May",
        "10 July 2014",
        "19.12%",
        "£62,649",
        "115",
        "2,190",
        "£250,000",
        "£89.4m",
        "158",
    ],
)
def test_fact_sheet_figures_appear_in_the_corpus(fact: str) -> None:
    assert any(fact in p.read_text(encoding="utf-8") for p in DOCS), fact
