"""The Gradio web chat and the REST API, both thin front ends over Assistant."""

from __future__ import annotations

import hmac
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import gradio as gr
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .auth import parse_auth
from .conversation import Conversation, Turn, conversation_markdown, file_away, read_past, stored, without
from .models import Answer, DocumentOut, DocumentRecord
from .render import (
    CSS,
    announcement,
    doc_type_label,
    esc,
    render_compare,
    render_past,
    render_places,
    render_sources,
    render_transcript,
)
from .retrieval import FilterError
from .store import StoreUnavailable
from .understand import MAX_QUESTION_CHARS
from .uploads import ALLOWED_SUFFIXES, UploadError, check_file, clean_field, clean_themes, discard, store_upload

if TYPE_CHECKING:
    from .assistant import Assistant

log = logging.getLogger(__name__)

EXAMPLES = [
    "How did places get partners to share information about families?",
    "What did Melton do with co-location, and what happened?",
    "Compare Swindon and West Cheshire on getting people into work.",
    "What did the panel recommend about funding and local deals?",
    "How can police and health services respond to people in a mental health crisis?",
]
DOC_TYPE_CHOICES = [("Panel report", "report"), ("Case studies", "case_study"), ("Context", "context")]
MAX_PLACE_CONTEXT_CHARS = 500
EXPORT_MAX_AGE_S = 3600  # exported Markdown files and Gradio's cached copies are removed after an hour
ASK_CONCURRENCY = 32  # like the REST thread pool: a small limit left chat users queueing behind each other under load
PLACE_CONTEXT_HINT = "e.g. a rural district with a small voluntary sector"
EMPTY_QUESTION = "Enter a question, then select Ask."
SEARCHING = "Searching the report and the case studies."
STARTED_NEW = "You have started a new conversation. Type your question in the question box."
NOT_FOUND = "That conversation is no longer in this browser. It may have been deleted in another tab."
# The browser keeps conversations under these keys. The secret is part of the page config every visitor gets,
# so it hides nothing: it is fixed so that a restart of the server leaves saved conversations readable.
CURRENT_KEY, PAST_KEY, STORE_SECRET = "askpanel-conversation-v1", "askpanel-past-conversations-v1", "askpanel"

# Our own scripts (never content). The transcript is replaced whole at each change, so screen readers hear
# new answers through one live region outside it, which says each announcement once; the newest turn's start
# is scrolled into view; "Show sources" asks the server for that turn's sources; an opened passage takes the
# keyboard focus, and Escape gives it back to its [n].
TRANSCRIPT_JS = """
let live = document.getElementById('ap-announcer');
if (!live) {
  live = document.createElement('div');
  live.id = 'ap-announcer';
  live.className = 'ap-sr-only';
  live.setAttribute('role', 'status');
  live.setAttribute('aria-live', 'polite');
  live.setAttribute('aria-atomic', 'true');
  document.body.appendChild(live);
}
let said = '';
watch('value', () => {
  const log = element.querySelector('.ap-transcript');
  if (!log) return;
  const id = log.dataset.announceId;
  if (id && id !== said) {
    said = id;
    live.textContent = log.dataset.announce || '';
  }
  const turns = log.querySelectorAll('.ap-turn');
  const last = turns[turns.length - 1];
  if (last) log.scrollTop = last.offsetTop - log.offsetTop;
  if (log.dataset.focus === 'transcript') log.focus();
  if (log.dataset.focus === 'question') {
    const box = document.querySelector('#ap-question textarea, #ap-question input');
    if (box) box.focus();
  }
});
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-show-sources]');
  if (!button) return;
  element.querySelectorAll('button[data-show-sources]').forEach((b) => {
    b.setAttribute('aria-pressed', String(b === button));
  });
  trigger('show_sources', { turn: Number(button.dataset.showSources) });
});
element.addEventListener('toggle', (event) => {
  const pop = event.target;
  if (event.newState === 'open' && pop.classList && pop.classList.contains('ap-pop')) {
    const passage = pop.querySelector('.ap-passage');
    if (passage) passage.focus();
  }
}, true);
"""
# The sources the user asked for take the keyboard focus, so a keyboard user lands on them.
SOURCES_JS = """
watch('value', () => {
  const head = element.querySelector('.ap-sources[data-requested] #ap-sources-h');
  if (head) head.focus();
});
"""
PAST_JS = """
element.addEventListener('click', (event) => {
  const reopen = event.target.closest('button[data-reopen]');
  const forget = event.target.closest('button[data-forget]');
  if (reopen) trigger('reopen', { id: reopen.dataset.reopen });
  if (forget) trigger('forget', { id: forget.dataset.forget });
});
watch('value', () => {
  const list = element.querySelector('.ap-past[data-changed]');
  if (!list) return;
  list.querySelector('#ap-past-h').focus();
  const live = document.getElementById('ap-announcer');
  if (live) live.textContent = list.dataset.message || '';
});
"""
ENDPOINT_METHODS = {"ask": "POST", "documents": "GET", "health": "GET"}


# == REST ======================================================================================
class AskRequest(BaseModel):
    """The body of POST /api/ask."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(max_length=MAX_QUESTION_CHARS, description="The question, in plain words.")
    filters: dict[str, str | int | list[str | int]] = Field(
        default_factory=dict,
        description="Narrow the search: doc_type (report, case_study, context), place, region, themes, year, doc_id.",
    )
    history: list[str | dict[str, str]] = Field(
        default_factory=list, max_length=50, description="Earlier questions, or {role, content} messages."
    )
    place_context: str = Field("", max_length=MAX_PLACE_CONTEXT_CHARS, description=f"Your place, {PLACE_CONTEXT_HINT}.")


# Module level: FastAPI resolves endpoint annotations by name in this module's globals.
BasicCredentials = Annotated[HTTPBasicCredentials | None, Depends(HTTPBasic(auto_error=False))]


class HealthOut(BaseModel):
    status: str
    version: str
    documents: int


class ErrorOut(BaseModel):
    error: str
    details: list[dict[str, Any]] = Field(default_factory=list)


def json_error(
    status: int, message: str, details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(ErrorOut(error=message, details=details or []).model_dump(), status, headers=headers)


def basic_auth(credentials: tuple[str, str] | None) -> Callable[..., None]:
    """A dependency that asks REST callers for the same user and password as the web app, when one is set."""

    def check(given: BasicCredentials) -> None:
        if credentials is None:
            return
        ok = given is not None and all(
            hmac.compare_digest(a.encode(), b.encode())
            for a, b in zip((given.username, given.password), credentials, strict=True)
        )
        if not ok:
            raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Basic"})

    return check


def api_router(assistant: Assistant) -> APIRouter:
    guard = basic_auth(parse_auth(assistant.settings.auth))
    router = APIRouter(prefix="/api", tags=["askpanel"])
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 422, 503)}

    # Plain `def` endpoints: FastAPI runs them in its thread pool, so a slow answer never blocks the event loop.
    @router.post("/ask", response_model=Answer, responses=errors, dependencies=[Depends(guard)])
    def ask(body: AskRequest) -> Any:
        """Answer a question from the corpus: a lead, ideas with [n] citations, or an honest 'not covered'."""
        try:
            answer = assistant.ask(body.question, body.filters, body.history, body.place_context)
        except FilterError as exc:
            return json_error(422, str(exc))
        if not answer.question:
            return json_error(422, "question is empty: send a question in plain words")
        return answer.to_dict()

    @router.get("/documents", response_model=list[DocumentOut], responses=errors, dependencies=[Depends(guard)])
    def documents() -> Any:
        """Every live document: report first, then context, then case studies by place."""
        return [{k: v for k, v in r.to_dict().items() if k != "path"} for r in assistant.documents()]

    @router.get("/health", response_model=HealthOut, responses={503: {"model": ErrorOut}})
    def health() -> Any:
        """Whether the store answers; open without login so monitors can use it."""
        try:
            count = assistant.health()
        except Exception as exc:  # a health check reports failure, it does not raise
            log.exception("health check failed")
            return json_error(503, f"store unavailable: {type(exc).__name__}")
        return {"status": "ok", "version": __version__, "documents": count}

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str, request: Request) -> JSONResponse:
        # Without this, the Gradio app mounted at / would answer unknown /api/ paths with its own page.
        method = ENDPOINT_METHODS.get(rest.strip("/"))
        if method is not None:
            return json_error(405, f"use {method} for /api/{rest}, not {request.method}", headers={"Allow": method})
        return json_error(404, f"no such endpoint: /api/{rest}")

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Every REST failure is JSON with an `error` message a person can act on."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The input is left out of the details: echoing a 100 KB question back helps nobody.
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        if any(d["type"] == "json_invalid" for d in details):
            return json_error(400, "the request body is not valid JSON", details)
        if any(d["loc"] == ["body"] and d["type"] == "model_attributes_type" for d in details):
            return json_error(400, "the request body must be a JSON object, sent as application/json", details)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return json_error(422, f"{where}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return json_error(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # The Chroma server is down or unreachable: say so, and let the client retry; the next request reconnects.
        log.warning("store unavailable on %s: %s", request.url.path, exc)
        return json_error(503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return json_error(500, "internal error: the server log has the details")


# == the web chat ==============================================================================
def build_filters(doc_types: Sequence[str] | None, places: Sequence[str] | None, themes: Sequence[str] | None) -> dict:
    chosen = {"doc_type": list(doc_types or []), "place": list(places or []), "themes": list(themes or [])}
    return {key: values for key, values in chosen.items() if values}


def remove_older_than(folder: Path, seconds: float) -> None:
    cutoff = time.time() - seconds
    for child in folder.iterdir():
        if child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)


def event_value(event: gr.EventData, key: str) -> Any:
    """A value our own script sent with a custom event (trigger('reopen', {id})), or None."""
    data = getattr(event, "_data", None)
    return data.get(key) if isinstance(data, dict) else None


def status_html(message: str, ok: bool) -> str:
    kind = "ap-ok" if ok else "ap-warn"
    return f'<p class="{kind}" role="status">{esc(message)}</p>'


class ChatUI:
    """Event handlers for the Blocks app. Shared by every session: per-user state lives only in gr.State and in
    the user's own browser (gr.BrowserState)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.settings = assistant.settings
        self._exports = tempfile.TemporaryDirectory(prefix="askpanel-exports-")
        self._threads: Any = None  # the chat's worker threads, made on first use inside the server's event loop

    # -- asking ---------------------------------------------------------------------------------
    async def ask(
        self,
        question: str,
        doc_types: list[str],
        places: list[str],
        themes: list[str],
        place_context: str,
        conversation: Conversation | None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Stream one answer: the question at once, then each version of the answer as it improves.

        The answering runs in worker threads of the chat's own pool, one hop per version: sharing the
        default pool with REST left chat users waiting for a thread at every step under load.
        """
        import anyio

        conversation = conversation or Conversation()
        question = (question or "").strip()
        if not question:
            yield self._view(conversation, notice=EMPTY_QUESTION, keep_question=True)
            return
        n = len(conversation.turns) + 1
        yield self._view(conversation, pending=question, announce=(f"{conversation.id}-{n}-asked", SEARCHING))
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(ASK_CONCURRENCY)
        context = (place_context or "")[:MAX_PLACE_CONTEXT_CHARS]
        versions = self._versions(question, build_filters(doc_types, places, themes), context, conversation)
        while (view := await anyio.to_thread.run_sync(next, versions, None, limiter=self._threads)) is not None:
            yield view

    def _versions(
        self, question: str, filters: dict[str, Any], context: str, conversation: Conversation
    ) -> Iterator[tuple[Any, ...]]:
        """Views of the answer: with an LLM, each checked version as it streams; always the final one last."""
        try:
            answer: Answer | None = None
            for answer in self.assistant.ask_stream(question, filters, conversation.history(), context):
                if self.settings.llm:  # a rewrite streams after the extractive answer: show each version
                    yield self._view(conversation.with_turn(Turn(answer, filters, context)), state=conversation)
        except FilterError as exc:
            yield self._view(
                conversation,
                notice=f"The filters could not be used ({exc}). Change them, then ask again.",
                keep_question=True,
            )
            return
        if answer is not None:
            done = conversation.with_turn(Turn(answer, filters, context))
            n = len(done.turns)
            yield self._view(done, final=True, announce=(f"{done.id}-{n}-done", announcement(answer, n)))

    def _view(
        self,
        conversation: Conversation,
        pending: str | None = None,
        notice: str = "",
        state: Conversation | None = None,
        final: bool = False,
        keep_question: bool = False,
        announce: tuple[str, str] | None = None,
        focus_to: str = "",
    ) -> tuple[Any, ...]:
        """Values for the ask outputs: transcript, sources, conversation, focus, question box, follow-ups,
        export, JSON. The sources are the latest turn's; the export is the whole conversation."""
        if notice:
            announce = (uuid.uuid4().hex, notice)
        turns = conversation.turns
        latest = turns[-1] if turns and pending is None else None
        nearest = latest.answer.nearest if latest is not None and not latest.answer.covered else []
        export = gr.DownloadButton(value=self.export(conversation), visible=True) if final and turns else gr.skip()
        return (
            render_transcript(conversation, pending, notice, announce=announce, focus_to=focus_to),
            render_sources(latest, len(turns), len(turns)) if pending is None else gr.skip(),
            conversation if state is None else state,
            None if not notice else gr.skip(),  # a new answer brings the sources back to the latest turn
            gr.skip() if keep_question else "",
            gr.Dataset(samples=[[title] for title in nearest], visible=bool(nearest)),
            export,
            latest.answer.to_dict() if latest is not None else None,
        )

    def export(self, conversation: Conversation) -> str | None:
        """Write the whole conversation, each answer with its sources, as a Markdown file for the download button."""
        if not conversation.turns:
            return None
        root = Path(self._exports.name)
        remove_older_than(root, EXPORT_MAX_AGE_S)  # Gradio has copied older exports into its own cache by now
        folder = root / uuid.uuid4().hex
        folder.mkdir()
        path = folder / "askpanel-conversation.md"
        path.write_text(conversation_markdown(conversation), encoding="utf-8")
        return str(path)

    @staticmethod
    def follow_up(sample: list[str]) -> str:
        return f"What does “{sample[0]}” cover?" if sample else ""

    # -- the conversation in the browser --------------------------------------------------------
    @staticmethod
    def save(conversation: Conversation | None) -> Any:
        """The current conversation for the browser to keep, so a reload brings it back."""
        return conversation.to_dict() if conversation is not None and conversation.turns else gr.skip()

    def restore(self, current: Any, past: Any) -> tuple[Any, ...]:
        """On page load: the conversation this browser had open, and its list of past ones."""
        conversation = Conversation.from_dict(current)
        listed = render_past(read_past(past))
        if conversation is None or not conversation.turns:
            return (*self._blank(Conversation()), listed)
        n = len(conversation.turns)
        said = f"Your conversation is back: {n} question{'s' if n != 1 else ''}. The newest answer is last."
        return (*self._shown(conversation, (f"{conversation.id}-restored", said)), listed)

    def new_conversation(self, conversation: Conversation | None, past: Any) -> tuple[Any, ...]:
        """Start clean; the conversation so far joins the list of past ones."""
        kept = file_away(read_past(past), conversation or Conversation())
        fresh = Conversation()
        view = self._blank(fresh, announce=(fresh.id, STARTED_NEW), focus_to="question")
        return (*view, fresh.to_dict(), stored(kept), render_past(kept))

    def reopen(self, conversation: Conversation | None, past: Any, event: gr.EventData) -> tuple[Any, ...]:
        """Bring a past conversation back; the one open until now takes its place in the list."""
        listed = read_past(past)
        chosen = next((c for c in listed if c.id == event_value(event, "id")), None)
        if chosen is None:
            return (*(gr.skip(),) * 8, gr.skip(), gr.skip(), render_past(listed, NOT_FOUND))
        kept = file_away(without(listed, chosen.id), conversation or Conversation())
        n = len(chosen.turns)
        said = f"Reopened “{chosen.title}”: {n} question{'s' if n != 1 else ''}. The newest answer is last."
        view = self._shown(chosen, (f"{chosen.id}-reopened-{uuid.uuid4().hex[:8]}", said), focus_to="transcript")
        return (*view, chosen.to_dict(), stored(kept), render_past(kept))

    def forget(self, past: Any, event: gr.EventData) -> tuple[Any, ...]:
        """Delete one past conversation from this browser."""
        listed = read_past(past)
        gone = next((c for c in listed if c.id == event_value(event, "id")), None)
        if gone is None:
            return gr.skip(), render_past(listed, NOT_FOUND)
        kept = without(listed, gone.id)
        return stored(kept), render_past(kept, f"Deleted “{gone.title}”.")

    def show_sources(self, conversation: Conversation | None, event: gr.EventData) -> tuple[Any, Any]:
        """Show the sources of the turn the user picked; feedback goes to that turn from now on."""
        turns = conversation.turns if conversation is not None else []
        n = event_value(event, "turn")
        if not isinstance(n, int) or not 1 <= n <= len(turns):
            return gr.skip(), gr.skip()
        return render_sources(turns[n - 1], n, len(turns), requested=uuid.uuid4().hex), n

    def _shown(self, conversation: Conversation, announce: tuple[str, str], focus_to: str = "") -> tuple[Any, ...]:
        return self._view(conversation, final=True, announce=announce, focus_to=focus_to)

    def _blank(
        self, conversation: Conversation, announce: tuple[str, str] | None = None, focus_to: str = ""
    ) -> tuple[Any, ...]:
        return (
            render_transcript(conversation, announce=announce, focus_to=focus_to),
            render_sources(None),
            conversation,
            None,
            "",
            gr.Dataset(samples=[], visible=False),
            gr.DownloadButton(value=None, visible=False),
            None,
        )

    # -- feedback -------------------------------------------------------------------------------
    def helpful(self, comment: str, conversation: Conversation | None, focus: int | None) -> tuple[str, str]:
        return self.feedback(True, comment, conversation, focus)

    def not_helpful(self, comment: str, conversation: Conversation | None, focus: int | None) -> tuple[str, str]:
        return self.feedback(False, comment, conversation, focus)

    def feedback(
        self, helpful: bool, comment: str, conversation: Conversation | None, focus: int | None
    ) -> tuple[str, str]:
        """Store the verdict on the turn whose sources are shown (the latest unless another was picked);
        clear the comment box once saved."""
        turns = conversation.turns if conversation is not None else []
        if not turns:
            return status_html("Ask a question first, then say whether the answer helped.", ok=False), comment
        n = focus if isinstance(focus, int) and 1 <= focus <= len(turns) else len(turns)
        self.assistant.feedback(turns[n - 1].answer, helpful, comment or "")
        which = f"answer {n}" if len(turns) > 1 else "the answer"
        return status_html(f"Thank you. Your feedback on {which} is saved.", ok=True), ""

    def compare(self, doc_a: str | None, doc_b: str | None, focus: str, place_context: str) -> str:
        if not doc_a or not doc_b:
            return status_html("Select two case studies to compare, then select Compare side by side.", ok=False)
        if doc_a == doc_b:
            return status_html("The two case studies are the same. Select two different ones.", ok=False)
        records = {r.doc_id: r for r in self.assistant.documents()}
        answers = self.assistant.compare(doc_a, doc_b, (focus or "").strip()[:MAX_QUESTION_CHARS], place_context)
        return render_compare([records.get(doc_a), records.get(doc_b)], answers)

    # -- the corpus -----------------------------------------------------------------------------
    def corpus_view(self) -> tuple[Any, ...]:
        """The corpus table, the places chart and fresh choices for every menu that lists documents."""
        records = self.assistant.documents()
        cases = self.case_choices(records)
        return (
            [corpus_row(r) for r in records],
            render_places(records),
            gr.Dropdown(choices=cases),
            gr.Dropdown(choices=cases),
            gr.Dropdown(choices=self.assistant.places()),
            gr.Dropdown(choices=self.assistant.themes()),
        )

    def case_choices(self, records: Sequence[DocumentRecord] | None = None) -> list[tuple[str, str]]:
        records = self.assistant.documents() if records is None else records
        return [(case_label(r), r.doc_id) for r in records if r.doc_type == "case_study"]

    # -- adding a case study --------------------------------------------------------------------
    def add_case_study(
        self,
        file: str | None,
        title: str,
        place: str,
        region: str,
        themes: list[str] | str | None,
        password: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to report progress
    ) -> str:
        """Check the password and the file, store it under a generated name, ingest it, and say what happened."""
        try:
            self.check_password(password)
            if not file:
                raise UploadError("Choose a file to upload.")
            meta = {
                "title": clean_field(title, "title", limit=200, required=True),
                "doc_type": "case_study",
                "place": clean_field(place, "place"),
                "region": clean_field(region, "region"),
                "themes": clean_themes(themes),
            }
            data, suffix = check_file(Path(file), Path(file).name, self.settings.max_upload_mb)
        except UploadError as exc:
            return status_html(f"Not added: {exc}", ok=False)
        path = store_upload(self.settings.uploads_path, data, suffix, meta)
        progress(0, desc="Reading the file")

        def step(done: int, total: int, _title: str) -> None:
            progress((done, total), desc="Embedding passages", unit="passages")

        try:
            report = self.assistant.ingest([path], progress=step)
        except Exception as exc:  # the page must say what went wrong, and no half-added file may stay behind
            log.exception("ingest of an upload failed")
            discard(path)
            return status_html(
                f"Not added: the file could not be indexed ({type(exc).__name__}). Try again; if it fails again, "
                "ask the person who runs askpanel to look at the server log.",
                ok=False,
            )
        if not report.ok:
            discard(path)
            reasons = "; ".join(reason for _, reason in report.failed)
            return status_html(
                f"Not added: the file could not be read ({reasons}). Check that it opens, or save it in "
                "another format, then try again.",
                ok=False,
            )
        return status_html(
            f"Added “{meta['title']}” ({report.chunks_embedded} passages). It is in answers from now on.", ok=True
        )

    def check_password(self, password: str | None) -> None:
        wanted = self.settings.admin_password
        if not wanted:
            raise UploadError(
                "adding case studies is switched off on this server. The person who runs askpanel can switch it on "
                "by setting ASKPANEL_ADMIN_PASSWORD."
            )
        if not hmac.compare_digest((password or "").encode(), wanted.encode()):
            time.sleep(1)  # slows down password guessing
            raise UploadError("the admin password is wrong. Check it and try again.")


def case_label(record: DocumentRecord) -> str:
    """'Place: title', unless the title already starts with the place (most case-study titles do)."""
    return record.title if record.title.startswith(record.place) else f"{record.place}: {record.title}"


def corpus_row(record: DocumentRecord) -> list[Any]:
    return [
        record.title,
        doc_type_label(record.doc_type),
        record.place,
        record.region,
        record.year or "",
        ", ".join(record.themes),
        record.ingested_at.replace("T", " ")[:16],
    ]


def build_blocks(assistant: Assistant) -> gr.Blocks:
    """The page: Ask, Compare, Corpus and Add a case study tabs, all wired to one ChatUI."""
    ui = ChatUI(assistant)
    uploads_on = bool(assistant.settings.admin_password)
    cache = (EXPORT_MAX_AGE_S, EXPORT_MAX_AGE_S)  # Gradio's file cache: check hourly, drop files over an hour old
    with gr.Blocks(title="askpanel", analytics_enabled=False, delete_cache=cache) as blocks:
        # Per user: the open conversation and the turn whose sources are shown live in this session only;
        # the browser keeps its own copy of the conversation, and its past ones, in its localStorage.
        conversation = gr.State(None)
        focus = gr.State(None)
        current_kept = gr.BrowserState(None, storage_key=CURRENT_KEY, secret=STORE_SECRET)
        past_kept = gr.BrowserState([], storage_key=PAST_KEY, secret=STORE_SECRET)
        gr.Markdown(
            "# askpanel\nAsk the Service Transformation Challenge Panel report and its case studies. "
            "Answers are ideas to adapt, not recipes to follow, and every point links to its source."
        )
        with gr.Tabs():
            with gr.Tab("Ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        transcript = gr.HTML(
                            render_transcript(Conversation(id="empty")),
                            label="Conversation",
                            elem_id="ap-transcript",
                            js_on_load=TRANSCRIPT_JS,
                        )
                        question = gr.Textbox(
                            label="Your question",
                            placeholder="e.g. How did places get partners to share information?",
                            info="Follow-up questions are answered in the light of the ones before.",
                            max_length=MAX_QUESTION_CHARS,
                            elem_id="ap-question",
                        )
                        with gr.Row():
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="ap-ask")
                            new_btn = gr.Button("New conversation", variant="secondary", elem_id="ap-new")
                        followups = gr.Dataset(
                            label="Ask about one of the nearest documents", components=[question], samples=[],
                            visible=False,
                        )  # fmt: skip
                        gr.Examples(EXAMPLES, inputs=question, label="Example questions")
                        with gr.Accordion("Filters and your place", open=False):
                            doc_types = gr.CheckboxGroup(
                                DOC_TYPE_CHOICES, label="Search in", info="Select none to search everything."
                            )
                            # Custom values: places ingested by another process after start-up must still filter.
                            places = gr.Dropdown(
                                assistant.places(), multiselect=True, allow_custom_value=True, label="Places"
                            )
                            themes = gr.Dropdown(
                                assistant.themes(), multiselect=True, allow_custom_value=True, label="Themes"
                            )
                            place_context = gr.Textbox(
                                label="Your place",
                                placeholder=PLACE_CONTEXT_HINT,
                                info="Tailors the questions to ask before adapting an idea.",
                                max_length=MAX_PLACE_CONTEXT_CHARS,
                            )
                    with gr.Column(scale=2, min_width=300):
                        sources = gr.HTML(
                            render_sources(None), label="Sources", elem_id="ap-sources", js_on_load=SOURCES_JS
                        )
                        export = gr.DownloadButton(
                            "Download this conversation (Markdown)", visible=False, size="md", elem_id="ap-export"
                        )
                        with gr.Group():
                            comment = gr.Textbox(
                                label="Did the answer whose sources are shown help? Add a comment (optional)", lines=2
                            )
                            with gr.Row():
                                helpful_btn = gr.Button("Yes, it helped", size="sm")
                                unhelpful_btn = gr.Button("No, it did not help", size="sm")
                        feedback_status = gr.HTML(label="Feedback status", js_on_load=None)
                        past_list = gr.HTML(
                            render_past([]), label="Past conversations", elem_id="ap-past", js_on_load=PAST_JS
                        )
                answer_json = gr.JSON(label="Answer", visible=False)

            with gr.Tab("Compare"):
                gr.Markdown(
                    "## Compare two case studies\nPut two case studies side by side, optionally on one question."
                )
                with gr.Row():
                    compare_a = gr.Dropdown(ui.case_choices(), value=None, label="First case study")
                    compare_b = gr.Dropdown(ui.case_choices(), value=None, label="Second case study")
                compare_focus = gr.Textbox(label="Question (optional)", placeholder="e.g. How did they fund it?")
                compare_btn = gr.Button("Compare side by side", variant="primary")
                compare_out = gr.HTML(label="Comparison", js_on_load=None)

            with gr.Tab("Corpus"):
                gr.Markdown(
                    "## The corpus\nEvery document askpanel answers from, and where the case studies come from."
                )
                corpus_table = gr.Dataframe(
                    headers=["Title", "Type", "Place", "Region", "Year", "Themes", "Ingested"],
                    interactive=False,
                    wrap=True,
                    label="Documents",
                    column_widths=["34%", "10%", "12%", "14%", "6%", "14%", "10%"],
                )
                gr.Markdown("### Case studies by region")
                places_chart = gr.HTML(label="Case studies by region", js_on_load=None)
                refresh_btn = gr.Button("Refresh", size="sm")

            with gr.Tab("Add a case study"):
                gr.Markdown(
                    "## Add a case study\nUpload a PDF, Word (DOCX), HTML, Markdown or text file. It is read, "
                    "embedded and used in answers as soon as it is added."
                    if uploads_on
                    else "## Add a case study\nAdding case studies is switched off on this server. To switch it on, "
                    "the person who runs askpanel sets `ASKPANEL_ADMIN_PASSWORD` and restarts it."
                )
                with gr.Group(visible=uploads_on):  # a form nobody can use is left out, not shown greyed out
                    up_file = gr.File(
                        label=f"File (up to {assistant.settings.max_upload_mb:g} MB)",
                        file_types=list(ALLOWED_SUFFIXES),
                    )
                    up_title = gr.Textbox(label="Title")
                    with gr.Row():
                        up_place = gr.Textbox(label="Place", placeholder="e.g. Melton")
                        up_region = gr.Textbox(label="Region", placeholder="e.g. East Midlands")
                    up_themes = gr.Dropdown(
                        assistant.themes(), multiselect=True, allow_custom_value=True, label="Themes"
                    )
                    up_password = gr.Textbox(label="Admin password", type="password")
                    up_btn = gr.Button("Add case study", variant="primary")
                up_status = gr.HTML(label="Upload status", js_on_load=None)

        ask_inputs = [question, doc_types, places, themes, place_context, conversation]
        ask_outputs = [transcript, sources, conversation, focus, question, followups, export, answer_json]
        kept = [current_kept, past_kept, past_list]
        # Quick steps that need no progress overlay: it would dim the panels (below 4.5:1) for a blink.
        quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        corpus_outputs = [corpus_table, places_chart, compare_a, compare_b, places, themes]
        for trigger in (ask_btn.click, question.submit):
            # "minimal": the queue and timer show, but no overlay hides the conversation while it is answered.
            trigger(
                ui.ask,
                ask_inputs,
                ask_outputs,
                api_name="ask",
                show_progress="minimal",
                concurrency_limit=ASK_CONCURRENCY,
            ).then(ui.save, conversation, current_kept, **quiet)
        followups.click(ui.follow_up, followups, question, api_visibility="private").then(
            ui.ask,
            ask_inputs,
            ask_outputs,
            api_visibility="private",
            show_progress="minimal",
            concurrency_limit=ASK_CONCURRENCY,
        ).then(ui.save, conversation, current_kept, **quiet)
        new_btn.click(ui.new_conversation, [conversation, past_kept], ask_outputs + kept, **quiet)
        past_list.reopen(ui.reopen, [conversation, past_kept], ask_outputs + kept, **quiet)
        past_list.forget(ui.forget, past_kept, [past_kept, past_list], **quiet)
        transcript.show_sources(ui.show_sources, conversation, [sources, focus], **quiet)
        feedback_inputs = [comment, conversation, focus]
        helpful_btn.click(ui.helpful, feedback_inputs, [feedback_status, comment], api_name="helpful")
        unhelpful_btn.click(ui.not_helpful, feedback_inputs, [feedback_status, comment], api_name="not_helpful")
        compare_inputs = [compare_a, compare_b, compare_focus, place_context]
        compare_btn.click(ui.compare, compare_inputs, compare_out, api_name="compare")
        up_btn.click(
            ui.add_case_study,
            [up_file, up_title, up_place, up_region, up_themes, up_password],
            up_status,
            api_name="add_case_study",
        ).then(ui.corpus_view, None, corpus_outputs, api_visibility="private")
        refresh_btn.click(ui.corpus_view, None, corpus_outputs, api_name="corpus")
        blocks.load(ui.restore, [current_kept, past_kept], [*ask_outputs, past_list], **quiet)
        blocks.load(ui.corpus_view, None, corpus_outputs, api_visibility="private")
    return blocks


# == the server ================================================================================
def theme() -> gr.themes.Base:
    """Gradio's default look with its blues and greys darkened to 4.5:1 or more on their backgrounds (WCAG 1.4.3)."""
    return gr.themes.Default(primary_hue="blue").set(
        color_accent="*primary_700",
        link_text_color="*primary_700",
        link_text_color_hover="*primary_800",
        link_text_color_visited="*primary_800",
        link_text_color_active="*primary_800",
        link_text_color_dark="*primary_300",
        link_text_color_hover_dark="*primary_200",
        link_text_color_visited_dark="*primary_200",
        link_text_color_active_dark="*primary_200",
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_border_color="*primary_700",
        button_primary_text_color="white",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_600",
        button_primary_text_color_dark="white",
        body_text_color_subdued="#4b5563",  # the hints under labels, and the file box's "or"
        body_text_color_subdued_dark="#d1d5db",
        input_placeholder_color="#6b7280",
        input_placeholder_color_dark="#9ca3af",
    )


def build_app(assistant: Assistant) -> FastAPI:
    """One FastAPI app: REST under /api, the OpenAI-compatible API under /v1, MCP at /mcp, OpenAPI at /docs,
    and the web chat at /."""
    from contextlib import asynccontextmanager

    from starlette.routing import Route

    from .mcp_server import mcp_http
    from .openai_api import openai_router

    credentials = parse_auth(assistant.settings.auth)
    mcp_endpoint, mcp_sessions = mcp_http(assistant, credentials)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with mcp_sessions():
            yield

    app = FastAPI(
        title="askpanel",
        version=__version__,
        description="Ask the Service Transformation Challenge Panel report and its case studies.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(api_router(assistant))
    app.include_router(openai_router(assistant, credentials))
    app.router.routes.append(Route("/mcp", mcp_endpoint))  # an exact path: Gradio at / would take /mcp/...
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    return gr.mount_gradio_app(
        app,
        build_blocks(assistant),
        path="/",
        auth=credentials,
        css=CSS,
        theme=theme(),
        max_file_size=int(assistant.settings.max_upload_mb * 1_000_000),
        footer_links=["api"],
        run_history=False,
        ssr_mode=False,
    )


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the web chat and REST API until interrupted (127.0.0.1 unless told otherwise)."""
    import uvicorn

    app = build_app(assistant)
    assistant.warm()  # load the model now, so the first visitor does not wait for it
    where = "REST at /api, OpenAI-compatible API at /v1, MCP at /mcp, docs at /docs"
    print(f"askpanel: serving on http://{host}:{port}/ ({where})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
