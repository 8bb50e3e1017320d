"""The web chat in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browserutil import ask, open_page, require_browser
from webutil import running

from askpanel import Assistant

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "How did places get partners to share information about families?"
XSS_DOC = """---
title: "Glimmerford beacon <script>window.__xss = 1</script> <img src=x onerror=\\"window.__xss = 2\\">"
doc_type: case_study
place: "Glimmerford <img src=x onerror=window.__xss=3>"
region: "Nowhere <script>window.__xss = 4</script>"
themes: [safety]
year: 2020
sources:
  - "javascript:window.__xss = 5"
---
## What they did
Glimmerford council lit a beacon on the hill so volunteers could find the night shelter.
<script>window.__xss = 6</script> The beacon keepers wrote <img src=x onerror="window.__xss = 7">
in their logbook and read [the guide](javascript:window.__xss=8).

## What happened
The Glimmerford beacon guided 45 volunteers to the night shelter in its first winter <b onmouseover="window.__xss=9">.
"""


require_browser()  # at import, before any fixture ingests anything


def distinct_colours(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1_000_000) or [])


def test_answer_view_shows_lead_ideas_sources_and_passages(browser: Any, server: str, tmp_path: Path) -> None:
    page = open_page(browser, server)
    page.get_by_text("Example questions").wait_for()  # shown on first load
    ask(page, QUESTION)
    assert page.locator(".ap-lead").first.inner_text().strip()
    assert page.locator(".ap-card").count() >= 2
    assert page.locator(".ap-source").count() >= 2
    assert page.locator(".ap-cite").first.is_visible()

    marker = page.locator(".ap-lead .ap-cite").first
    passage = page.locator(f"#{marker.get_attribute('popovertarget')}")
    assert not passage.is_visible()
    marker.click()
    passage.wait_for(state="visible")
    assert passage.locator("mark").count() >= 1  # the quoted sentences, highlighted in the whole passage
    shot = tmp_path / "answer-with-passage.png"
    page.screenshot(path=str(shot), full_page=True)
    page.keyboard.press("Escape")
    passage.wait_for(state="hidden")

    shot = tmp_path / "answer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert distinct_colours(shot) > 50, "the screenshot looks blank"
    page.close()


def test_answer_view_reads_at_phone_width(browser: Any, server: str, tmp_path: Path) -> None:
    page = open_page(browser, server, width=390)
    ask(page, QUESTION)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, "the page scrolls sideways on a phone"
    page.locator(".ap-cite").first.click()
    box = page.locator(".ap-pop:popover-open").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    page.close()


def test_not_covered_lists_nearest_documents_to_follow_up(browser: Any, server: str) -> None:
    page = open_page(browser, server)
    ask(page, "What is the airspeed velocity of an unladen swallow?")
    assert "does not cover" in page.locator(".ap-lead").first.inner_text()
    nearest = page.get_by_text("Ask about one of the nearest documents")
    nearest.wait_for()
    page.locator(".ap-nearest li").first.wait_for()
    title = page.locator(".ap-nearest li").first.inner_text()
    page.get_by_role("button", name=title[:40]).first.click()  # the follow-up asks about that document
    page.locator(".ap-turn").nth(1).locator(".ap-lead").first.wait_for()
    assert "What does" in page.locator(".ap-turn .ap-q").nth(1).inner_text()
    page.close()


def test_xss_documents_render_as_text(browser: Any, fresh_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "hostile" / "glimmerford.md"
    source.parent.mkdir()
    source.write_text(XSS_DOC, encoding="utf-8")
    assistant = Assistant(home=fresh_home)
    assert assistant.ingest([source]).ok
    with running(assistant) as url:
        page = open_page(browser, url)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        ask(page, "How did the Glimmerford beacon guide volunteers? <img src=x onerror=window.__xss=10>")
        assert "Glimmerford" in page.locator(".ap-a").first.inner_text()
        page.locator(".ap-cite").first.click()
        page.locator(".ap-pop:popover-open").wait_for()
        page.keyboard.press("Escape")
        page.get_by_role("tab", name="Corpus").click()
        page.get_by_text("Case studies by region").wait_for()
        page.get_by_role("tab", name="Ask").click()

        text = page.locator("body").inner_text()
        assert "<script>window.__xss = 1</script>" in text  # shown as text
        assert "<img src=x onerror=window.__xss=10>" in text  # the question too
        assert page.evaluate("window.__xss") is None, "a script from a document ran"
        assert not dialogs
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("[onerror], [onmouseover]").count() == 0
        assert page.locator("a[href^='javascript' i]").count() == 0
        page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
        page.close()
