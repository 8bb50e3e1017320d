"""The MCP server through the official `mcp` client: over stdio (`askpanel mcp` as a subprocess) and over
streamable HTTP at /mcp on a real server, both running the same checks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import ROOT
from webutil import running

from askpanel import Assistant

mcp = pytest.importorskip("mcp")

USER, PASSWORD = "officer", "s3cret"
GOOD_QUESTION = "How did places get partners to share information about families?"
TOOLS = {"ask", "search_passages", "get_passage", "list_documents"}


async def exercise(client: Any, assistant: Assistant) -> None:
    """List the tools, call each one (and each one wrongly), list and read the document resources."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():  # each says what it returns, and that it answers from the corpus alone
        assert "corpus" in tool.description and tool.output_schema
    assert "only" in tools["ask"].description and "never from general knowledge" in tools["ask"].description

    # ask: the text a model reads and the structured answer, one schema with REST and the OpenAI API.
    result = await client.call_tool("ask", {"question": GOOD_QUESTION, "filters": {"doc_type": "case_study"}})
    assert not result.is_error
    answer = result.structured_content
    assert answer["status"] == "covered" and answer["citations"] and answer["ideas"]
    assert {c["doc_type"] for c in answer["citations"]} == {"case_study"}
    text = result.content[0].text
    assert answer["lead"].split("[")[0][:50] in text and "Sources:" in text
    assert [c.chunk_id for c in assistant.ask(GOOD_QUESTION, {"doc_type": "case_study"}).citations] == [
        c["chunk_id"] for c in answer["citations"]
    ]

    follow_up = await client.call_tool(
        "ask", {"question": "What about Margate?", "history": ["What did Melton do at Parkside?"]}
    )
    assert "Margate" in {c["place"] for c in follow_up.structured_content["citations"]}

    refusal = await client.call_tool("ask", {"question": "What is the capital of France?"})
    assert not refusal.is_error
    assert refusal.structured_content["status"] == "not_covered" and refusal.structured_content["citations"] == []
    assert refusal.content[0].text.startswith(refusal.structured_content["lead"])

    bad = await client.call_tool("ask", {"question": GOOD_QUESTION, "filters": {"colour": "red"}})
    assert bad.is_error and "unknown filter 'colour'" in bad.content[0].text
    empty = await client.call_tool("ask", {"question": "  "})
    assert empty.is_error and "empty" in empty.content[0].text

    # search_passages, then get_passage on what it found.
    found = await client.call_tool("search_passages", {"query": "shared council building after a fire", "k": 3})
    hits = found.structured_content["result"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert all(h["chunk_id"] and h["title"] and h["text"] and h["doc_id"] for h in hits)
    assert any(h["place"] == "Melton" for h in hits)
    passage = await client.call_tool("get_passage", {"chunk_id": hits[0]["chunk_id"]})
    assert passage.structured_content["text"] == hits[0]["text"]
    assert passage.structured_content["doc_id"] == hits[0]["doc_id"]
    missing = await client.call_tool("get_passage", {"chunk_id": "no-such-chunk"})
    assert missing.is_error and "no passage" in missing.content[0].text
    too_many = await client.call_tool("search_passages", {"query": "co-location", "k": 500})
    assert too_many.is_error

    # list_documents and the resources name the same documents.
    listed = (await client.call_tool("list_documents", {})).structured_content["result"]
    records = assistant.documents()
    assert [d["doc_id"] for d in listed] == [r.doc_id for r in records]
    assert all("path" not in d for d in listed)  # no server paths leak
    resources = (await client.list_resources()).resources
    assert {str(r.uri) for r in resources} == {d["uri"] for d in listed}
    case = next(d for d in listed if d["place"] == "Melton")
    read = await client.read_resource(case["uri"])
    body = read.contents[0].text
    assert body.startswith(case["title"])
    passages = assistant.passages(case["doc_id"])
    assert len(passages) == case["n_chunks"] and all(p.text in body for p in passages)
    with pytest.raises(mcp.MCPError):
        await client.read_resource("askpanel://documents/corpus/no-such-document.md")


def stdio_params(home: Path) -> Any:
    keep = ("PYTHONPATH", "HF_HUB_OFFLINE", "ANONYMIZED_TELEMETRY", "HOME", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return mcp.StdioServerParameters(
        command=sys.executable, args=["-m", "askpanel", "--home", str(home), "mcp"], env=env, cwd=str(ROOT)
    )


def test_stdio(fresh_home: Path, tmp_path: Path) -> None:
    """`askpanel mcp` spawned the way Claude Desktop does, over a copy of the ingested corpus home."""
    assistant = Assistant(home=fresh_home)

    async def main() -> None:
        async with mcp.Client(stdio_params(fresh_home), read_timeout_seconds=120) as client:
            await exercise(client, assistant)

    anyio.run(main)


@pytest.fixture(scope="module")
def guarded(corpus_home: Path) -> Iterator[str]:
    with running(Assistant(home=corpus_home, auth=f"{USER}:{PASSWORD}")) as url:
        yield url


def test_streamable_http(guarded: str, assistant: Assistant) -> None:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def main() -> None:
        headers = {"Authorization": f"Bearer {PASSWORD}"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            mcp.Client(streamable_http_client(f"{guarded}/mcp", http_client=http)) as client,
        ):
            await exercise(client, assistant)

    anyio.run(main)


def test_http_needs_the_login(guarded: str) -> None:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"accept": "application/json, text/event-stream"}
    refused = httpx.post(f"{guarded}/mcp", json=initialize, headers=headers)
    assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]
    assert httpx.post(f"{guarded}/mcp", json=initialize, headers=headers, auth=(USER, "wrong")).status_code == 401

    async def main() -> None:
        async with (
            create_mcp_http_client(headers={"Authorization": "Bearer wrong"}) as http,
            mcp.Client(streamable_http_client(f"{guarded}/mcp", http_client=http)) as client,
        ):
            await client.list_tools()

    with pytest.raises(ExceptionGroup) as caught:
        anyio.run(main)
    assert caught.group_contains(mcp.MCPError)
