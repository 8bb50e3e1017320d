"""The web chat and REST API against a real uvicorn server: REST with httpx, the chat with gradio_client."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from webutil import running

from askpanel import Answer, Assistant, Citation, Idea
from askpanel.conversation import Conversation, Turn, conversation_markdown, file_away, read_past, without
from askpanel.feedback import FeedbackStore
from askpanel.render import esc, render_answer, render_past, render_sources, render_transcript, safe_url
from askpanel.uploads import UploadError, check_file, clean_themes, content_kind

GOOD_QUESTION = "How did places get partners to share information about families?"
LANTERN_DOC = """# Zorbaton lantern library

Zorbaton District Council set up a lantern library so that residents without power could borrow solar lanterns
from the parish hall. Volunteers from the parish council ran the lending desk every Saturday morning.

## What happened

In its first winter the Zorbaton lantern library lent 340 solar lanterns to 120 households, and calls to the
council's emergency line during power cuts fell by a quarter.
"""
LANTERN_QUESTION = "How did Zorbaton lend solar lanterns to residents during power cuts?"


def client_for(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def ask_ui(client: Any, question: str, place_context: str = "") -> tuple[str, str, dict[str, Any]]:
    """Ask through the chat's own event; return the transcript HTML, the sources HTML and the answer JSON."""
    transcript, sources, _question, _followups, _export, answer = client.predict(
        question, [], [], [], place_context, api_name="/ask"
    )
    return transcript, sources, answer


# -- REST -----------------------------------------------------------------------------------------
def test_openapi_schema_describes_the_endpoints(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/api/health"} <= set(schema["paths"])
    answer = schema["components"]["schemas"]["Answer"]
    assert {"question", "covered", "lead", "ideas", "citations"} <= set(answer["properties"])
    assert "AskRequest" in schema["components"]["schemas"]


def test_rest_good_question(api: httpx.Client) -> None:
    response = api.post("/api/ask", json={"question": GOOD_QUESTION, "place_context": "a rural district"})
    assert response.status_code == 200
    body = response.json()
    assert body["covered"] and body["ideas"] and body["citations"]
    numbers = {c["n"] for c in body["citations"]}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", body["lead"])} <= numbers
    assert all(c["passage"] and c["quote"] for c in body["citations"])


def test_rest_filters_apply(api: httpx.Client) -> None:
    body = api.post("/api/ask", json={"question": GOOD_QUESTION, "filters": {"doc_type": ["case_study"]}}).json()
    assert body["citations"] and {c["doc_type"] for c in body["citations"]} == {"case_study"}


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"question": ""}, 422, "question is empty"),
        ({"question": "   \t "}, 422, "question is empty"),
        ({"question": "x" * 100_000}, 422, "at most 2000 characters"),
        ({"question": GOOD_QUESTION, "filters": {"colour": "red"}}, 422, "unknown filter 'colour'"),
        ({"question": GOOD_QUESTION, "filters": {"year": "last year"}}, 422, "year"),
        ({"question": GOOD_QUESTION, "bogus": 1}, 422, "bogus"),
        ({}, 422, "question: Field required"),
        ([GOOD_QUESTION], 400, "must be a JSON object"),
    ],
)
def test_rest_bad_requests_get_clear_json_errors(api: httpx.Client, payload: Any, status: int, message: str) -> None:
    response = api.post("/api/ask", json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert len(response.content) < 5_000  # a huge question is never echoed back


def test_rest_invalid_json(api: httpx.Client) -> None:
    response = api.post("/api/ask", content=b'{"question": "unterminated', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "the request body is not valid JSON"


def test_rest_unknown_paths_and_methods(api: httpx.Client) -> None:
    missing = api.get("/api/nothing-here")
    assert missing.status_code == 404 and "no such endpoint" in missing.json()["error"]
    wrong_method = api.get("/api/ask")
    assert wrong_method.status_code == 405 and "use POST" in wrong_method.json()["error"]


def test_rest_documents_and_health(api: httpx.Client, assistant: Assistant) -> None:
    documents = api.get("/api/documents").json()
    assert len(documents) == len(assistant.documents())
    assert all("path" not in d for d in documents)  # no server paths leak
    assert {d["doc_type"] for d in documents} == {"report", "case_study", "context"}
    health = api.get("/api/health").json()  # also shows that the bad requests above crashed nothing
    assert health["status"] == "ok" and health["documents"] == len(documents)


def test_login_guards_rest_and_chat(corpus_home: Path) -> None:
    guarded = Assistant(home=corpus_home, auth="officer:s3cret")
    with running(guarded) as url:
        assert httpx.get(f"{url}/api/documents").status_code == 401
        assert httpx.get(f"{url}/api/documents", auth=("officer", "wrong")).status_code == 401
        assert httpx.get(f"{url}/api/documents", auth=("officer", "s3cret")).status_code == 200
        assert httpx.get(f"{url}/api/health").status_code == 200  # open for monitors
        assert httpx.get(f"{url}/config").status_code == 401  # the chat's config needs a login


def test_malformed_auth_setting_refuses_to_start(corpus_home: Path) -> None:
    from askpanel.web import build_app

    with pytest.raises(ValueError, match="user:password"):
        build_app(Assistant(home=corpus_home, auth="no-colon"))


# -- the chat, through gradio_client ------------------------------------------------------------
def test_chat_answers_with_ideas_and_citations(server: str) -> None:
    client = client_for(server)
    transcript, sources, answer = ask_ui(client, GOOD_QUESTION)
    assert answer["covered"] and answer["ideas"] and answer["citations"]
    assert transcript.count('class="ap-card"') == len(answer["ideas"])
    assert 'class="ap-cite"' in transcript and "popover" in transcript
    assert sources.count('class="ap-source"') == len(answer["citations"])
    # A follow-up in the same session carries the first question as history.
    transcript, _, follow_up = ask_ui(client, "What happened in Leeds?")
    assert follow_up["covered"] and transcript.count('class="ap-turn"') == 2
    # The filters in the page narrow the search.
    *_, reports_only = client.predict(GOOD_QUESTION, ["report"], [], [], "", api_name="/ask")
    assert reports_only["citations"] and {c["doc_type"] for c in reports_only["citations"]} == {"report"}


def test_chat_not_covered_offers_nearest_documents(server: str) -> None:
    transcript, _sources, _question, followups, _export, answer = client_for(server).predict(
        "What is the airspeed velocity of an unladen swallow?", [], [], [], "", api_name="/ask"
    )
    assert not answer["covered"] and answer["nearest"]
    assert "does not cover" in transcript
    assert followups["visible"] and [s[0] for s in followups["samples"]] == answer["nearest"]


def test_chat_compare_puts_two_case_studies_side_by_side(server: str, assistant: Assistant) -> None:
    cases = [r for r in assistant.documents() if r.doc_type == "case_study"][:2]
    html = client_for(server).predict(cases[0].doc_id, cases[1].doc_id, "", "", api_name="/compare")
    assert html.count('class="ap-col"') == 2
    assert all(f"<h3>{r.title}" in html.replace("&#x27;", "'") for r in cases)


def test_upload_is_off_without_an_admin_password(server: str, assistant: Assistant, tmp_path: Path) -> None:
    from gradio_client import handle_file

    before = len(assistant.documents())
    file = tmp_path / "lanterns.md"
    file.write_text(LANTERN_DOC, encoding="utf-8")
    status = client_for(server).predict(
        handle_file(str(file)), "Lanterns", "Zorbaton", "", [], "guess", api_name="/add_case_study"
    )
    assert "switched off" in status
    assert len(assistant.documents()) == before


def test_admin_upload_appears_in_the_next_answer(fresh_home: Path, tmp_path: Path) -> None:
    from gradio_client import handle_file

    assistant = Assistant(home=fresh_home, admin_password="x")
    before = len(assistant.documents())
    good = tmp_path / "lanterns.md"
    good.write_text(LANTERN_DOC, encoding="utf-8")
    fake_pdf = tmp_path / "report.pdf"
    fake_pdf.write_text("not really a PDF", encoding="utf-8")
    with running(assistant) as url:
        client = client_for(url)

        def upload(path: Path, password: str) -> str:
            args = (handle_file(str(path)), "Zorbaton lantern library", "Zorbaton", "South West", ["assets"], password)
            return client.predict(*args, api_name="/add_case_study")

        assert "password is wrong" in upload(good, "nope")
        assert "content is not a PDF" in upload(fake_pdf, "x")
        assert len(assistant.documents()) == before
        status = upload(good, "x")
        assert "Added" in status, status
        _, sources, answer = ask_ui(client, LANTERN_QUESTION)
        assert answer["covered"]
        assert answer["ideas"][0]["title"] == "Zorbaton lantern library"
        assert "Zorbaton lantern library" in sources
        documents = httpx.get(f"{url}/api/documents").json()
    stored = [p for p in (fresh_home / "uploads").iterdir() if not p.name.endswith(".meta.yaml")]
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{32}\.md", stored[0].name)  # a generated name
    assert len(documents) == before + 1
    added = next(d for d in documents if d["title"] == "Zorbaton lantern library")
    assert (added["doc_type"], added["place"], added["themes"]) == ("case_study", "Zorbaton", ["assets"])


def test_feedback_and_export(fresh_home: Path) -> None:
    assistant = Assistant(home=fresh_home)
    with running(assistant) as url:
        client = client_for(url)
        status, _ = client.predict("thanks", api_name="/helpful")
        assert "Ask a question first" in status
        _transcript, _sources, _question, _followups, export, answer = client.predict(
            GOOD_QUESTION, [], [], [], "", api_name="/ask"
        )
        status, comment = client.predict("useful for our board paper", api_name="/not_helpful")
        assert export["visible"]
        markdown = httpx.get(export["value"]["url"]).text
    assert markdown.startswith("# askpanel conversation") and f"**Q: {GOOD_QUESTION}**" in markdown
    assert "### Sources" in markdown
    assert "saved" in status and comment == ""
    [entry] = FeedbackStore(assistant.settings.feedback_path).all()
    assert not entry.helpful and entry.comment == "useful for our board paper"
    assert entry.question == GOOD_QUESTION
    assert entry.chunk_ids == [c["chunk_id"] for c in answer["citations"]]


# -- rendering, uploads and feedback without a server ---------------------------------------------
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def xss_answer() -> Answer:
    cite = Citation(1, "c1", "d1", f"Title {XSS}", "case_study", XSS, XSS, "3", "javascript:alert(1)", XSS, 0.9, XSS)
    idea = Idea(f"Idea {XSS}", XSS, "case_study", [f"{XSS} [1]", f"What happened: {XSS} [1]"], [XSS], [1], "d1", [XSS])
    return Answer(f"Q {XSS}", True, f"Lead {XSS} [1] [7]", [idea], [cite], warnings=[XSS])


def test_render_escapes_everything_from_the_corpus_and_the_question() -> None:
    answer = xss_answer()
    turn = Turn(answer, {"place": [XSS]}, XSS)
    conversation = Conversation(turns=[turn])
    page = (
        render_transcript(conversation, announce=(XSS, XSS))
        + render_sources(turn, 1, 1)
        + render_answer(answer, "t9")
        + render_past([conversation], message=XSS)
    )
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "onerror=&quot;" in page
    assert 'href="javascript' not in page and "Source: javascript:alert(1)" in page  # shown as text only
    assert 'popovertarget="t9-c1"' in page and "[7]" in page  # known markers become buttons, unknown stay text


def test_safe_url_allows_only_http() -> None:
    assert safe_url("https://example.org/a") == "https://example.org/a"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "//evil", "http:/x", ""):
        assert safe_url(bad) == ""


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("a.md", b"# Hello\n", None),
        ("a.PDF", b"%PDF-1.7\n...", None),
        ("a.docx", docx_bytes(), None),
        ("a.pdf", b"hello", "not a PDF"),
        ("a.docx", b"PK\x03\x04broken", "not a Word"),
        ("a.txt", b"%PDF-1.7\n\x00\x01", "not UTF-8 text"),
        ("a.html", "caf\xe9".encode("latin-1"), "not UTF-8 text"),
        ("a.exe", b"MZ", "cannot be added"),
        ("noext", b"text", "cannot be added"),
        ("a.md", b"", "empty"),
        ("a.md", b"x" * 2_000_001, "limit is 2 MB"),
    ],
)
def test_upload_checks_type_by_content_and_size(tmp_path: Path, name: str, data: bytes, error: str | None) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    if error is None:
        assert check_file(path, name, max_mb=2)[1] == Path(name).suffix.lower()
    else:
        with pytest.raises(UploadError, match=error):
            check_file(path, name, max_mb=2)


def test_content_kind_and_themes() -> None:
    assert content_kind(docx_bytes()) == "docx"
    assert clean_themes("Co-location, information sharing,, co-location") == ["co-location", "information-sharing"]
    with pytest.raises(UploadError):
        clean_themes([f"t{i}" for i in range(20)])


def test_feedback_store_round_trip(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "sub" / "feedback.sqlite3")
    first = store.add(xss_answer(), helpful=True, comment="  good  ")
    second = store.add(xss_answer(), helpful=False, comment="x" * 5000)
    entries = store.all()
    assert [e.id for e in entries] == [first, second]
    assert entries[0].helpful and entries[0].comment == "good" and entries[0].chunk_ids == ["c1"]
    assert len(entries[1].comment) == 2000


# -- conversations kept in the browser, without a server -------------------------------------------
def test_a_conversation_survives_its_browser_form(assistant: Assistant) -> None:
    import json

    from askpanel.compose import render_markdown

    first = assistant.ask("What did Melton build after the fire?")
    second = assistant.ask("Who were the partners?", history=[first.question], filters={"place": "Melton"})
    conversation = Conversation(turns=[Turn(first), Turn(second, {"place": ["Melton"]}, "a rural district")])
    kept = json.loads(json.dumps(conversation.to_dict()))  # what localStorage holds
    assert all("markdown" not in t["answer"] and "timings_ms" not in t["answer"] for t in kept["turns"])
    back = Conversation.from_dict(kept)
    assert back is not None and (back.id, back.started) == (conversation.id, conversation.started)
    assert back.history() == [first.question, second.question]
    for was, now in zip(conversation.turns, back.turns, strict=True):
        assert (now.filters, now.place_context) == (was.filters, was.place_context)
        drop = {"markdown", "timings_ms"}
        assert {k: v for k, v in now.answer.to_dict().items() if k not in drop} == {
            k: v for k, v in was.answer.to_dict().items() if k not in drop
        }
        assert render_markdown(now.answer) == was.answer.markdown  # the export rebuilds what was left out
    assert back.turns[1].settings_line() == "Places: Melton · Your place: a rural district"
    markdown = conversation_markdown(back)
    assert markdown.index(f"**Q: {first.question}**") < markdown.index(f"**Q: {second.question}**")
    assert markdown.count("### Sources") == 2 and "*Places: Melton · Your place: a rural district*" in markdown


def test_answer_from_dict_ignores_unknown_keys_and_fills_defaults() -> None:
    data = xss_answer().to_dict()
    data["from_a_newer_version"] = 1
    data["citations"][0]["also_new"] = True
    del data["warnings"], data["status"]
    answer = Answer.from_dict(data)
    assert answer.warnings == [] and answer.status == "covered" and answer.citations[0].title.startswith("Title")
    with pytest.raises(TypeError):
        Answer.from_dict({"question": "q"})


@pytest.mark.parametrize(
    "kept", [None, "x", [], {}, {"turns": "x"}, {"turns": [5, {"answer": {"question": 1}}, {"answer": "x"}]}]
)
def test_whatever_the_browser_holds_reads_safely(kept: Any) -> None:
    conversation = Conversation.from_dict(kept)
    assert conversation is None or conversation.turns == []
    assert read_past([kept, kept]) == []


def test_a_stored_conversation_keeps_its_good_turns_and_a_safe_id() -> None:
    good = Turn(xss_answer()).to_dict()
    idea = {"title": "t", "place": "", "doc_type": "", "points": 5, "adapt": [], "citations": []}
    bad = {"answer": {**good["answer"], "ideas": [idea]}}  # reads as an Idea, but could not be shown
    conversation = Conversation.from_dict({"id": '"><script>', "started": 7, "turns": [bad, good]})
    assert conversation is not None and len(conversation.turns) == 1
    assert conversation.id.isalnum() and conversation.started_label()


def test_conversations_stay_within_their_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    from askpanel import conversation as conv

    conversation = Conversation()
    for i in range(conv.MAX_TURNS + 3):
        conversation = conversation.with_turn(Turn(Answer(f"q{i}", False, "lead", [], [])))
    assert len(conversation.turns) == conv.MAX_TURNS and conversation.turns[0].answer.question == "q3"

    def one(title: str) -> Conversation:
        return Conversation(turns=[Turn(Answer(title, False, "lead " * 50, [], []))])

    past: list[Conversation] = []
    for i in range(conv.MAX_PAST + 2):
        past = file_away(past, one(f"c{i}"))
    assert len(past) == conv.MAX_PAST and past[0].title == f"c{conv.MAX_PAST + 1}"  # newest first
    assert file_away(past, Conversation()) == past  # an empty conversation is not kept
    again = file_away(past, past[3])
    assert again[0].id == past[3].id and len(again) == len(past)  # filed again, not twice
    monkeypatch.setattr(conv, "PAST_BUDGET_CHARS", 3_000)
    assert 1 <= len(file_away(past, one("big"))) < conv.MAX_PAST  # the oldest make room
    assert without(past, past[0].id) == past[1:]


def test_a_look_up_shows_the_points_that_back_its_lead(assistant: Assistant) -> None:
    """The chat shows what the Markdown export and the API show: the lead, then the points that support it,
    each with markers that open its passages."""
    answer = assistant.ask("How many families were in Staffordshire's first phase?")
    assert answer.support and not answer.ideas
    html = render_answer(answer, "t1")
    assert html.index('class="ap-lead"') < html.index("From the sources:") < html.index('class="ap-support"')
    for point in answer.support:
        assert esc(re.sub(r"\s*\[\d+\]", "", point).split(". ")[0]) in html
    assert html.count('class="ap-cite"') >= len(answer.support)

    partial = xss_answer()
    partial.status, partial.covered, partial.support = "partial", False, [f"{XSS} [1]"]
    html = render_answer(partial, "t2")
    assert "What the sources do say:" in html and "<script" not in html and 'popovertarget="t2-c1"' in html


def test_partial_answers_are_labelled_before_the_lead() -> None:
    answer = xss_answer()
    answer.status, answer.covered = "partial", False
    html = render_answer(answer, "t1")
    assert html.index("Partly answered") < html.index('class="ap-lead"')
    assert "not the detail you asked for" in html
    assert "Partly answered" not in render_answer(xss_answer(), "t1")
