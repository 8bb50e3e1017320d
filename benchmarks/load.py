"""Load test: many concurrent clients on 127.0.0.1 ask real app processes, for a fixed count and time, then stop.

Usage: python benchmarks/load.py [--scenario embedded|server|both] [--clients 50] [--questions 2000]
                                 [--seconds 600] [--gradio-share 0.1] [--short] [--out PATH]

Scenarios (each starts its own processes in a temporary folder and always stops them at the end):
  * embedded: one `python app.py` process with embedded Chroma (it ingests corpus/ on start);
  * server:   one `chroma run` server and two app processes sharing it; while the load runs, a separate
              `askpanel ingest` process adds generated case studies about made-up places (Quillbridge, ...),
              and both apps are asked "What did Quillbridge open?" until both answer it, without a restart.
              The clients go on asking (past --questions if need be) until that is done, so the whole ingest
              runs under load; the report counts those extra questions.

Clients: --clients asyncio workers, each asking one question at a time, until --questions have been asked or
--seconds have passed. Questions come from tests/eval/questions.yaml (in scope and out of scope, follow-ups with
their history), spread over the apps in turn. About --gradio-share of them go through the Gradio queue
(`/gradio_api/call/ask`, the web chat's own "ask" event) instead of `POST /api/ask`.

Correctness under load: an item with key facts and `covered: true` must come back covered, and an out-of-scope
item must come back not covered. Each app first answers every golden question once, unloaded (and, in the server
scenario, again after the ingest, since new documents may rightly change an answer). An answer under load that
misses its expectation where its app, unloaded and on the corpus that request could have seen, did not is a
*wrong answer*; items an app misses even unloaded are reported as known misses (answer quality, not load) and
do not count. `changed_vs_unloaded` counts any covered flag, checked item or not, that differs from unloaded.
Errors are transport failures, non-200 statuses and Gradio error events; they are counted apart from wrong answers.

Targets (from the issue): zero errors, zero wrong answers, p95 under 2 s, new documents answerable without restart.
Prints a table and writes benchmarks/results/load.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUESTIONS = ROOT / "tests" / "eval" / "questions.yaml"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TARGET_P95_MS = 2000.0
REQUEST_TIMEOUT_S = 60.0
STARTUP_TIMEOUT_S = 240.0  # an app ingests corpus/ (model load and embedding) before it answers /api/health
ANSWERABLE_TIMEOUT_S = 60.0  # after the ingest process exits, both apps must answer about the new place by then
INGEST_TIMEOUT_S = 240.0
PROBE_QUESTION = "What did Quillbridge open?"
PROBE_FACTS = ("shared hub", "2019", "7 partners")  # the new case study: "Quillbridge opened a shared hub in 2019
# with 7 partners." An answer with all three, marked covered, is the proof that the new documents are in use.
MAX_SAMPLES = 5  # error messages and wrong answers kept in the report
SHORT = {"clients": 8, "questions": 80}
# The web chat's "ask" event: inputs (question, doc types, places, themes, your place), outputs without the state.
GRADIO_FILTERS = {"doc_type": 1, "place": 2, "themes": 3}


# == processes =================================================================================
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without inherited askpanel settings (auth, an LLM, ...) so runs compare, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKPANEL_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        GRADIO_ANALYTICS_ENABLED="False",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


class Proc:
    """A child process writing to its own log file; stop() ends it (terminate, then kill) and waits for it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def wait_ready(proc: Proc, url: str, deadline: float, ok: Any = None) -> None:
    """Poll `url` until it answers 200 (and `ok(json)` holds), the process dies, or the deadline passes."""
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            try:
                response = client.get(url)
                if response.status_code == 200 and (ok is None or ok(response.json())):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.25)
    raise RuntimeError(f"{proc.name} not ready at {url} in time:\n{proc.tail()}")


def start_chroma(work: Path, procs: list[Proc], deadline: float) -> str:
    port = free_port()
    path = work / "chroma-server"
    argv = [str(BIN / "chroma"), "run", "--path", str(path), "--host", HOST, "--port", str(port)]
    proc = Proc("chroma", argv, clean_env(), work / "chroma.log")
    procs.append(proc)
    url = f"http://{HOST}:{port}"
    wait_ready(proc, f"{url}/api/v2/heartbeat", deadline)
    return url


def start_apps(n: int, work: Path, procs: list[Proc], deadline: float, chroma_url: str = "") -> list[str]:
    """n `python app.py` processes on free ports, each with its own data home; their base URLs once each one's
    /api/health reports documents. Each ingests corpus/ on start, so with a shared Chroma server they start one
    after the other, as deployed: the first ingests, the next ones find the files unchanged. (Started all at once,
    the later ones would build the web chat's place menu over an empty store, and its API refuses unlisted places.)"""
    bases = []
    for i in range(n):
        name = f"app-{i}" if chroma_url else "app-embedded"
        env = clean_env(
            ASKPANEL_HOME=str(work / f"home-{name}"), **({"ASKPANEL_CHROMA_URL": chroma_url} if chroma_url else {})
        )
        port = free_port()
        proc = Proc(
            name, [str(BIN / "python"), "app.py", "--host", HOST, "--port", str(port)], env, work / f"{name}.log"
        )
        procs.append(proc)
        base = f"http://{HOST}:{port}"
        wait_ready(proc, f"{base}/api/health", deadline, ok=lambda body: body.get("documents", 0) > 0)
        bases.append(base)
    return bases


# == the workload ==============================================================================
@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    question: str
    history: tuple[str, ...]
    filters: dict[str, Any]
    expect: bool | None  # the covered flag a correct answer has; None: not checked (no key facts to hold it to)

    @property
    def gradio_ok(self) -> bool:
        """The web chat has no history input over the API, and only these filters."""
        return not self.history and set(self.filters) <= set(GRADIO_FILTERS)


def load_items(path: Path = QUESTIONS) -> list[Item]:
    items = []
    for raw in yaml.safe_load(path.read_text(encoding="utf-8")):
        if raw.get("kind") == "out_of_scope":
            expect: bool | None = False
        elif raw.get("key_facts") and raw.get("covered"):
            expect = True
        else:
            expect = None
        items.append(
            Item(
                id=str(raw["id"]),
                kind=str(raw.get("kind", "")),
                question=str(raw["question"]),
                history=tuple(str(h) for h in raw.get("history") or []),
                filters=dict(raw.get("filters") or {}),
                expect=expect,
            )
        )
    return items


def plan(items: list[Item], n: int, gradio_share: float, seed: int = 7) -> list[tuple[Item, str]]:
    """n (item, channel) pairs: every item once per round in shuffled order; channel 'rest' or 'gradio'."""
    rng = random.Random(seed)
    out: list[tuple[Item, str]] = []
    while len(out) < n:
        round_ = list(items)
        rng.shuffle(round_)
        for item in round_[: n - len(out)]:
            channel = "gradio" if item.gradio_ok and rng.random() < gradio_share else "rest"
            out.append((item, channel))
    return out


def case_studies(folder: Path, n: int = 20) -> list[Path]:
    """n short case studies about made-up places, each with one distinctive fact; the first is Quillbridge."""
    places = [
        "Quillbridge", "Harrowmere", "Tansley Vale", "Orlebury", "Wickenford", "Brackenholt", "Dunmarsh",
        "Fellingham", "Yarrowby", "Cresswold", "Lintonmoor", "Ashcombe Reach", "Pellowick", "Stannerby",
        "Morvenham", "Kestlow", "Rainsbury Cross", "Elderfold", "Nettlecombe", "Ulverhay",
    ]  # fmt: skip
    things = [
        "a shared hub", "a family help desk", "a joint triage line", "a pooled budget board", "a data sharing office",
        "a tenancy rescue team", "a job coach bureau", "a crisis cafe", "a youth outreach van", "a records exchange",
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        place, thing = places[i % len(places)], things[i % len(things)]
        partners, year = (7, 2019) if i == 0 else (3 + i % 9, 2010 + i % 8)
        path = folder / f"case-loadtest-{i:02d}-{place.lower().replace(' ', '-')}.md"
        path.write_text(
            f'---\ntitle: "{place}: {thing} run by {partners} partners"\ndoc_type: case_study\nplace: "{place}"\n'
            f'region: "Loadshire"\nthemes: [co-location, place-based]\nyear: {year}\n'
            f"sources:\n  - https://example.org/loadtest/{i}\n"
            f'summary: "How {place} opened {thing} with {partners} partners in {year}."\n---\n'
            f"## What they did\n{place} opened {thing} in {year} with {partners} partners. "
            f"The {place} partners agreed one front door for residents and one shared record of each visit. "
            f"Staff from every partner in {place} worked from {thing} two days a week.\n\n"
            f"## What happened\nIn the first year {place} counted {120 + 17 * i} residents helped through {thing}. "
            f"Partners in {place} said the weekly case meeting at {thing} was what made it work.\n\n"
            "## To adapt it locally\nWhat made it work there:\n"
            f"- {place} already had {partners} partners who met every week\n"
            "Questions to ask before borrowing it:\n- Which partners would staff it, and for how many days?\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


# == clients ===================================================================================
@dataclass
class Result:
    item: str
    channel: str
    app: int
    ok: bool
    ms: float
    covered: bool | None = None
    lead: str = ""
    error: str = ""
    text: str = ""
    t0: float = 0.0  # time.monotonic() when the request was sent


class AskError(Exception):
    pass


async def ask_rest(client: httpx.AsyncClient, base: str, item: Item) -> dict[str, Any]:
    body = {"question": item.question, "history": list(item.history), "filters": item.filters}
    response = await client.post(f"{base}/api/ask", json=body)
    if response.status_code != 200:
        raise AskError(f"POST /api/ask -> {response.status_code}: {response.text[:300]}")
    return response.json()


async def ask_gradio(client: httpx.AsyncClient, base: str, item: Item) -> dict[str, Any]:
    """The web chat's "ask" event through the Gradio queue: POST for an event id, then read its event stream."""
    data: list[Any] = [item.question, [], [], [], ""]
    for key, index in GRADIO_FILTERS.items():
        value = item.filters.get(key)
        if value:
            data[index] = value if isinstance(value, list) else [value]
    response = await client.post(f"{base}/gradio_api/call/ask", json={"data": data})
    if response.status_code != 200:
        raise AskError(f"POST /gradio_api/call/ask -> {response.status_code}: {response.text[:300]}")
    event_id = response.json()["event_id"]
    event, last = "", None
    async with client.stream("GET", f"{base}/gradio_api/call/ask/{event_id}") as stream:
        if stream.status_code != 200:
            raise AskError(f"GET /gradio_api/call/ask/{{id}} -> {stream.status_code}")
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                payload = line[5:].strip()
                if event == "error":
                    raise AskError(f"gradio error event: {payload[:300]}")
                if event == "complete":
                    last = json.loads(payload)
                    break
    if last is None:
        raise AskError(f"gradio stream ended without a complete event (last event {event!r})")
    answer = last[-1]  # the hidden JSON output holds Answer.to_dict()
    if not isinstance(answer, dict) or "covered" not in answer:
        raise AskError(f"gradio output without an answer: {str(last)[:300]}")
    return answer


def answer_text(answer: dict[str, Any]) -> str:
    return f"{answer.get('lead', '')}\n{answer.get('markdown', '')}"


async def ask(client: httpx.AsyncClient, bases: list[str], app: int, item: Item, channel: str) -> Result:
    t0 = time.monotonic()
    started = time.perf_counter()
    try:
        fn = ask_gradio if channel == "gradio" else ask_rest
        answer = await fn(client, bases[app], item)
        ms = (time.perf_counter() - started) * 1000
        text = answer_text(answer) if item.kind == "probe" else ""
        return Result(item.id, channel, app, True, ms, bool(answer["covered"]), answer.get("lead", ""), "", text, t0)
    except Exception as exc:  # every failure is a reported error, never a crash of the load run
        ms = (time.perf_counter() - started) * 1000
        message = f"{type(exc).__name__}: {exc}".strip()
        return Result(item.id, channel, app, False, ms, error=f"app {app} {channel} {item.id}: {message}"[:500], t0=t0)


async def unloaded(client: httpx.AsyncClient, bases: list[str], items: list[Item]) -> list[dict[str, Result]]:
    """Every item once per app, one request at a time per app: what each app answers with no load on it."""

    async def one_app(app: int) -> dict[str, Result]:
        return {item.id: await ask(client, bases, app, item, "rest") for item in items}

    return list(await asyncio.gather(*(one_app(app) for app in range(len(bases)))))


async def run_load(
    client: httpx.AsyncClient,
    bases: list[str],
    work: list[tuple[Item, str]],
    clients: int,
    seconds: float,
    side: asyncio.Task[None] | None = None,
) -> tuple[list[Result], float, float]:
    """`clients` workers take the next planned question until none are left or `seconds` have passed.

    With a `side` task (the ingest and its probes), they go on round the plan again until it is done as well,
    so the ingest always runs under load, however fast the planned questions go.
    """
    results: list[Result] = []
    next_index = 0
    started = time.monotonic()
    stop_at = started + seconds

    def more() -> bool:
        return (next_index < len(work) or (side is not None and not side.done())) and time.monotonic() < stop_at

    async def worker() -> None:
        nonlocal next_index
        while more():
            index = next_index
            next_index += 1
            item, channel = work[index % len(work)]
            results.append(await ask(client, bases, index % len(bases), item, channel))

    await asyncio.gather(*(worker() for _ in range(clients)))
    return results, started, time.monotonic()


@dataclass
class IngestRun:
    started: float = 0.0
    ended: float = 0.0
    returncode: int | None = None
    output: str = ""
    answerable_at: dict[int, float] = field(default_factory=dict)
    probes: list[Result] = field(default_factory=list)


async def ingest_and_probe(
    client: httpx.AsyncClient, bases: list[str], folder: Path, env: dict[str, str], run: IngestRun
) -> None:
    """Run `askpanel ingest folder` in its own process, then ask every app about Quillbridge until each answers."""
    run.started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "askpanel"),
        "ingest",
        str(folder),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), INGEST_TIMEOUT_S)
    except TimeoutError:
        out = b"ingest timed out"
    finally:
        if proc.returncode is None:  # timed out, or this task was cancelled: never leave the process behind
            proc.kill()
            await proc.wait()
    run.ended = time.monotonic()
    run.returncode = proc.returncode
    run.output = out.decode(errors="replace")[-2000:]
    probe = Item("probe", "probe", PROBE_QUESTION, (), {}, True)
    give_up = run.ended + (ANSWERABLE_TIMEOUT_S if run.returncode == 0 else 0)
    while len(run.answerable_at) < len(bases) and time.monotonic() < give_up:
        for app in range(len(bases)):
            if app in run.answerable_at:
                continue
            result = await ask(client, bases, app, probe, "rest")
            run.probes.append(result)
            if result.ok and result.covered and all(fact in result.text.lower() for fact in PROBE_FACTS):
                run.answerable_at[app] = time.monotonic()
        await asyncio.sleep(0.25)


async def probe_text(client: httpx.AsyncClient, base: str) -> tuple[bool, str]:
    answer = await ask_rest(client, base, Item("probe", "probe", PROBE_QUESTION, (), {}, True))
    return bool(answer["covered"]), answer_text(answer)


# == one scenario ==============================================================================
def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    arr = np.array(values)
    return {f"p{p}_ms": round(float(np.percentile(arr, p)), 1) for p in (50, 95, 99)}


@dataclass
class Run:
    """Everything one scenario measured, for summarise()."""

    scenario: str
    bases: list[str]
    items: list[Item]
    work: list[tuple[Item, str]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    before: list[dict[str, Result]] = field(default_factory=list)  # unloaded answers, per app, before any ingest
    after: list[dict[str, Result]] = field(default_factory=list)  # and after the ingest (server scenario)
    ingest: IngestRun | None = None
    probe_before: list[bool] = field(default_factory=list)


async def drive(
    scenario: str, bases: list[str], items: list[Item], args: argparse.Namespace, ingest: dict[str, Any] | None
) -> dict[str, Any]:
    run = Run(scenario, bases, items, plan(items, args.questions, args.gradio_share))
    limits = httpx.Limits(max_connections=args.clients + 20, max_keepalive_connections=args.clients + 20)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
        run.before = await unloaded(client, bases, items)
        failed = [r.error for per_app in run.before for r in per_app.values() if not r.ok]
        if failed:
            raise RuntimeError("unloaded answers failed: " + "; ".join(failed[:MAX_SAMPLES]))
        side: asyncio.Task[None] | None = None
        if ingest is not None:
            run.ingest = IngestRun()
            run.probe_before = [(await probe_text(client, base))[0] for base in bases]
            side = asyncio.create_task(ingest_and_probe(client, bases, ingest["folder"], ingest["env"], run.ingest))
        run.results, run.started, run.ended = await run_load(client, bases, run.work, args.clients, args.seconds, side)
        if side is not None:
            await side
            run.after = await unloaded(client, bases, items)
    return summarise(run, args)


def allowed(run: Run, r: Result) -> set[bool | None]:
    """The covered flags the app itself gave this question unloaded, on the corpus the request could have seen.

    Before the ingest started: the first corpus. Once this app answered about the new place: the grown corpus.
    In between (the ingest commits, the app's keyword index catches up): either.
    """
    ingest = run.ingest
    if ingest is None or not run.after or r.t0 < ingest.started:
        return {run.before[r.app][r.item].covered}
    after = run.after[r.app][r.item].covered
    if r.app in ingest.answerable_at and r.t0 >= ingest.answerable_at[r.app]:
        return {after}
    return {run.before[r.app][r.item].covered, after}


def misses(run: Run, unloaded_answers: list[dict[str, Result]]) -> list[str]:
    """Golden items an app answers against expectation even unloaded: answer quality, not load."""
    by_id = {item.id: item for item in run.items}
    return sorted(
        f"app {app}: {item_id} ({by_id[item_id].kind})"
        for app, per_app in enumerate(unloaded_answers)
        for item_id, r in per_app.items()
        if by_id[item_id].expect is not None and r.covered != by_id[item_id].expect
    )


def summarise(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    by_id = {item.id: item for item in run.items}
    ok = [r for r in run.results if r.ok]
    probes = run.ingest.probes if run.ingest else []
    errors = [r.error for r in run.results if not r.ok] + [r.error for r in probes if not r.ok]
    # Wrong: misses its expectation where the app, unloaded and on the same corpus, did not.
    wrong = [
        r
        for r in ok
        if by_id[r.item].expect is not None and r.covered != by_id[r.item].expect and r.covered not in allowed(run, r)
    ]
    changed = [r for r in ok if r.covered not in allowed(run, r)]
    duration = run.ended - run.started
    channels = {}
    for channel in ("rest", "gradio"):
        done = [r for r in run.results if r.channel == channel]
        channels[channel] = {
            "requests": len(done),
            "errors": sum(not r.ok for r in done),
            **percentiles([r.ms for r in done if r.ok]),
        }
    row: dict[str, Any] = {
        "scenario": run.scenario,
        "apps": len(run.bases),
        "clients": args.clients,
        "questions_planned": len(run.work),
        "questions": len(run.results),
        "stopped_by_time": duration >= args.seconds,
        "extra_questions_while_ingesting": max(0, len(run.results) - len(run.work)),
        "duration_s": round(duration, 2),
        "throughput_rps": round(len(run.results) / duration, 1) if duration > 0 else 0.0,
        **percentiles([r.ms for r in ok]),
        "max_ms": round(max((r.ms for r in ok), default=0.0), 1),
        "errors": len(errors),
        "error_samples": errors[:MAX_SAMPLES],
        "wrong_answers": len(wrong),
        "wrong_samples": [
            f"app {r.app} {r.item} ({by_id[r.item].kind}) at {r.t0 - run.started:.1f} s: covered={r.covered}, "
            f"expected {by_id[r.item].expect}, unloaded gave {sorted(map(str, allowed(run, r)))}"
            for r in wrong[:MAX_SAMPLES]
        ],
        "checked_answers": sum(by_id[r.item].expect is not None for r in ok),
        "changed_vs_unloaded": len(changed),
        "known_misses": misses(run, run.before),
        "channels": channels,
        "per_app": dict(sorted(Counter(f"app {r.app}" for r in run.results).items())),
        "unloaded_p50_ms": percentiles([r.ms for per_app in run.before for r in per_app.values()])["p50_ms"],
        "new_docs_answerable_s": None,
    }
    ingest = run.ingest
    if ingest is not None:
        row["known_misses_after_ingest"] = misses(run, run.after)
        row["ingest"] = {
            "documents": args.new_docs,
            "returncode": ingest.returncode,
            "seconds": round(ingest.ended - ingest.started, 2),
            "started_after_load_start_s": round(ingest.started - run.started, 2),
            "load_running_when_ingest_finished": ingest.ended <= run.ended,
            "answerable_before_ingest": run.probe_before,
            "answerable_apps": len(ingest.answerable_at),
            "probes": len(ingest.probes),
            "output_tail": ingest.output[-600:] if ingest.returncode else "",
        }
        if len(ingest.answerable_at) == len(run.bases) and ingest.returncode == 0 and not any(run.probe_before):
            # From the ingest process's exit until the last app answered it (probes start at that exit).
            row["new_docs_answerable_s"] = round(max(ingest.answerable_at.values()) - ingest.ended, 2)
    return row


def run_scenario(scenario: str, items: list[Item], args: argparse.Namespace) -> dict[str, Any]:
    """Start the processes, drive the load, and stop every process whatever happens."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"askpanel-load-{scenario}-"))
    procs: list[Proc] = []
    startup = time.monotonic()
    deadline = startup + STARTUP_TIMEOUT_S
    try:
        ingest = None
        if scenario == "embedded":
            bases = start_apps(1, work_dir, procs, deadline)
        else:
            chroma_url = start_chroma(work_dir, procs, deadline)
            bases = start_apps(2, work_dir, procs, deadline, chroma_url)
            folder = work_dir / "new-case-studies"
            case_studies(folder, args.new_docs)
            env = clean_env(ASKPANEL_HOME=str(work_dir / "home-ingest"), ASKPANEL_CHROMA_URL=chroma_url)
            ingest = {"folder": folder, "env": env}
        startup_s = time.monotonic() - startup
        print(f"[{scenario}] {len(bases)} app(s) up in {startup_s:.0f} s: {', '.join(bases)}", flush=True)
        budget = args.seconds + ANSWERABLE_TIMEOUT_S + INGEST_TIMEOUT_S + 60
        row = asyncio.run(asyncio.wait_for(drive(scenario, bases, items, args, ingest), budget))
        row["startup_s"] = round(startup_s, 1)
        dead = [p.name for p in procs if not p.alive()]
        if dead:
            row["errors"] += len(dead)
            row["error_samples"] = [*row["error_samples"], *(f"{name} exited during the run" for name in dead)]
        return row
    finally:
        for proc in reversed(procs):
            proc.stop()
        if args.keep:
            print(f"[{scenario}] kept {work_dir}", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


# == report ====================================================================================
def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<10} {'apps':>4} {'clients':>7} {'questions':>9} {'time s':>7} {'req/s':>6} {'p50 ms':>7} "
        f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'wrong':>5} {'known':>5} {'new docs s':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['scenario']:<10} FAILED: {r['error']}")
            continue
        new = "-" if r.get("ingest") is None else ("never" if r["new_docs_answerable_s"] is None else "")
        new = new or f"{r['new_docs_answerable_s']:.1f}"
        lines.append(
            f"{r['scenario']:<10} {r['apps']:>4} {r['clients']:>7} {r['questions']:>9} {r['duration_s']:>7.1f} "
            f"{r['throughput_rps']:>6.1f} {r['p50_ms'] or 0:>7.0f} {r['p95_ms'] or 0:>7.0f} {r['p99_ms'] or 0:>7.0f} "
            f"{r['errors']:>6} {r['wrong_answers']:>5} {len(r['known_misses']):>5} {new:>10}"
        )
    for r in rows:
        if r.get("known_misses"):
            lines.append(f"  {r['scenario']} known misses: {', '.join(r['known_misses'])}")
        after = r.get("known_misses_after_ingest")
        if after is not None and after != r.get("known_misses"):
            lines.append(f"  {r['scenario']} known misses after the ingest: {', '.join(after)}")
        for sample in r.get("error_samples", []):
            lines.append(f"  {r['scenario']} error: {sample}")
        for sample in r.get("wrong_samples", []):
            lines.append(f"  {r['scenario']} wrong: {sample}")
    lines.append(
        "known = golden items an app misses even unloaded (not counted as wrong); "
        f"targets: 0 errors, 0 wrong, p95 < {TARGET_P95_MS:.0f} ms, new docs answerable without restart"
    )
    return "\n".join(lines)


def verdict(row: dict[str, Any]) -> list[str]:
    """The targets a scenario missed, in words (empty when it met them all)."""
    if "error" in row:
        return [f"{row['scenario']}: did not run ({row['error']})"]
    missed = []
    if row["errors"]:
        missed.append(f"{row['scenario']}: {row['errors']} errors")
    if row["wrong_answers"]:
        missed.append(f"{row['scenario']}: {row['wrong_answers']} wrong answers")
    if row["p95_ms"] is None or row["p95_ms"] >= TARGET_P95_MS:
        missed.append(f"{row['scenario']}: p95 {row['p95_ms']} ms (target < {TARGET_P95_MS:.0f})")
    if row["stopped_by_time"]:
        missed.append(f"{row['scenario']}: stopped by --seconds after {row['questions']} questions")
    if "ingest" in row and row["new_docs_answerable_s"] is None:
        missed.append(f"{row['scenario']}: new documents did not become answerable")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["embedded", "server", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=600.0, help="stop asking after this long (per scenario)")
    parser.add_argument("--gradio-share", type=float, default=0.1, help="share of questions sent via the Gradio queue")
    parser.add_argument("--new-docs", type=int, default=20, help="case studies the server scenario ingests under load")
    parser.add_argument("--short", action="store_true", help=f"the CI form: {SHORT['clients']} clients, "
                        f"{SHORT['questions']} questions")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores)")
    args = parser.parse_args(argv)
    if args.short:
        args.clients, args.questions = SHORT["clients"], SHORT["questions"]
    items = load_items()
    scenarios = ["embedded", "server"] if args.scenario == "both" else [args.scenario]
    rows = []
    for scenario in scenarios:
        try:
            rows.append(run_scenario(scenario, items, args))
        except Exception as exc:  # one failed scenario is reported, the next one still runs
            rows.append({"scenario": scenario, "error": f"{type(exc).__name__}: {exc}"[:3000]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "known_misses"}), flush=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpu": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "settings": {
            "clients": args.clients,
            "questions": args.questions,
            "seconds": args.seconds,
            "gradio_share": args.gradio_share,
            "new_docs": args.new_docs,
            "golden_items": len(items),
            "target_p95_ms": TARGET_P95_MS,
        },
        "results": rows,
        "missed_targets": [m for row in rows for m in verdict(row)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(f"wrote {args.out}")
    return 1 if report["missed_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
