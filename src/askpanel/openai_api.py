"""The OpenAI-compatible API under /v1: chat completions answered by Assistant, citations kept beside the text."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth import CHALLENGE, Credentials, authorized
from .markdown import render_chat
from .models import Answer
from .retrieval import FilterError
from .store import StoreUnavailable
from .understand import MAX_QUESTION_CHARS
from .web import MAX_PLACE_CONTEXT_CHARS

if TYPE_CHECKING:
    from .assistant import Assistant

log = logging.getLogger(__name__)

MODEL_ID = "askpanel"
MODEL_CREATED = 1_414_800_000  # November 2014, when the panel's report came out: a fixed date, not start-up time
MAX_MESSAGES = 500
MAX_HISTORY = 50  # earlier messages passed on as history: like POST /api/ask, the latest ones
ENDPOINT_METHODS = {"models": "GET", "chat/completions": "POST"}
Filters = dict[str, str | int | list[str | int]]


# == the request ===============================================================================
class ContentPart(BaseModel):
    """One part of a message's content; only text parts carry words askpanel can read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content if part.type == "text" and part.text)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The body of POST /v1/chat/completions. OpenAI fields that cannot change an extractive, cited answer
    (temperature, max_tokens, tools, ...) are accepted and ignored, so existing clients work unchanged."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(MODEL_ID, description=f"Always '{MODEL_ID}' (see GET /v1/models).")
    messages: list[ChatMessage] = Field(
        max_length=MAX_MESSAGES,
        description="The conversation. The last user message is the question; earlier ones are its history; "
        "system messages are ignored (answers come only from the corpus).",
    )
    stream: bool = Field(False, description="Send server-sent events in the chat.completion.chunk format.")
    filters: Filters = Field(
        default_factory=dict,
        description="askpanel only: doc_type (report, case_study, context), place, region, themes, year, doc_id.",
    )
    place_context: str = Field(
        "", max_length=MAX_PLACE_CONTEXT_CHARS, description="askpanel only: your place, e.g. a rural district."
    )


class ApiError(Exception):
    """A request the API refuses, in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": error}, self.status, headers=self.headers)


def validation_error(exc: RequestValidationError) -> ApiError:
    """FastAPI's validation failure as one OpenAI error naming the first field at fault (never echoing input)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", code="invalid_json")
    if not loc and first.get("type") == "model_attributes_type":
        return ApiError(400, "the request body must be a JSON object, sent as application/json", code="invalid_body")
    param = ".".join(loc) or None
    return ApiError(400, f"{param or 'body'}: {first.get('msg', 'invalid request')}", param, "invalid_value")


# == reading the conversation =====================================================================
def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The last user message is the question; the user and assistant messages before it are its history."""
    if not messages:
        raise ApiError(400, "messages is empty: send at least one message with role 'user'", "messages", "empty")
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ApiError(
            400, "no message has role 'user': the last user message is the question", "messages", "no_user_message"
        )
    last = users[-1]
    question = messages[last].text().strip()
    param = f"messages.{last}.content"
    if not question:
        raise ApiError(400, "the question is empty: send a question in plain words", param, "empty_question")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(
            400,
            f"the question is {len(question)} characters long; at most {MAX_QUESTION_CHARS} are allowed",
            param,
            "question_too_long",
        )
    history = [{"role": m.role, "content": m.text()} for m in messages[:last] if m.role in ("user", "assistant")]
    return question, history[-MAX_HISTORY:]


# == the response ===============================================================================
def answer_fields(answer: Answer) -> dict[str, Any]:
    """The extra top-level fields: the citations behind every [n] marker, and the whole structured answer."""
    return {"citations": [asdict(c) for c in answer.citations], "askpanel": answer.to_dict()}


def completion(answer: Answer, completion_id: str, created: int) -> dict[str, Any]:
    message = {"role": "assistant", "content": render_chat(answer), "refusal": None}
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        **answer_fields(answer),
    }


def chunk(completion_id: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def pieces(text: str) -> list[str]:
    """The message in paragraph-sized pieces, each ending with the blank line that followed it."""
    parts = text.split("\n\n")
    return [part + "\n\n" for part in parts[:-1]] + [parts[-1]]


def stream_events(first: Answer, versions: Iterator[Answer], completion_id: str, created: int) -> Iterator[str]:
    """SSE events: the role at once, then the text of the final answer, then its citations, then [DONE].

    Text goes out only once it is final: with an LLM configured the later versions are checked rewrites of
    the first, and a sentence once sent to a client cannot be taken back.
    """
    yield chunk(completion_id, created, {"role": "assistant", "content": ""})
    try:
        answer = final(first, versions)
        for piece in pieces(render_chat(answer)):
            yield chunk(completion_id, created, {"content": piece})
        yield chunk(completion_id, created, {}, "stop", **answer_fields(answer))
    except Exception:  # the status line has gone: say so in the stream, in the shape OpenAI clients raise on
        log.exception("a streamed answer failed")
        error = {"message": "internal error: the server log has the details", "type": "server_error"}
        yield f"data: {json.dumps({'error': {**error, 'param': None, 'code': None}})}\n\n"
    yield "data: [DONE]\n\n"


def final(first: Answer, versions: Iterator[Answer]) -> Answer:
    """The last of the answer's versions: with an LLM configured, its checked rewrite."""
    answer = first
    for answer in versions:  # noqa: B007 - only the last one counts
        pass
    return answer


def unknown_model(model: str) -> ApiError:
    message = f"the model '{model}' does not exist: this server offers '{MODEL_ID}'"
    return ApiError(404, message, "model", "model_not_found")


def model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "askpanel"}


# == the router ==================================================================================
def openai_router(assistant: Assistant, credentials: Credentials | None) -> APIRouter:
    """/v1/models and /v1/chat/completions, guarded by ASKPANEL_AUTH, every failure in OpenAI's error shape."""

    class OpenAIRoute(APIRoute):
        """Checks the login first, and turns every failure into OpenAI's error shape (the app's handlers
        answer the rest of the server in askpanel's own shape)."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                if not authorized(request.headers.get("authorization"), credentials):
                    return ApiError(
                        401,
                        "login required: send the ASKPANEL_AUTH password as the API key (Bearer), or Basic auth",
                        code="invalid_api_key",
                        headers={"WWW-Authenticate": CHALLENGE},
                    ).response()
                try:
                    return await handle(request)
                except ApiError as exc:
                    return exc.response()
                except RequestValidationError as exc:
                    return validation_error(exc).response()
                except StarletteHTTPException as exc:
                    return ApiError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})).response()
                except StoreUnavailable as exc:
                    log.warning("store unavailable on %s: %s", request.url.path, exc)
                    return ApiError(
                        503, str(exc), code="store_unavailable", kind="server_error", headers={"Retry-After": "5"}
                    ).response()
                except Exception:
                    log.exception("unhandled error on %s", request.url.path)
                    error = ApiError(500, "internal error: the server log has the details", kind="server_error")
                    return error.response()

            return guarded

    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=OpenAIRoute)

    @router.get("/models")
    def models() -> dict[str, Any]:
        """askpanel's one engine, as an OpenAI model list."""
        return {"object": "list", "data": [model_card()]}

    @router.get("/models/{model}")
    def model(model: str) -> dict[str, Any]:
        if model != MODEL_ID:
            raise unknown_model(model)
        return model_card()

    # A plain `def`: FastAPI runs it in its thread pool, so composing an answer never blocks the event loop.
    @router.post("/chat/completions")
    def chat_completions(body: ChatCompletionRequest) -> Any:
        """Answer the last user message from the corpus: the lead and ideas as text with [n] markers and a
        Sources list, plus `citations` and `askpanel` (the structured answer) beside the choices."""
        if body.model != MODEL_ID:
            raise unknown_model(body.model)
        question, history = question_and_history(body.messages)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        try:
            if body.stream:
                versions = assistant.ask_stream(question, body.filters, history, body.place_context)
                answer = next(versions)  # filters are checked here, while an error can still be a status code
            else:
                answer = assistant.ask(question, body.filters, history, body.place_context)
        except FilterError as exc:
            raise ApiError(400, str(exc), "filters", "invalid_filter") from exc
        if not answer.question:  # nothing left once control characters are gone
            raise ApiError(400, "the question is empty: send a question in plain words", "messages", "empty_question")
        if body.stream:
            return StreamingResponse(
                stream_events(answer, versions, completion_id, created),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return completion(answer, completion_id, created)

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(rest: str, request: Request) -> Any:
        # Without this, the Gradio app mounted at / would answer unknown /v1/ paths with its own page.
        method = ENDPOINT_METHODS.get(rest.strip("/"))
        if method is not None:
            raise ApiError(405, f"use {method} for /v1/{rest}, not {request.method}", headers={"Allow": method})
        raise ApiError(404, f"no such endpoint: /v1/{rest}", code="unknown_url")

    return router
