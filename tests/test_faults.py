"""Faults under load, against real processes: the app killed with SIGKILL mid-answer and restarted on the same
home, and the Chroma server stopped and restarted under the app's feet.

After a kill the store is exactly as it was and answers resume; while the Chroma server is down every request
gets a quick JSON 503 naming it, and once it is back answers resume without restarting askpanel.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ChromaServer, stop_process, whole_state
from test_ingest import SERVER_DOCS, run_cli

from askpanel import Assistant

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"}
QUESTIONS = [  # about the bundled corpus
    "How did places get partners to share information about families?",
    "What did Melton do with co-location, and what happened?",
    "What did the panel recommend about funding and local deals?",
]
SERVER_QUESTIONS = [  # about SERVER_DOCS
    "How did Leicestershire police respond to people in a mental health crisis?",
    "What were the West Cheshire Workzones?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AppProcess:
    """`python app.py --no-ingest` on a free local port, over a given home; start() again after a kill or stop."""

    def __init__(self, home: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.log = log
        self.env = {**ENV, "ASKPANEL_HOME": str(home), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 180) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--no-ingest"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        pytest.fail(f"the app did not come up on {self.url}:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process, timeout=20)
        self.process = None


@dataclass
class Result:
    started: float
    ended: float
    status: int = 0  # 0: no HTTP response at all
    body: Any = None
    error: str = ""


@dataclass
class Load:
    """Threads that post questions to /api/ask back to back, recording every outcome with its timing."""

    url: str
    questions: list[str]
    threads: int = 2
    timeout: float = 30.0
    results: list[Result] = field(default_factory=list)
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout + 10)
        assert not any(w.is_alive() for w in self._workers), "a request hung past its timeout"

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            n = index
            while not self._stop.is_set():
                n += 1
                with self._lock:
                    self.in_flight += 1
                started = time.monotonic()
                try:
                    question = self.questions[n % len(self.questions)]
                    response = client.post("/api/ask", json={"question": question})
                    body = response.json()
                    result = Result(started, time.monotonic(), response.status_code, body)
                except (httpx.TransportError, json.JSONDecodeError) as exc:
                    result = Result(started, time.monotonic(), error=f"{type(exc).__name__}: {exc}")
                    time.sleep(0.05)
                with self._lock:
                    self.in_flight -= 1
                    self.results.append(result)

    def wait_for(self, what: str, test: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if test(list(self.results)):
                    return
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}; outcomes: {self.summary()}")

    def summary(self) -> list[tuple[float, int, str]]:
        with self._lock:
            return [(round(r.ended - r.started, 2), r.status, r.error or str(r.body)[:120]) for r in self.results]


def test_kill_9_mid_answer_then_restart_finds_the_store_as_it_was(fresh_home: Path, tmp_path: Path) -> None:
    before = whole_state(fresh_home)
    app = AppProcess(fresh_home, tmp_path / "app.log")
    app.start()
    try:
        with Load(app.url, QUESTIONS, threads=3) as load:
            load.wait_for("answers to flow", lambda rs: sum(r.status == 200 for r in rs) >= 3)
            load.wait_for("requests in flight", lambda rs: load.in_flight >= 2)
            killed = time.monotonic()
            app.kill9()
            load.wait_for("the in-flight requests to fail", lambda rs: any(r.started < killed <= r.ended for r in rs))
        cut = [r for r in load.results if r.started < killed <= r.ended]  # in flight when the kill landed
        assert any(r.error for r in cut), load.summary()
        assert all(r.status == 200 or (r.error and r.ended - killed < 10) for r in cut), load.summary()
        assert all(r.status == 200 and r.body["covered"] for r in load.results if r.ended < killed), load.summary()

        app.start()  # same home, no ingest: whatever the kill left behind is what it serves
        answer = httpx.post(f"{app.url}/api/ask", json={"question": QUESTIONS[1]}, timeout=60).json()
        assert answer["covered"] and answer["citations"], answer
        documents = httpx.get(f"{app.url}/api/documents", timeout=30).json()
        assert sorted(d["doc_id"] for d in documents) == sorted(before)
    finally:
        app.stop()

    assert whole_state(fresh_home) == before, "every document has exactly the chunks it had"
    done = run_cli("--home", str(fresh_home), "ingest", "--json", timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["added"], report["updated"], report["removed"], report["failed"]) == ([], [], [], [])
    assert sorted(report["unchanged"]) == sorted(before) and report["chunks_embedded"] == 0


def test_chroma_server_outage_gives_quick_503s_and_answers_resume_without_a_restart(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    corpus = tmp_path / "shared"
    corpus.mkdir()
    for name, text in SERVER_DOCS.items():
        (corpus / name).write_text(text)
    assert Assistant(home=tmp_path / "ingest-home", chroma_url=chroma_server.url).ingest([corpus]).ok
    app = AppProcess(tmp_path / "home", tmp_path / "app.log", {"ASKPANEL_CHROMA_URL": chroma_server.url})
    app.start()
    assert app.process is not None
    pid = app.process.pid
    unavailable = f"Chroma server at {chroma_server.url} is unavailable"
    try:
        with Load(app.url, SERVER_QUESTIONS, threads=2) as load:
            load.wait_for("answers to flow", lambda rs: sum(r.status == 200 for r in rs) >= 3)
            chroma_server.stop()
            down = time.monotonic()
            load.wait_for("503s during the outage", lambda rs: sum(r.started > down for r in rs) >= 6)
            health = httpx.get(f"{app.url}/api/health", timeout=10)
            restarting = time.monotonic()  # from here on answers may succeed again, before start() returns
            chroma_server.start()
            up = time.monotonic()
            load.wait_for(
                "answers after the restart", lambda rs: sum(r.status == 200 and r.started > up for r in rs) >= 3
            )
        assert app.process is not None and app.process.poll() is None and app.process.pid == pid, "never restarted"
    finally:
        app.stop()

    results = load.results
    assert all(r.status in (200, 503) and not r.error for r in results), load.summary()  # no 500, no dropped line
    during = [r for r in results if r.started > down and r.ended < restarting]
    assert len(during) >= 6 and all(r.status == 503 for r in during), load.summary()
    for r in during:
        assert unavailable in r.body["error"], r.body
        assert r.ended - r.started < 5, f"a request took {r.ended - r.started:.1f} s to fail while Chroma was down"
    for r in results:
        if r.status == 200:
            assert r.body["covered"] and r.body["citations"], r.body
    first_ok = min(r.started for r in results if r.status == 200 and r.started > up)
    assert all(r.status == 200 for r in results if r.started > first_ok), "once back, answers stay back"
    assert health.status_code == 503 and "store unavailable" in health.json()["error"]
