"""The OpenAI-compatible API against a real server, through the official `openai` client (and raw HTTP where the
client hides what is on the wire)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webutil import running

from askpanel import Answer, Assistant, Citation, Idea
from askpanel.auth import authorized
from askpanel.markdown import IDEAS_HEADING, NEAREST_HEADING, PARTIAL_NOTE, SOURCES_HEADING, render_chat

openai = pytest.importorskip("openai")

USER, PASSWORD = "officer", "s3cret"
GOOD_QUESTION = "How did places get partners to share information about families?"
PARKSIDE = "What did Melton do at Parkside?"
OUT_OF_SCOPE = "What is the capital of France?"


@pytest.fixture(scope="module")
def guarded(corpus_home: Path) -> Iterator[str]:
    """One server for the module, with ASKPANEL_AUTH set: every test below also shows the login works."""
    with running(Assistant(home=corpus_home, auth=f"{USER}:{PASSWORD}")) as url:
        yield url


@pytest.fixture(scope="module")
def client(guarded: str) -> Any:
    return openai.OpenAI(base_url=f"{guarded}/v1", api_key=PASSWORD, max_retries=0, timeout=60)


def ask(client: Any, messages: list[dict[str, str]], **kwargs: Any) -> Any:
    return client.chat.completions.create(model="askpanel", messages=messages, **kwargs)


def markers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d{1,3})\]", text)}


def assert_cited_text(content: str, citations: list[dict[str, Any]]) -> None:
    """Every [n] in the text resolves to a citation, and the Sources list names each one with its quote."""
    numbers = {c["n"] for c in citations}
    body, _, sources = content.partition(f"\n{SOURCES_HEADING}\n")
    assert sources, f"no Sources list in {content[:300]!r}"
    assert markers(body) and markers(body) <= numbers
    lines = [line for line in sources.splitlines() if line.startswith("- [")]
    assert [int(re.match(r"- \[(\d+)\]", line).group(1)) for line in lines] == sorted(numbers)  # type: ignore[union-attr]
    for line, cite in zip(lines, sorted(citations, key=lambda c: c["n"]), strict=True):
        assert cite["quote"][:40] in line.replace("\\", "")
        assert cite["title"].replace("[", "").replace("]", "")[:30] in line.replace("\\", "")
        if cite["url"].startswith("http"):
            assert f"<{cite['url'].split('#')[0][:30]}" in line


# -- models and answers ------------------------------------------------------------------------------
def test_models_list_askpanel(client: Any) -> None:
    assert [m.id for m in client.models.list().data] == ["askpanel"]
    assert client.models.retrieve("askpanel").owned_by == "askpanel"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.body["code"] == "model_not_found"


def test_answer_is_cited_text_with_structured_citations(client: Any, assistant: Assistant) -> None:
    response = ask(
        client, [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": GOOD_QUESTION}]
    )
    assert response.object == "chat.completion" and response.model == "askpanel"
    [choice] = response.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content
    citations = response.model_extra["citations"]
    structured = response.model_extra["askpanel"]
    assert structured["status"] == "covered" and structured["question"] == GOOD_QUESTION
    assert citations == structured["citations"] and citations
    assert content.startswith(structured["lead"].split("[")[0].strip()[:60])
    assert IDEAS_HEADING in content and all(idea["title"][:30] in content for idea in structured["ideas"])
    assert_cited_text(content, citations)
    # The same engine as every other front end: the citations are the ones Assistant gives.
    direct = assistant.ask(GOOD_QUESTION)
    assert [c["chunk_id"] for c in citations] == [c.chunk_id for c in direct.citations]


def test_streaming_sends_the_same_text_then_the_citations(client: Any) -> None:
    messages = [{"role": "user", "content": GOOD_QUESTION}]
    whole = ask(client, messages)
    chunks = list(ask(client, messages, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices[0].delta.content]) > 2  # in pieces, not one lump
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == whole.model_extra["citations"]
    assert last.model_extra["askpanel"]["status"] == "covered"


def test_stream_on_the_wire_is_server_sent_events_ending_with_done(guarded: str) -> None:
    body = {"model": "askpanel", "stream": True, "messages": [{"role": "user", "content": PARKSIDE}]}
    with httpx.stream("POST", f"{guarded}/v1/chat/completions", json=body, auth=(USER, PASSWORD), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in events[:-1]]
    with_citations = [p for p in payloads if p.get("citations")]
    assert len(with_citations) == 1 and with_citations[0]["choices"][0]["finish_reason"] == "stop"


def test_follow_up_through_messages(client: Any, assistant: Assistant) -> None:
    first = ask(client, [{"role": "user", "content": PARKSIDE}])
    earlier = [
        {"role": "user", "content": PARKSIDE},
        {"role": "assistant", "content": first.choices[0].message.content},
    ]
    follow_up = ask(client, [*earlier, {"role": "user", "content": "What about Margate?"}])
    answer = follow_up.model_extra["askpanel"]
    assert answer["question"] == "What about Margate?" and answer["status"] in ("covered", "partial")
    assert "Margate" in {c["place"] for c in answer["citations"]}
    # The earlier turns reached the engine as history: the answer is the one Assistant gives with them,
    # not the one it gives to the bare question.
    with_history = assistant.ask("What about Margate?", history=earlier)
    alone = assistant.ask("What about Margate?")
    cited = [c["chunk_id"] for c in answer["citations"]]
    assert cited == [c.chunk_id for c in with_history.citations]
    assert cited != [c.chunk_id for c in alone.citations]


def test_out_of_scope_question_gets_the_refusal_not_an_answer(client: Any) -> None:
    for stream in (False, True):
        if stream:
            chunks = list(ask(client, [{"role": "user", "content": OUT_OF_SCOPE}], stream=True))
            content = "".join(c.choices[0].delta.content or "" for c in chunks)
            extra = chunks[-1].model_extra
        else:
            response = ask(client, [{"role": "user", "content": OUT_OF_SCOPE}])
            content, extra = response.choices[0].message.content, response.model_extra
        answer = extra["askpanel"]
        assert answer["status"] == "not_covered" and not answer["covered"]
        assert extra["citations"] == [] and answer["ideas"] == []
        assert content.startswith(answer["lead"]) and answer["nearest"]
        assert NEAREST_HEADING in content and all(title[:30] in content for title in answer["nearest"])
        assert SOURCES_HEADING not in content and not markers(content)
        assert "Paris" not in content


def test_filters_pass_through_as_an_extra_field(client: Any) -> None:
    response = ask(
        client, [{"role": "user", "content": GOOD_QUESTION}], extra_body={"filters": {"doc_type": ["case_study"]}}
    )
    citations = response.model_extra["citations"]
    assert citations and {c["doc_type"] for c in citations} == {"case_study"}


# -- errors, in OpenAI's shape -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("messages", "extra", "status", "code", "param"),
    [
        ([], {}, 400, "empty", "messages"),
        ([{"role": "system", "content": "Be brief."}], {}, 400, "no_user_message", "messages"),
        ([{"role": "user", "content": "   "}], {}, 400, "empty_question", "messages.0.content"),
        ([{"role": "user", "content": "x" * 100_000}], {}, 400, "question_too_long", "messages.0.content"),
        (
            [{"role": "user", "content": GOOD_QUESTION}],
            {"filters": {"colour": "red"}},
            400,
            "invalid_filter",
            "filters",
        ),
        (
            [{"role": "user", "content": GOOD_QUESTION}],
            {"filters": {"year": "last year"}},
            400,
            "invalid_filter",
            "filters",
        ),
        ([{"role": "wizard", "content": GOOD_QUESTION}], {}, 400, "invalid_value", "messages.0.role"),
    ],
)
def test_bad_requests_get_openai_errors(
    client: Any, messages: list[dict[str, str]], extra: dict[str, Any], status: int, code: str, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, messages, extra_body=extra)
    error = caught.value
    assert error.status_code == status
    assert set(error.body) == {"message", "type", "param", "code"}
    assert (error.body["type"], error.body["code"], error.body["param"]) == ("invalid_request_error", code, param)
    assert error.body["message"] and len(error.response.content) < 2_000  # a huge question is never echoed back


def test_unknown_model_is_404(client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": GOOD_QUESTION}])
    assert caught.value.body["code"] == "model_not_found" and "askpanel" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b'{"model": "askpanel", "messages": [', "invalid_json"), (b'["a list"]', "invalid_body")],
)
def test_broken_bodies_get_openai_errors(guarded: str, content: bytes, code: str) -> None:
    response = httpx.post(
        f"{guarded}/v1/chat/completions",
        content=content,
        headers={"content-type": "application/json", "authorization": f"Bearer {PASSWORD}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_unknown_paths_and_methods(guarded: str) -> None:
    headers = {"authorization": f"Bearer {PASSWORD}"}
    missing = httpx.get(f"{guarded}/v1/embeddings", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_url"
    wrong = httpx.get(f"{guarded}/v1/chat/completions", headers=headers)
    assert (
        wrong.status_code == 405 and wrong.headers["allow"] == "POST" and "use POST" in wrong.json()["error"]["message"]
    )


# -- the login -------------------------------------------------------------------------------------------
def test_login_is_required_when_askpanel_auth_is_set(guarded: str) -> None:
    url = f"{guarded}/v1/models"
    refused = httpx.get(url)
    assert refused.status_code == 401 and "Bearer" in refused.headers["www-authenticate"]
    assert refused.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=f"{guarded}/v1", api_key="wrong", max_retries=0).models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    # The password alone (what an OpenAI client's key box holds), user:password, or Basic auth all work.
    assert httpx.get(url, headers={"authorization": f"Bearer {USER}:{PASSWORD}"}).status_code == 200
    assert httpx.get(url, auth=(USER, PASSWORD)).status_code == 200
    assert httpx.get(url, auth=(USER, "wrong")).status_code == 401
    # An unauthenticated request learns nothing about the body it sent.
    body = httpx.post(
        f"{guarded}/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert body.status_code == 401


def test_authorization_header_forms() -> None:
    import base64

    login = ("officer", "pa:ss")  # a colon inside the password is allowed
    basic = "Basic " + base64.b64encode(b"officer:pa:ss").decode()
    assert authorized(None, None) and authorized("Bearer anything", None)  # no login set: open
    assert authorized("Bearer pa:ss", login) and authorized("bearer officer:pa:ss", login) and authorized(basic, login)
    for bad in (
        None,
        "",
        "Bearer",
        "Bearer pa",
        "Bearer officer:pa",
        "Basic !!!",
        "Basic " + "b2ZmaWNlcg==",
        "Token pa:ss",
    ):
        assert not authorized(bad, login), bad


def test_openapi_describes_the_v1_endpoints(guarded: str) -> None:
    schema = httpx.get(f"{guarded}/openapi.json", auth=(USER, PASSWORD)).json()
    assert {"/v1/models", "/v1/chat/completions"} <= set(schema["paths"])
    assert "ChatCompletionRequest" in schema["components"]["schemas"]


# -- the text rendering -----------------------------------------------------------------------------------
HOSTILE = "<script>alert(1)</script> ![pixel](https://evil.example/t.png) [click](javascript:alert(2)) <img src=x>"


def hostile_answer(status: str) -> Answer:
    cite = Citation(
        1, "c1", "d1", f"Title {HOSTILE}", "case_study", "Leeds", HOSTILE, "3", "https://ok.example/a b", HOSTILE, 0.9
    )
    idea = Idea(f"Idea {HOSTILE}", "Leeds", "case_study", [f"{HOSTILE} [1]"], [HOSTILE], [1], "d1", [HOSTILE])
    return Answer("Q", status == "covered", f"Lead {HOSTILE} [1]", [idea], [cite], status=status)


@pytest.mark.parametrize("status", ["covered", "partial"])
def test_text_from_documents_stays_inert_when_a_client_renders_markdown(status: str) -> None:
    from markdown_it import MarkdownIt

    text = render_chat(hostile_answer(status))
    html = MarkdownIt("commonmark").render(text)
    assert "<script" not in html and "<img" not in html and 'src="' not in html and 'href="javascript' not in html
    assert '<a href="https://ok.example/a%20b">' in html  # the source link itself stays a link
    assert "[1]" in text and (PARTIAL_NOTE in text) == (status == "partial")
