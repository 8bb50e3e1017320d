"""Shared fixtures: a real store with the bundled corpus ingested once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
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


# -- ingest and store fixtures ------------------------------------------------------------------------

_PLACES = ["Swindon", "Leeds", "Oldham", "Melton", "Margate", "Staffordshire", "Cheshire West", "Leicestershire"]
_THEMES = ["troubled-families", "information-sharing", "pooled-budgets", "co-location", "employment", "mental-health"]
_ACTIONS = [
    "pooled budgets from the council, police and health partners",
    "placed housing officers and job coaches in one shared office",
    "agreed a data sharing protocol signed by every partner",
    "gave each family a single key worker who stayed with them",
    "trained front-line staff to spot mental health crises early",
    "funded a skills centre run jointly with the local college",
]
_RESULTS = [
    "repeat calls to the police fell by a third within a year",
    "school attendance rose for most of the children involved",
    "the council estimated savings of two million pounds",
    "more residents moved into work that lasted over six months",
    "partners reported they trusted each other's data more",
    "waiting times for a first assessment halved",
]


def write_markdown_corpus(folder: Path, n: int, seed: int = 0, paragraphs: tuple[int, int] = (2, 4)) -> list[Path]:
    """Write `n` small case studies with front matter into `folder`; the same seed writes the same bytes."""
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"case-{i:03d}.md"
        path.write_text(markdown_case(rng, i, paragraphs), encoding="utf-8")
        paths.append(path)
    return paths


def one_case_study(folder: Path, place: str, what_they_did: str) -> Path:
    """A folder holding one small case study about `place`, ready to ingest."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{place.lower()}.md"
    path.write_text(
        f"---\ntitle: {place} hub\ndoc_type: case_study\nplace: {place}\nsources: [https://example.org]\n---\n"
        f"## What they did\n{what_they_did}\n",
        encoding="utf-8",
    )
    return folder


def markdown_case(rng, i: int, paragraphs: tuple[int, int] = (2, 4)) -> str:
    """One plausible case study in Markdown with front matter, drawn from `rng`."""
    place = rng.choice(_PLACES)
    themes = rng.sample(_THEMES, 2)
    body = []
    for heading in ("What they did", "What happened"):
        paras = []
        for _ in range(rng.randint(*paragraphs)):
            sentences = [
                f"In {rng.randint(2010, 2015)} {place} {rng.choice(_ACTIONS)}.",
                f"Officers said {rng.choice(_RESULTS)}.",
                f"Case {i} notes that {rng.choice(_RESULTS)} after partners {rng.choice(_ACTIONS)}.",
            ]
            rng.shuffle(sentences)
            paras.append(" ".join(sentences))
        body.append(f"## {heading}\n" + "\n\n".join(paras))
    return (
        f'---\ntitle: "{place}: case {i}"\ndoc_type: case_study\nplace: "{place}"\n'
        f"themes: [{', '.join(themes)}]\nyear: {rng.randint(2010, 2015)}\n---\n"
        f"{place} tried something new in case {i}.\n\n" + "\n\n".join(body) + "\n"
    )


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every list of texts handed to Embedder.embed from now on (the real model still runs)."""
    from askpanel.embeddings import Embedder

    calls: list[list[str]] = []
    real = Embedder.embed

    def counting(self: Embedder, texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(Embedder, "embed", counting)
    return calls


def stored_chunks(store) -> dict[str, dict]:
    """Every chunk in the store, visible or not: chunk_id -> metadata."""
    out: dict[str, dict] = {}
    offset = 0
    while True:
        got = store._call(lambda s, o=offset: s._chunks.get(include=["metadatas"], limit=2000, offset=o))
        out.update(zip(got["ids"], got["metadatas"], strict=True))
        if len(got["ids"]) < 2000:
            return out
        offset += 2000


def whole_state(home: Path) -> dict[str, tuple[str, list[str]]]:
    """assert_whole over a home's store, closing the store afterwards."""
    from askpanel import Assistant
    from askpanel.store import Store

    store = Store(Assistant(home=home).settings)
    try:
        return assert_whole(store)
    finally:
        store.close()


def assert_whole(store) -> dict[str, tuple[str, list[str]]]:
    """Check that every live document has exactly its committed chunks; return {doc_id: (hash, chunk ids)}.

    For each manifest record, the chunks with its doc_id and content_hash number exactly n_chunks,
    at positions 0..n-1 — no half-written document is visible to a reader.
    """
    records = store.records()
    live: dict[str, list[tuple[int, str]]] = {}
    for chunk_id, meta in stored_chunks(store).items():
        record = records.get(meta["doc_id"])
        if record is not None and record.content_hash == meta["content_hash"]:
            live.setdefault(record.doc_id, []).append((int(meta["position"]), chunk_id))
    state = {}
    for doc_id, record in records.items():
        chunks = sorted(live.get(doc_id, []))
        assert [pos for pos, _ in chunks] == list(range(record.n_chunks)), (
            f"{doc_id}: manifest says {record.n_chunks} chunks, store holds positions {[p for p, _ in chunks]}"
        )
        state[doc_id] = (record.content_hash, [cid for _, cid in chunks])
    return state


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Ask a child process to end; kill it if it has not within `timeout` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ChromaServer:
    """A real `chroma run` process on a free local port; stop() and start() again on the same port and path."""

    def __init__(self, path: Path) -> None:
        import socket

        self.path = path
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = path.parent / "chroma-server.log"
        self.process = None

    def start(self, timeout: float = 60.0) -> None:
        import sys
        import time
        import urllib.request

        exe = Path(sys.executable).parent / "chroma"
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(exe), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"chroma server did not come up on {self.url}:\n{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        self.process = None


@pytest.fixture
def chroma_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A running Chroma server over a fresh path, stopped at the end of the test."""
    server = ChromaServer(tmp_path / "chroma-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(assistant):  # type: ignore[no-untyped-def]
    """The web app over the ingested corpus, with no admin password (uploads off). Read-only."""
    from webutil import running

    with running(assistant) as url:
        yield url


@pytest.fixture(scope="module")
def api(server: str):  # type: ignore[no-untyped-def]
    """An HTTP client for that app."""
    import httpx

    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium, headless (browser test modules call browserutil.require_browser() first)."""
    from browserutil import CHROMIUM, LAUNCH_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()
