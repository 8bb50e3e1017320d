"""The keyword index saved beside the store: a restart loads it, a changed corpus never gets a stale one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import one_case_study

from askpanel import Assistant
from askpanel.store import Store

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
QUESTION = "When did a fire destroy Melton's council offices?"


def saved_indexes(home: Path) -> list[Path]:
    root = home / "index" / "askpanel"
    return [p for p in root.iterdir() if (p / "complete").exists()] if root.exists() else []


def wait_for_save(home: Path, count: int = 1, timeout: float = 30.0) -> list[Path]:
    """The index is saved off the answer's path, in a background thread: wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(found := saved_indexes(home)) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no saved keyword index under {home} after {timeout} s")


@pytest.fixture(autouse=True)
def no_saved_index(fresh_home: Path) -> None:
    """Start each test without the index other tests' assistants saved into the shared corpus home."""
    shutil.rmtree(fresh_home / "index", ignore_errors=True)


@pytest.fixture
def no_passage_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts reads of passages from Chroma: a restart that loads the saved index makes none."""
    calls: list[int] = []
    original = Store.passages_of

    def counting(self: Store, doc_ids):  # type: ignore[no-untyped-def]
        calls.append(len(doc_ids))
        return original(self, doc_ids)

    monkeypatch.setattr(Store, "passages_of", counting)
    return calls


def test_a_restart_loads_the_saved_index_and_answers_the_same(fresh_home: Path, no_passage_reads: list[int]) -> None:
    first = Assistant(home=fresh_home).ask(QUESTION)
    wait_for_save(fresh_home)
    no_passage_reads.clear()

    restarted = Assistant(home=fresh_home)
    again = restarted.ask(QUESTION)

    assert no_passage_reads == []
    assert again.markdown == first.markdown
    assert "30 May 2008" in " ".join([again.lead] + [p for i in again.ideas for p in i.points])


def test_an_ingest_makes_the_saved_index_stale_and_a_restart_rebuilds(fresh_home: Path, tmp_path: Path) -> None:
    Assistant(home=fresh_home).ask(QUESTION)
    wait_for_save(fresh_home)
    docs = one_case_study(
        tmp_path / "new", "Zorbleton", "Zorbleton council put its frobnication desk beside the housing team in 2013."
    )
    assert Assistant(home=fresh_home).ingest([docs]).ok

    answer = Assistant(home=fresh_home).ask("What is the frobnication desk in Zorbleton?")

    assert answer.covered
    assert "frobnication" in answer.lead
    assert len(wait_for_save(fresh_home, count=2)) == 2  # the new corpus is saved beside the old one


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "passages.json").write_bytes(b'[["chunk_id"'),  # cut short
        lambda d: (d / "passages.json").write_bytes(b'[["not", "the", "fields"]]'),  # another format
        lambda d: next(d.glob("*.index.npy")).write_bytes(b"\x00" * 10),  # a damaged index file
    ],
    ids=["truncated", "other-format", "damaged-index"],
)
def test_a_damaged_saved_index_is_rebuilt_not_trusted(fresh_home: Path, damage, no_passage_reads: list[int]) -> None:
    first = Assistant(home=fresh_home).ask(QUESTION)
    (saved,) = wait_for_save(fresh_home)
    damage(saved)
    no_passage_reads.clear()

    again = Assistant(home=fresh_home).ask(QUESTION)

    assert no_passage_reads != []  # rebuilt from Chroma
    assert again.markdown == first.markdown


def test_an_unwritable_index_folder_costs_nothing_but_the_saving(fresh_home: Path) -> None:
    (fresh_home / "index").write_text("a file where the folder should be", encoding="utf-8")
    answer = Assistant(home=fresh_home).ask(QUESTION)
    time.sleep(0.5)
    assert answer.covered
    assert Assistant(home=fresh_home).ask(QUESTION).markdown == answer.markdown


def test_the_cache_can_be_turned_off(fresh_home: Path) -> None:
    Assistant(home=fresh_home, cache_index=False).ask(QUESTION)
    time.sleep(0.5)
    assert saved_indexes(fresh_home) == []


def test_saving_keeps_two_indexes_and_clears_what_killed_processes_left(fresh_home: Path) -> None:
    root = fresh_home / "index" / "askpanel"
    old = time.time() - 7200
    for name in ("older-1", "older-2", "older-3", ".partial-killed", ".partial-in-progress"):
        (root / name).mkdir(parents=True)
        (root / name / "complete").touch()
    for name in ("older-1", "older-2", "older-3", ".partial-killed"):
        os.utime(root / name, (old, old))

    Assistant(home=fresh_home).ask(QUESTION)
    wait_for_save(fresh_home)
    deadline = time.monotonic() + 10
    while (root / "older-2").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    left = sorted(p.name for p in root.iterdir())
    assert len([n for n in left if not n.startswith(".partial-")]) == 2
    assert ".partial-killed" not in left
    assert ".partial-in-progress" in left  # another process may still be writing it


def test_the_ingest_command_leaves_the_index_ready_for_the_next_start(
    tmp_path: Path, no_passage_reads: list[int]
) -> None:
    from click.testing import CliRunner

    from askpanel.cli import main

    home = tmp_path / "cli-home"  # not fresh_home: this store must start empty
    result = CliRunner().invoke(main, ["--home", str(home), "ingest", str(CORPUS)])
    assert result.exit_code == 0, result.output
    wait_for_save(home)
    no_passage_reads.clear()

    answer = Assistant(home=home).ask(QUESTION)

    assert answer.covered
    assert no_passage_reads == []
