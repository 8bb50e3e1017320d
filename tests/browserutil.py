"""Shared pieces of the browser tests: Debian's chromium through Playwright, and how to drive the chat page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def missing_browser() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return ""


def require_browser() -> None:
    """Call at import of a browser test module, before any fixture ingests anything: skip the module, or fail it
    when ASKPANEL_REQUIRE_BROWSER=1 says the browser must be there."""
    if missing := missing_browser():
        if os.environ.get("ASKPANEL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ASKPANEL_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
        pytest.skip(missing, allow_module_level=True)


def open_page(browser_or_context: Any, url: str, width: int = 1280, color_scheme: str = "light") -> Any:
    """A new page on the chat once it is ready; from a browser (in a context of its own) or a given context."""
    if hasattr(browser_or_context, "new_context"):
        page = browser_or_context.new_page(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
    else:
        page = browser_or_context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
    page.set_default_timeout(60_000)
    page.goto(url)
    ready(page)
    return page


def ready(page: Any) -> None:
    """Wait until the page has rendered and restored what this browser kept: it then names its conversation."""
    page.locator('.ap-transcript:not([data-conversation="empty"])').wait_for()


def reload(page: Any) -> None:
    page.reload()
    ready(page)


CURRENT_KEY = "askpanel-conversation-v1"  # where the page keeps the open conversation in localStorage


def ask(page: Any, question: str) -> None:
    """Type a question, press Enter, and wait until its answer is on the page and saved in the browser."""
    turns = page.locator(".ap-turn")
    before = turns.count()
    kept = page.evaluate("key => localStorage.getItem(key)", CURRENT_KEY)
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")  # the keyboard alone is enough to ask
    turns.nth(before).locator(".ap-lead").wait_for()
    page.wait_for_function("([key, was]) => localStorage.getItem(key) !== was", arg=[CURRENT_KEY, kept])
