"""The web chat as a conversation, in a real browser: turns in order, kept per browser, reopened, exported."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from browserutil import ask, open_page, reload, require_browser
from webutil import running

from askpanel import Assistant
from askpanel.feedback import FeedbackStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_browser()  # at import, before any fixture ingests anything

THREE = ["What did Melton build after the fire?", "Who were the partners?", "What about Margate?"]


def shots_folder(tmp_path: Path) -> Path:
    """Where screenshots go: $ASKPANEL_SCREENSHOTS when set (for the closing note), else the test's tmp folder."""
    folder = Path(os.environ.get("ASKPANEL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def questions(page: Any) -> list[str]:
    return page.locator(".ap-turn .ap-q-text").all_inner_texts()


def past_titles(page: Any) -> list[str]:
    return page.locator(".ap-past-title").all_inner_texts()


def cited_titles(page: Any, turn: int) -> list[str]:
    """The titles of the passages turn `turn`'s [n] markers open, in citation order."""
    heads = page.locator(".ap-turn").nth(turn - 1).locator(".ap-pop .ap-pop-head strong")
    return [re.sub(r"^\[\d+\] ", "", t) for t in heads.all_text_contents()]


def check_turn(page: Any, turn: int) -> None:
    """A lead, and every [n] in the turn opens a passage of that same turn."""
    node = page.locator(".ap-turn").nth(turn - 1)
    assert node.locator(".ap-lead").inner_text().strip()
    for marker in node.locator(".ap-cite").all():
        assert node.locator(f"#{marker.get_attribute('popovertarget')}").count() == 1


def test_three_turns_in_order_survive_a_reload_and_export(browser: Any, server: str, tmp_path: Path) -> None:
    page = open_page(browser, server, width=1366)
    for question in THREE:
        ask(page, question)
    assert questions(page) == THREE
    for turn in (1, 2, 3):
        check_turn(page, turn)
    assert page.locator(".ap-turn").nth(0).locator(".ap-card").count() >= 1

    # The newest turn is scrolled into view inside the transcript; the sources are the latest turn's.
    log = page.locator(".ap-transcript").bounding_box()
    newest = page.locator(".ap-turn").nth(2).bounding_box()
    assert log is not None and newest is not None
    assert log["y"] - 1 <= newest["y"] < log["y"] + log["height"]
    assert page.locator("#ap-sources-h").inner_text() == "Sources of answer 3 of 3"
    latest_sources = page.locator(".ap-source-title").all_inner_texts()
    assert [re.sub(r"^\[\d+\]\s*", "", t) for t in latest_sources] == cited_titles(page, 3)

    shots = shots_folder(tmp_path)
    page.screenshot(path=str(shots / "conversation-1366.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(300)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, "the page scrolls sideways on a phone"
    page.screenshot(path=str(shots / "conversation-390.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})

    # "Show sources" on the first turn shows that turn's sources.
    page.locator(".ap-turn").nth(0).locator("button.ap-show").click()
    page.get_by_role("heading", name="Sources of answer 1 of 3").wait_for()
    shown = [re.sub(r"^\[\d+\]\s*", "", t) for t in page.locator(".ap-source-title").all_inner_texts()]
    assert shown == cited_titles(page, 1)
    assert page.locator(".ap-turn").nth(0).locator("button.ap-show").get_attribute("aria-pressed") == "true"

    # The whole conversation exports as Markdown, each answer with its sources.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download this conversation (Markdown)").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# askpanel conversation")
    at = [markdown.index(f"**Q: {q}**") for q in THREE]
    assert at == sorted(at), "the questions are in the order they were asked"
    for turn in (1, 2, 3):
        section = markdown.split("## Question ")[turn]
        assert "### Sources" in section
        assert all(title in section for title in cited_titles(page, turn))

    # A reload brings the conversation back, in order, and follow-ups carry on from it.
    leads = page.locator(".ap-turn .ap-lead").all_inner_texts()
    reload(page)
    assert questions(page) == THREE
    assert page.locator(".ap-turn .ap-lead").all_inner_texts() == leads
    assert page.locator("#ap-sources-h").inner_text() == "Sources of answer 3 of 3"
    ask(page, "What happened in Oldham?")
    assert questions(page) == [*THREE, "What happened in Oldham?"]
    page.close()


def test_two_browsers_never_see_each_others_conversations(browser: Any, server: str) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        mine = open_page(first, server)
        ask(mine, THREE[0])
        mine.locator("#ap-new").click()
        mine.locator(".ap-past-title").first.wait_for()
        ask(mine, THREE[2])

        theirs = open_page(second, server)
        assert questions(theirs) == [] and past_titles(theirs) == []
        ask(theirs, "How did places get partners to share information about families?")

        reload(mine)
        assert questions(mine) == [THREE[2]] and past_titles(mine) == [THREE[0]]
        reload(theirs)
        assert questions(theirs) == ["How did places get partners to share information about families?"]
        assert past_titles(theirs) == []
    finally:
        first.close()
        second.close()


def test_past_conversations_reopen_and_delete(browser: Any, server: str) -> None:
    page = open_page(browser, server)
    assert "None yet" in page.locator(".ap-past").inner_text()
    ask(page, THREE[0])
    page.locator("#ap-new").click()
    page.locator(".ap-welcome").wait_for()
    assert past_titles(page) == [THREE[0]]
    ask(page, "How can police and health services respond to people in a mental health crisis?")
    page.locator("#ap-new").click()
    page.locator(".ap-past-title").nth(1).wait_for()
    assert past_titles(page) == [
        "How can police and health services respond to people in a mental health crisis?",
        THREE[0],
    ]

    # Reopen the older one and carry on: the follow-up is answered with its history.
    page.get_by_role("button", name=f"Reopen: {THREE[0]}").click()
    page.locator(".ap-turn").first.wait_for()
    assert questions(page) == [THREE[0]]
    assert past_titles(page) == ["How can police and health services respond to people in a mental health crisis?"]
    ask(page, THREE[1])
    assert questions(page) == THREE[:2]
    check_turn(page, 2)

    page.get_by_role("button", name="Delete: How can police").click()
    page.locator(".ap-past").get_by_text("Deleted “How can police").wait_for()
    assert past_titles(page) == []
    reload(page)
    assert questions(page) == THREE[:2] and past_titles(page) == []
    page.close()


def test_feedback_goes_to_the_turn_whose_sources_are_shown(browser: Any, fresh_home: Path) -> None:
    assistant = Assistant(home=fresh_home)
    with running(assistant) as url:
        page = open_page(browser, url)
        ask(page, THREE[0])
        ask(page, THREE[1])
        page.locator(".ap-turn").nth(0).locator("button.ap-show").click()
        page.get_by_role("heading", name="Sources of answer 1 of 2").wait_for()
        page.get_by_label("Add a comment (optional)").fill("the fire story is what we needed")
        page.get_by_role("button", name="No, it did not help").click()
        page.get_by_text("Your feedback on answer 1 is saved").wait_for()
        ask(page, THREE[2])  # a new answer brings feedback back to the latest turn
        page.get_by_role("button", name="Yes, it helped").click()
        page.get_by_text("Your feedback on answer 3 is saved").wait_for()
        page.close()
    first, second = FeedbackStore(assistant.settings.feedback_path).all()
    assert (first.question, first.helpful, first.comment) == (THREE[0], False, "the fire story is what we needed")
    assert (second.question, second.helpful) == (THREE[2], True)
