"""The bundled corpus: every document is well formed, sourced, and the set is big enough to be useful."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from askpanel.loaders import load_document
from askpanel.models import DOC_TYPES

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DOCS = sorted(p for p in CORPUS.glob("*.md") if p.name != "README.md")


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: no front matter"
    return yaml.safe_load(text[4 : text.index("\n---", 4)])


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_document_has_valid_front_matter(path: Path) -> None:
    meta = front_matter(path)
    assert meta["doc_type"] in DOC_TYPES
    assert isinstance(meta["title"], str) and meta["title"].strip()
    assert isinstance(meta["summary"], str) and meta["summary"].strip()
    assert isinstance(meta["year"], int) and 2000 <= meta["year"] <= 2026
    assert meta["sources"] and all(str(url).startswith(("http://", "https://")) for url in meta["sources"])
    assert meta.get("place") and meta.get("themes")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_document_loads_into_sections(path: Path) -> None:
    doc = load_document(path, f"corpus/{path.name}", path.read_bytes())
    assert len(doc.sections) >= 3
    assert sum(len(s.text.split()) for s in doc.sections) >= 300


@pytest.mark.parametrize("path", [p for p in DOCS if front_matter(p)["doc_type"] == "case_study"], ids=lambda p: p.name)
def test_case_studies_end_with_adaptation_questions(path: Path) -> None:
    doc = load_document(path, f"corpus/{path.name}", path.read_bytes())
    last = doc.sections[-1]
    assert last.heading.lower() == "to adapt it locally"
    assert sum(1 for line in last.text.splitlines() if line.strip().endswith("?")) >= 3


def test_titles_are_unique() -> None:
    titles = [front_matter(p)["title"] for p in DOCS]
    assert len(titles) == len(set(titles))


def test_corpus_is_large_enough_and_covers_all_three_types() -> None:
    words = sum(len(p.read_text(encoding="utf-8").split()) for p in DOCS)
    kinds = {front_matter(p)["doc_type"] for p in DOCS}
    assert len(DOCS) >= 25
    assert words >= 15_000
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
    ],
)
def test_fact_sheet_figures_appear_in_the_corpus(fact: str) -> None:
    assert any(fact in p.read_text(encoding="utf-8") for p in DOCS), fact
