"""Shared fixtures: a real store with the bundled corpus ingested once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home holding the bundled corpus, ingested once. Treat it as read-only."""
    from askpanel import Assistant

    home = tmp_path_factory.mktemp("corpus-home")
    report = Assistant(home=home).ingest([CORPUS])
    assert report.ok, report.summary()
    return home


@pytest.fixture(scope="session")
def assistant(corpus_home: Path):  # type: ignore[no-untyped-def]
    """An Assistant over the ingested bundled corpus (read-only use)."""
    from askpanel import Assistant

    return Assistant(home=corpus_home)


@pytest.fixture
def fresh_home(tmp_path: Path, corpus_home: Path) -> Path:
    """A private copy of the ingested corpus home, for tests that write."""
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    return home
