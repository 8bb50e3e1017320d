"""Ingest and store, as a user and a crash see them.

A run reports every file it cannot read by name and reason and still ingests the rest; re-runs do only the work
that changed; an interrupted run (exception, or kill -9) never leaves a half-written document visible and the
next run finishes the job, ending exactly where a clean ingest would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ChromaServer, assert_whole, markdown_case, stored_chunks, write_markdown_corpus
from test_loaders import encrypt_pdf, make_docx, make_pdf

from askpanel import Assistant
from askpanel.embeddings import Embedder
from askpanel.ingest import content_hash
from askpanel.store import Store, StoreUnavailable

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "askpanel", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        timeout=timeout,
        cwd=ROOT,
    )


def snapshot(home: Path, **overrides: object) -> dict[str, tuple[str, list[str]]]:
    """{doc_id: (content_hash, chunk ids)} of a home, after checking every document is whole."""
    store = Store(Assistant(home=home, **overrides).settings)
    try:
        return assert_whole(store)
    finally:
        store.close()


def chunk_ids(state: dict[str, tuple[str, list[str]]]) -> set[str]:
    return {cid for _, ids in state.values() for cid in ids}


# -- a folder of good and bad files, through the real CLI ------------------------------------------------


GOOD = {
    "leeds.md": b"---\ntitle: Leeds Families First\nplace: Leeds\n---\nLeeds pooled data on families.\n",
    "notes.txt": b"Oldham signed a single data sharing protocol with all partners.\n",
    "margate.html": b"<title>Margate Task Force</title><h2>What they did</h2><p>Margate co-located staff.</p>",
    "melton.docx": make_docx("Melton skills centre", [("What they did", ["Melton opened a skills centre."])]),
    "report.pdf": make_pdf(["The panel's foreword.", "Twenty recommendations."], title="Panel report"),
}
BAD = {
    # file name: (bytes or size of a sparse file, the reason the report must give)
    "encrypted.pdf": (encrypt_pdf(make_pdf(["Minutes."]), "letmein"), "PDF is encrypted with a password"),
    "truncated.pdf": (make_pdf(["Some text. " * 300] * 6)[:4000], "cannot read PDF (damaged or truncated?)"),
    "corrupt.pdf": (b"%PDF-1.4\n" + b"\x00\xff not an object \n" * 40, "cannot read PDF (damaged or truncated?)"),
    "empty.md": (b"", "file is empty"),
    "binary.md": (bytes(range(256)) * 4, "looks like a binary file (contains NUL bytes), not text"),
    "latin1.txt": ("Café culture".encode("latin-1"), "not valid UTF-8 text (bad byte at offset 3)"),
    "bad-yaml.md": (b"---\ntitle: [unclosed\n---\nBody.\n", "malformed front matter at line"),
    "year-twenty.md": (b'---\nyear: "twenty"\n---\nBody.\n', "front matter field 'year' must be a whole number"),
    "blog.md": (b"---\ndoc_type: blog\n---\nBody.\n", "front matter field 'doc_type' must be one of"),
    "slides.pptx": (b"PK\x03\x04 slides", "unsupported file type '.pptx'"),
    "too-big.txt": (b"word " * 30_000, "file is 150,000 bytes, over the 100,000 bytes limit"),
    "huge.pdf": (200_000_000, "file is 200.0 MB, over the 100,000 bytes limit (ASKPANEL_MAX_FILE_MB)"),
    "unknown-key.md": (
        b"---\nsources:\n  bbc: https://example.org/bbc\n---\n## Fire\nOffices burned. [^bbc]\nA new hall. [^times]\n",
        "line 7: source key [^times] is not in the front matter's sources (known: bbc)",
    ),
    "bad-key.md": (b"---\nsources:\n  BBC News: https://example.org\n---\nBody. [^bbc]\n", "must be lowercase letters"),
}


def test_bad_files_are_reported_by_name_and_reason_while_the_rest_are_ingested(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in GOOD.items():
        (inbox / name).write_bytes(data)
    for name, (content, _) in BAD.items():
        if isinstance(content, int):
            with (inbox / name).open("wb") as handle:
                handle.truncate(content)  # sparse: the size check must refuse it without reading 200 MB
        else:
            (inbox / name).write_bytes(content)
    missing = tmp_path / "no-such-folder"

    done = run_cli("--home", str(tmp_path / "home"), "ingest", str(inbox), str(missing), "--json",
                   env={"ASKPANEL_MAX_FILE_MB": "0.1"})  # fmt: skip

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    failed = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert set(failed) == {*BAD, missing.name}
    for name, (_, reason) in BAD.items():
        assert reason in failed[name], (name, failed[name])
    assert failed[missing.name] == "no such file or directory"
    assert sorted(report["added"]) == sorted(f"inbox/{name}" for name in GOOD)

    docs = {d.doc_id: d for d in Assistant(home=tmp_path / "home").documents()}
    assert sorted(docs) == sorted(f"inbox/{name}" for name in GOOD)
    assert docs["inbox/leeds.md"].place == "Leeds"
    assert docs["inbox/margate.html"].title == "Margate Task Force"
    assert docs["inbox/melton.docx"].title == "Melton skills centre"
    assert docs["inbox/report.pdf"].title == "Panel report"
    assert snapshot(tmp_path / "home").keys() == docs.keys()


def test_the_text_summary_names_each_failed_file_and_exits_non_zero(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "blog.md").write_bytes(b"---\ndoc_type: blog\n---\nBody.\n")

    done = run_cli("--home", str(tmp_path / "home"), "ingest", str(inbox))

    assert done.returncode == 1
    assert "0 added, 0 updated, 0 removed, 0 unchanged, 1 failed; 0 chunks embedded" in done.stdout
    assert f"FAILED {inbox / 'blog.md'}: front matter field 'doc_type' must be one of" in done.stdout


def test_a_file_that_vanishes_mid_run_is_reported_and_keeps_its_last_good_version_until_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    paths = write_markdown_corpus(corpus, 3, seed=1)
    assistant = Assistant(home=tmp_path / "home")
    assistant.ingest([corpus])
    before = snapshot(tmp_path / "home")
    paths[1].write_text(markdown_case(random.Random(9), 1))  # changed, then gone before it is read
    import askpanel.ingest

    real_discover = askpanel.ingest.discover

    def discover_then_delete(found_paths):
        found = real_discover(found_paths)
        paths[1].unlink()
        return found

    monkeypatch.setattr(askpanel.ingest, "discover", discover_then_delete)

    report = assistant.ingest([corpus])

    assert report.failed == [(str(paths[1].resolve()), "file vanished before it could be read")]
    assert report.unchanged == ["corpus/case-000.md", "corpus/case-002.md"]
    assert report.removed == []
    assert snapshot(tmp_path / "home") == before

    monkeypatch.setattr(askpanel.ingest, "discover", real_discover)
    report = assistant.ingest([corpus])
    assert report.removed == ["corpus/case-001.md"]
    assert sorted(snapshot(tmp_path / "home")) == ["corpus/case-000.md", "corpus/case-002.md"]


def test_max_file_mb_override_refuses_large_files_and_keeps_small_ones(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_markdown_corpus(corpus, 1, seed=2)
    (corpus / "long.md").write_text("Councils pooled budgets. " * 1000)  # 25 KB

    report = Assistant(home=tmp_path / "home", max_file_mb=0.01).ingest([corpus])

    assert report.added == ["corpus/case-000.md"]
    assert report.failed == [
        (str(corpus / "long.md"), "file is 25,000 bytes, over the 10,000 bytes limit (ASKPANEL_MAX_FILE_MB)")
    ]


# -- incremental runs -----------------------------------------------------------------------------------


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[Assistant, Path, list[Path]]:
    """An Assistant over a home holding a five-document folder, ingested once."""
    corpus = tmp_path / "corpus"
    paths = write_markdown_corpus(corpus, 5, seed=3)
    assistant = Assistant(home=tmp_path / "home")
    report = assistant.ingest([corpus])
    assert report.added == [f"corpus/{p.name}" for p in paths]
    return assistant, corpus, paths


def test_unchanged_files_cost_no_embedding_and_no_writes(ingested, embed_calls: list[list[str]]) -> None:
    assistant, corpus, paths = ingested
    before, revision = snapshot(assistant.settings.home), assistant.store.revision()

    report = assistant.ingest([corpus])

    assert report.unchanged == [f"corpus/{p.name}" for p in paths]
    assert (report.added, report.updated, report.removed, report.failed) == ([], [], [], [])
    assert report.chunks_embedded == 0
    assert embed_calls == []
    assert assistant.store.revision() == revision
    assert snapshot(assistant.settings.home) == before


def test_a_changed_file_replaces_all_its_old_chunks(ingested, embed_calls: list[list[str]]) -> None:
    assistant, corpus, paths = ingested
    before = snapshot(assistant.settings.home)
    old_hash, old_ids = before["corpus/case-002.md"]
    paths[2].write_text(markdown_case(random.Random(99), 2, paragraphs=(1, 1)))  # shorter: fewer chunks

    report = assistant.ingest([corpus])

    assert report.updated == ["corpus/case-002.md"]
    assert len(report.unchanged) == 4
    after = snapshot(assistant.settings.home)
    new_hash, new_ids = after["corpus/case-002.md"]
    assert new_hash != old_hash
    assert 0 < len(new_ids) < len(old_ids)
    assert report.chunks_embedded == len(new_ids)
    assert sum(len(texts) for texts in embed_calls) == len(new_ids), "only the changed file is embedded"
    assert not set(old_ids) & set(stored_chunks(assistant.store)), "old chunks are deleted, not just hidden"
    assert {d: s for d, s in after.items() if d != "corpus/case-002.md"} == {
        d: s for d, s in before.items() if d != "corpus/case-002.md"
    }
    assert assistant.store.count() == sum(len(ids) for _, ids in after.values())


def test_a_removed_file_is_deleted_with_its_chunks(ingested) -> None:
    assistant, corpus, paths = ingested
    paths[0].unlink()

    report = assistant.ingest([corpus])

    assert report.removed == ["corpus/case-000.md"]
    assert report.chunks_embedded == 0
    after = snapshot(assistant.settings.home)
    assert "corpus/case-000.md" not in after
    assert not [m for m in stored_chunks(assistant.store).values() if m["doc_id"] == "corpus/case-000.md"]
    assert sorted(d.doc_id for d in assistant.documents()) == sorted(after)
    assert assistant.store.count() == sum(len(ids) for _, ids in after.values())


def test_an_emptied_folder_removes_every_document_from_it(ingested) -> None:
    assistant, corpus, paths = ingested
    for path in paths:
        path.unlink()

    report = assistant.ingest([corpus])

    assert sorted(report.removed) == [f"corpus/{p.name}" for p in paths]
    assert assistant.store.records() == {}
    assert assistant.store.count() == 0


def test_ingesting_one_file_never_removes_the_others(ingested) -> None:
    assistant, _, paths = ingested

    report = assistant.ingest([paths[0]])

    assert (report.unchanged, report.removed) == (["corpus/case-000.md"], [])
    assert len(assistant.store.records()) == 5


def test_dry_run_says_what_would_change_and_writes_nothing(ingested) -> None:
    assistant, corpus, paths = ingested
    home = assistant.settings.home
    paths[1].write_text(markdown_case(random.Random(7), 1))
    paths[4].unlink()
    (corpus / "new.md").write_text(markdown_case(random.Random(8), 5))
    before, revision, count = snapshot(home), assistant.store.revision(), assistant.store.count()
    assistant.store.close()

    done = subprocess.run(
        [sys.executable, str(ROOT / "ingest.py"), "--dry-run", str(corpus)],
        capture_output=True,
        text=True,
        env={**ENV, "ASKPANEL_HOME": str(home)},
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "1 would be added, 1 would be updated, 1 would be removed, 3 unchanged, 0 failed; 0 chunks embedded",
        "  added: corpus/new.md",
        "  updated: corpus/case-001.md",
        "  removed: corpus/case-004.md",
    ]
    assert (snapshot(home), assistant.store.revision(), assistant.store.count()) == (before, revision, count)


def test_dry_run_into_a_new_home_creates_no_store(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_markdown_corpus(corpus, 2, seed=4)

    report = Assistant(home=tmp_path / "new-home").ingest([corpus], dry_run=True)

    assert report.added == ["corpus/case-000.md", "corpus/case-001.md"]
    assert not (tmp_path / "new-home").exists()


def test_rebuild_starts_from_an_empty_store(ingested, tmp_path: Path) -> None:
    assistant, _, _ = ingested
    other = tmp_path / "other"
    write_markdown_corpus(other, 2, seed=5)

    report = assistant.ingest([other], rebuild=True)

    assert report.added == ["other/case-000.md", "other/case-001.md"]
    state = snapshot(assistant.settings.home)
    assert sorted(state) == ["other/case-000.md", "other/case-001.md"]
    assert assistant.store.count() == sum(len(ids) for _, ids in state.values())
    assert {m["doc_id"] for m in stored_chunks(assistant.store).values()} == set(state)


def test_same_input_gives_the_same_chunk_ids_in_any_home_and_after_rebuild(ingested, tmp_path: Path) -> None:
    assistant, corpus, _ = ingested
    first = snapshot(assistant.settings.home)

    Assistant(home=tmp_path / "second").ingest([corpus])
    assistant.ingest([corpus], rebuild=True)

    assert snapshot(tmp_path / "second") == first
    assert snapshot(assistant.settings.home) == first


def test_a_new_chunk_size_re_chunks_files_whose_bytes_did_not_change(ingested) -> None:
    assistant, corpus, paths = ingested
    before = snapshot(assistant.settings.home)

    smaller = Assistant(home=assistant.settings.home, chunk_words=40)
    report = smaller.ingest([corpus])

    assert sorted(report.updated) == [f"corpus/{p.name}" for p in paths]
    after = snapshot(assistant.settings.home)
    assert sum(len(ids) for _, ids in after.values()) > sum(len(ids) for _, ids in before.values())
    assert not chunk_ids(before) & set(stored_chunks(smaller.store))
    assert smaller.ingest([corpus]).chunks_embedded == 0


# -- interrupted runs -------------------------------------------------------------------------------------


def test_a_crash_inside_the_embedder_reports_the_files_and_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import askpanel.ingest

    monkeypatch.setattr(askpanel.ingest, "GROUP_CHUNKS", 6)  # several embed-and-commit groups
    corpus = tmp_path / "corpus"
    write_markdown_corpus(corpus, 8, seed=6)
    real = Embedder.embed
    calls = []

    def second_call_fails(self: Embedder, texts: list[str]) -> np.ndarray:
        calls.append(texts)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real(self, texts)

    monkeypatch.setattr(Embedder, "embed", second_call_fails)
    assistant = Assistant(home=tmp_path / "home")

    report = assistant.ingest([corpus])

    assert len(calls) >= 3, "the crash must hit a middle group"
    assert report.failed and {reason for _, reason in report.failed} == {
        "embedding failed: RuntimeError: out of memory"
    }
    failed_ids = {f"corpus/{Path(p).name}" for p, _ in report.failed}
    assert failed_ids.isdisjoint(report.added)
    assert len(failed_ids) + len(report.added) == 8
    state = snapshot(tmp_path / "home")
    assert sorted(state) == sorted(report.added)
    assert not [m for m in stored_chunks(assistant.store).values() if m["doc_id"] in failed_ids]
    assert assistant.store.pending() == []

    monkeypatch.setattr(Embedder, "embed", real)
    again = assistant.ingest([corpus])

    assert sorted(again.added) == sorted(failed_ids)
    assert again.ok
    Assistant(home=tmp_path / "clean").ingest([corpus])
    assert snapshot(tmp_path / "home") == snapshot(tmp_path / "clean")
    assert assistant.store.count() == sum(len(ids) for _, ids in snapshot(tmp_path / "clean").values())


@pytest.mark.parametrize(
    ("crash_in", "visible"),
    [
        ("put_passages", "old"),  # chunks partly written, manifest untouched: readers keep the old version
        ("commit", "old"),  # all chunks written, manifest not yet updated
        ("sweep", "new"),  # committed, old chunks not yet deleted: readers see the new version only
    ],
)
def test_a_store_failure_mid_write_shows_readers_whole_documents_and_the_next_run_cleans_up(
    ingested, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, crash_in: str, visible: str
) -> None:
    assistant, corpus, paths = ingested
    home = assistant.settings.home
    before = snapshot(home)
    paths[3].write_text(markdown_case(random.Random(11), 3, paragraphs=(5, 5)))
    (corpus / "new.md").write_text(markdown_case(random.Random(12), 9))
    real = getattr(Store, crash_in)

    def die(self: Store, *args):
        if crash_in == "put_passages":  # write the first half of the chunks, then fail
            passages, vectors = args
            real(self, passages[: len(passages) // 2], vectors[: len(passages) // 2])
        raise ConnectionError("disk went away")

    monkeypatch.setattr(Store, crash_in, die)
    with pytest.raises(ConnectionError):
        assistant.ingest([corpus])
    monkeypatch.setattr(Store, crash_in, real)

    during = snapshot(home)
    if visible == "old":
        assert during == before
    else:
        assert during["corpus/case-003.md"][0] != before["corpus/case-003.md"][0]
        assert "corpus/new.md" in during
    assert sorted(p.doc_id for p in assistant.store.pending()) == ["corpus/case-003.md", "corpus/new.md"]
    assert sorted(d.doc_id for d in Assistant(home=home).documents()) == sorted(during)

    report = assistant.ingest([corpus])

    assert assistant.store.pending() == []
    Assistant(home=tmp_path / "clean").ingest([corpus])
    clean = snapshot(tmp_path / "clean")
    assert snapshot(home) == clean
    assert assistant.store.count() == sum(len(ids) for _, ids in clean.values()), "no stray chunks left"
    assert report.ok


KILL_DRIVER = """
import hashlib, sys, time
import chromadb  # imported before "ready", so the kill window covers ingest work, not imports
import numpy as np
import askpanel.ingest
from askpanel.cli import main
from askpanel.embeddings import Embedder
from askpanel.store import Store

askpanel.ingest.GROUP_CHUNKS = 4  # many small commit groups: many windows for a kill to land in
real_begin = Store.begin


def begin(self, doc_ids):
    if not getattr(Store, "writing", False):
        Store.writing = True
        print("writing", flush=True)  # the first write intent: from here on chunks and the manifest change
    real_begin(self, doc_ids)


def embed(self, texts):
    # A fast stand-in for the model: deterministic unit vectors, with a pause as if embedding.
    time.sleep(0.004 * len(texts))
    seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
    rows = np.array([np.random.default_rng(s).standard_normal(384) for s in seeds], dtype=np.float32)
    return rows.reshape(len(texts), 384) / np.linalg.norm(rows, axis=1, keepdims=True).reshape(-1, 1)


Embedder.embed = embed
Store.begin = begin
print("ready", flush=True)
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_a_half_written_document(tmp_path: Path) -> None:
    """SIGKILL the CLI ingest over and over while files change; readers always see whole documents.

    The subprocess is the real CLI with a fast stand-in embedder (so 20 kills fit in about a minute) and small
    commit groups. Most kills land at a random moment of the write phase, the rest anywhere after start-up (in
    the sweep of the last run's leftovers, say). Between kills the corpus changes (edits, additions, deletions)
    so every run has real work to interrupt.
    """
    rng = random.Random(20240101)
    driver = tmp_path / "driver.py"
    driver.write_text(KILL_DRIVER)
    corpus = tmp_path / "corpus"
    write_markdown_corpus(corpus, 60, seed=7)
    home = tmp_path / "home"
    settings = Assistant(home=home).settings

    log = tmp_path / "driver.log"

    def start(home_dir: Path) -> subprocess.Popen[str]:
        with log.open("a") as errors:
            proc = subprocess.Popen(
                [sys.executable, str(driver), "--home", str(home_dir), "ingest", str(corpus)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=ENV,
                cwd=ROOT,
            )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", log.read_text()[-3000:]
        return proc

    def versions() -> dict[str, str]:
        return {f"corpus/{p.name}": content_hash(p.read_bytes(), b"", settings) for p in sorted(corpus.glob("*.md"))}

    # How long an uninterrupted ingest of the whole corpus takes here, and its write phase, to spread kills over.
    proc = start(tmp_path / "timing-home")
    began = time.monotonic()
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    writing = time.monotonic()
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    full_run, write_phase = time.monotonic() - began, time.monotonic() - writing

    seen_versions: dict[str, set[str]] = {}
    committed = {d: h for d, (h, _) in snapshot(home).items()} if home.exists() else {}
    kills = mid_write = finished = 0
    next_id = 60
    for _ in range(60):  # until 20 kills, 8 of them mid-write (pending markers left); finished runs do not count
        if kills >= 20 and mid_write >= 8:
            break
        on_disk = versions()
        for doc_id, digest in on_disk.items():
            seen_versions.setdefault(doc_id, set()).add(digest)
        share = 1.0 if kills == 0 else 0.35  # later runs change about a third of the corpus
        proc = start(home)
        if rng.random() < 0.75:
            assert proc.stdout is not None
            proc.stdout.readline()  # "writing" (or the end of a run with nothing to write)
            window = write_phase * share
        else:
            window = full_run * share
        time.sleep(rng.uniform(0.0, window))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        else:
            finished += 1
        proc.wait(timeout=30)

        store = Store(settings)
        try:
            mid_write += bool(store.pending())
            state = assert_whole(store)  # the invariant: every visible document has exactly its chunks
        finally:
            store.close()
        for doc_id, (digest, _) in state.items():
            assert digest in seen_versions[doc_id], f"{doc_id} shows a version that was never on disk"
        for doc_id, digest in committed.items():
            if on_disk.get(doc_id) == digest:
                assert state.get(doc_id, ("",))[0] == digest, f"{doc_id} was committed and unchanged, yet lost"
        committed = {d: h for d, (h, _) in state.items()}

        # Change the corpus for the next run: edit 10 files, delete 3, add 3.
        files = sorted(corpus.glob("*.md"))
        for path in rng.sample(files, 10):
            path.write_text(markdown_case(rng, int(path.stem.split("-")[1])))
        for path in rng.sample(files, 3):
            path.unlink()
        for _ in range(3):
            (corpus / f"case-{next_id:03d}.md").write_text(markdown_case(rng, next_id))
            next_id += 1

    print(f"{kills} kills ({mid_write} mid-write), {finished} runs finished first; full run {full_run:.1f}s")
    assert kills >= 20, f"only {kills} kills in 60 runs ({finished} runs finished first)"
    assert mid_write >= 8, f"only {mid_write} of {kills} kills landed while documents were being written"

    assert start(home).wait(timeout=120) == 0, log.read_text()[-3000:]
    assert start(tmp_path / "clean-home").wait(timeout=120) == 0, log.read_text()[-3000:]

    got, want = snapshot(home), snapshot(tmp_path / "clean-home")
    assert got == want
    assert sorted(got) == sorted(versions())
    store = Store(settings)
    try:
        assert store.pending() == []
        assert store.count() == len(chunk_ids(want)), "no orphaned chunks survive the final run"
        nearest = store.dense(np.ones(384, dtype=np.float32) / np.sqrt(384), 20, None)
        assert len(nearest) == 20 and {cid for cid, *_ in nearest} <= chunk_ids(want), "vector index is intact"
    finally:
        store.close()
    assert sorted(d.doc_id for d in Assistant(home=home).documents()) == sorted(want)


# -- a shared Chroma server ---------------------------------------------------------------------------------

SERVER_DOCS = {
    "swindon-life.md": (
        "---\ntitle: Swindon LIFE programme\nplace: Swindon\nthemes: [troubled-families]\nyear: 2013\n---\n"
        "## What they did\nSwindon Borough Council built the LIFE programme around families with complex needs. "
        "Each family chose a lead worker, and the team worked from the family's own plan rather than agency "
        "referrals.\n\n## What happened\nThe council reported that the cost of supporting each family fell, "
        "and families said they felt listened to for the first time.\n"
    ),
    "west-cheshire-workzones.md": (
        "---\ntitle: West Cheshire Workzones\nplace: Cheshire West\nthemes: [employment]\nyear: 2014\n---\n"
        "## What they did\nCheshire West and Chester set up Workzones: job clubs on estates where worklessness "
        "was high, run with Jobcentre Plus and housing providers.\n\n## What happened\nHundreds of residents "
        "moved into jobs, and the council kept the Workzones running after the pilot ended.\n"
    ),
    "leicestershire-triage-car.md": (
        "---\ntitle: Leicestershire mental health triage car\nplace: Leicestershire\nthemes: [mental-health]\n"
        "year: 2014\n---\n## What they did\nLeicestershire police paired officers with mental health nurses in a "
        "triage car that attended incidents involving people in crisis.\n\n## What happened\nFewer people were "
        "detained under section 136 of the Mental Health Act, and more were seen by health services instead.\n"
    ),
}


@pytest.mark.slow
def test_server_mode_ingests_answers_and_survives_a_server_restart(chroma_server: ChromaServer, tmp_path: Path) -> None:
    corpus = tmp_path / "shared"
    corpus.mkdir()
    for name, text in SERVER_DOCS.items():
        (corpus / name).write_text(text)
    assistant = Assistant(home=tmp_path / "home", chroma_url=chroma_server.url, refresh_seconds=0)

    report = assistant.ingest([corpus])

    assert report.ok and sorted(report.added) == sorted(f"shared/{n}" for n in SERVER_DOCS)
    assert not (tmp_path / "home" / "chroma").exists(), "server mode writes nothing locally"
    answer = assistant.ask("How did Leicestershire police respond to people in a mental health crisis?")
    assert answer.covered, answer.markdown
    assert answer.citations[0].doc_id == "shared/leicestershire-triage-car.md"
    assert {c.doc_id for c in answer.citations} <= {f"shared/{n}" for n in SERVER_DOCS}
    assert "triage car" in " ".join(c.passage or c.quote for c in answer.citations)
    again = assistant.ingest([corpus])
    assert (again.chunks_embedded, sorted(again.unchanged)) == (0, sorted(report.added))
    state = assert_whole(assistant.store)

    chroma_server.stop()
    with pytest.raises(StoreUnavailable, match=rf"Chroma server at {chroma_server.url} is unavailable"):
        assistant.store.records()
    with pytest.raises(StoreUnavailable, match=chroma_server.url):
        assistant.ingest([corpus])

    chroma_server.start()
    assert assert_whole(assistant.store) == state
    assert assistant.ingest([corpus]).chunks_embedded == 0
    assert assistant.ask("What were West Cheshire Workzones?").citations[0].doc_id == (
        "shared/west-cheshire-workzones.md"
    )


# -- Chroma's own defaults stay off ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")
def test_collections_have_no_embedding_function_and_telemetry_is_off(tmp_path: Path) -> None:
    store = Store(Assistant(home=tmp_path / "home").settings)
    store.records()  # opens the store, creating both collections

    assert store._client.get_settings().anonymized_telemetry is False
    for collection in (store._chunks, store._manifest):
        assert collection.schema.defaults.float_list.vector_index.config.embedding_function is None
        with pytest.raises(ValueError, match="You must provide an embedding function"):
            collection.add(ids=["x"], documents=["Chroma must not embed this with its default model."])
    assert store._chunks.schema.defaults.float_list.vector_index.config.space == "cosine"
    assert store.count() == 0
    store.close()
