"""The MCP server: ask, search_passages, get_passage and list_documents, and each document as a resource."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import Field

from . import __version__
from .auth import Credentials, guard_asgi
from .markdown import render_chat
from .models import Answer, DocumentOut, DocumentRecord, Passage, SearchHit
from .retrieval import FilterError
from .understand import MAX_QUESTION_CHARS

if TYPE_CHECKING:
    from .assistant import Assistant

DOCUMENT_URI = "askpanel://documents/{+doc_id}"
MAX_PASSAGES = 50
INSTRUCTIONS = (
    "askpanel answers questions about the Service Transformation Challenge Panel report 'Bolder, Braver and "
    "Better' (2014) and case studies of local public-service reform in England, only from that corpus. Use `ask` "
    "for a cited answer (ideas to adapt, not recipes to follow); quote its [n] markers with their sources. When "
    "the corpus does not cover a question, `ask` says so and names the nearest documents: do not fill the gap "
    "from elsewhere and present it as askpanel's. Use `search_passages` and `get_passage` to read the evidence "
    "yourself, and `list_documents` (or the askpanel://documents/ resources) to see what the corpus holds."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

Filters = Annotated[
    dict[str, str | int | list[str | int]] | None,
    Field(
        description="Narrow the search: doc_type (report, case_study, context), place (e.g. Melton), region, "
        "themes (e.g. information-sharing), year, doc_id. An unknown filter is an error, never ignored."
    ),
]


class DocumentInfo(DocumentOut):
    """One live document of the corpus, with the URI that reads it whole."""

    uri: str = Field(description="Read the whole document as an MCP resource at this URI.")


def document_uri(doc_id: str) -> str:
    return DOCUMENT_URI.replace("{+doc_id}", doc_id)


def document_info(record: DocumentRecord) -> DocumentInfo:
    data = {k: v for k, v in record.to_dict().items() if k != "path"}
    return DocumentInfo(uri=document_uri(record.doc_id), **data)


def document_text(record: DocumentRecord, passages: list[Passage]) -> str:
    """A document as plain text, rebuilt from its passages: title, what it is, then each section in order."""
    facts = (record.doc_type.replace("_", " "), record.place, record.region, record.year)
    about = " · ".join(str(x) for x in facts if x)
    lines = [record.title, about]
    lines += [f"Source: {url}" for url in record.sources]
    section = None
    for p in passages:
        if p.section != section:
            section = p.section
            lines += ["", f"## {section}" if section else ""]
        lines += ["", f"{p.text} (p. {p.page})" if p.page else p.text]
    return "\n".join(lines).strip() + "\n"


class CorpusServer(MCPServer):
    """An MCPServer whose resource list is the corpus as it is now, so documents ingested later appear too."""

    def __init__(self, assistant: Assistant, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assistant = assistant

    async def list_resources(self) -> list[Resource]:
        records = await anyio.to_thread.run_sync(self.assistant.documents)
        listed = [
            Resource(
                uri=document_uri(r.doc_id),
                name=r.doc_id,
                title=r.title,
                description=f"{r.doc_type.replace('_', ' ')}{': ' + r.place if r.place else ''}. {r.summary}".strip(),
                mime_type="text/plain",
            )
            for r in records
        ]
        return [*await super().list_resources(), *listed]


def build_mcp(assistant: Assistant) -> CorpusServer:
    """The askpanel MCP server over one Assistant; serve it with .run() (stdio) or mount its HTTP app."""
    server = CorpusServer(
        assistant,
        name="askpanel",
        title="askpanel: the Service Transformation Challenge Panel corpus",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )

    def tool(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Sync tools: the SDK runs them on worker threads, so an answer never blocks the event loop.
        server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=READ_ONLY)
        return fn

    @tool
    def ask(
        question: Annotated[str, Field(description="The question, in plain words.", max_length=MAX_QUESTION_CHARS)],
        filters: Filters = None,
        history: Annotated[
            list[str] | None, Field(description="Earlier questions in this conversation, oldest first.", max_length=50)
        ] = None,
        place_context: Annotated[
            str, Field(description="Your place, e.g. 'a rural district with a small voluntary sector'.", max_length=500)
        ] = "",
    ) -> Annotated[CallToolResult, Answer]:
        """Answer a question from the askpanel corpus only, never from general knowledge.

        Returns the answer as text (a lead, ideas to adapt with [n] citation markers, and a Sources list
        giving each [n]'s title, section, quote and URL) and as structured content: status ("covered",
        "partial" or "not_covered"), lead, ideas, citations (chunk id, title, section, page, quote, URL,
        the whole passage) and, for a question the corpus does not cover, a refusal with the nearest
        documents instead of an answer.
        """
        try:
            answer = assistant.ask(question, filters or {}, history or [], place_context)
        except FilterError as exc:
            raise ToolError(str(exc)) from exc
        if not answer.question:
            raise ToolError("the question is empty: send a question in plain words")
        text = TextContent(type="text", text=render_chat(answer))
        return CallToolResult(content=[text], structured_content=answer.to_dict())

    @tool
    def search_passages(
        query: Annotated[str, Field(description="What to look for, in plain words.", max_length=MAX_QUESTION_CHARS)],
        filters: Filters = None,
        k: Annotated[int, Field(description="How many passages to return.", ge=1, le=MAX_PASSAGES)] = 8,
    ) -> list[SearchHit]:
        """Find the corpus passages that best match a query, best first, without composing an answer.

        Each result has its rank and score, chunk_id (for get_passage), doc_id, title, doc_type, place,
        section, page, the source URL and the passage text. Only the corpus is searched.
        """
        try:
            return assistant.search(query, filters or {}, k)
        except FilterError as exc:
            raise ToolError(str(exc)) from exc

    @tool
    def get_passage(
        chunk_id: Annotated[str, Field(description="A chunk_id from search_passages or from an answer's citations.")],
    ) -> Passage:
        """One passage of the corpus by its chunk id: its full text, document, title, section, page and URL."""
        passage = assistant.passage(chunk_id)
        if passage is None:
            raise ToolError(f"no passage with chunk_id {chunk_id!r} in the corpus (it may have been re-ingested)")
        return passage

    @tool
    def list_documents() -> list[DocumentInfo]:
        """Every document in the corpus askpanel answers from: the panel report, context and case studies.

        Each has its doc_id, resource URI (to read the whole text), title, type, place, region, themes, year,
        source URLs and summary.
        """
        return [document_info(r) for r in assistant.documents()]

    @server.resource(DOCUMENT_URI, name="document", title="A corpus document", mime_type="text/plain")
    def document(doc_id: str) -> str:
        """The whole text of one corpus document, section by section, rebuilt from its passages."""
        record = next((r for r in assistant.documents() if r.doc_id == doc_id), None)
        if record is None:
            raise ResourceNotFoundError(f"no document {doc_id!r} in the corpus: see list_documents")
        return document_text(record, assistant.passages(doc_id))

    return server


def mcp_http(
    assistant: Assistant, credentials: Credentials | None
) -> tuple[Any, Callable[[], AbstractAsyncContextManager[None]]]:
    """The streamable HTTP endpoint for /mcp, behind the login, and the context its sessions run in (enter
    it in the web app's lifespan: a route inside another app does not get a lifespan of its own)."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings

    server = build_mcp(assistant)
    # Without a login, /mcp answers only requests addressed to localhost (the SDK's guard against DNS
    # rebinding); with ASKPANEL_AUTH set the login is the guard, so other hosts may reach it.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if credentials else None
    server.streamable_http_app(streamable_http_path="/mcp", transport_security=security)  # makes the session manager
    sessions = server.session_manager
    endpoint = guard_asgi(StreamableHTTPASGIApp(sessions), credentials, {"error": "login required", "details": []})
    return endpoint, sessions.run


def serve_stdio(assistant: Assistant) -> None:
    """Serve MCP over stdin and stdout until the client closes them (stray prints go to stderr, not the wire)."""
    # load the model before the first call, as `askpanel serve` does: a long-lived server then embeds every
    # question the same way (torch), rather than the one-off path a cold process would take
    assistant.warm()
    build_mcp(assistant).run("stdio")
