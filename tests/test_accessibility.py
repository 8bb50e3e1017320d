"""Accessibility in a real browser: no serious or critical axe-core violation (WCAG 2.2 AA) on any tab, at desktop
and phone widths; each new answer announced once, alone; the whole flow driven by the keyboard alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browserutil import ask, open_page, require_browser
from webutil import running

from askpanel import Assistant

pytestmark = [pytest.mark.browser, pytest.mark.slow]

require_browser()  # at import, before any fixture ingests anything

# WCAG 2.0, 2.1 and 2.2 at levels A and AA, plus axe's best practices (reported; only serious and critical fail).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
BLOCKING = ("critical", "serious")
# Every Gradio progress overlay hidden and faded out (they fade over 0.1 s, and dim what is under them meanwhile).
IDLE = """() => [...document.querySelectorAll('[data-testid="status-tracker"]')]
  .every((e) => e.classList.contains('hide') && getComputedStyle(e).opacity === '0')"""
ANSWERED = "What did Melton build after the fire?"
REFUSED = "What is the capital of France?"


@pytest.fixture(scope="module")
def admin_server(corpus_home: Path) -> Any:
    """The app with uploads on, so the "Add a case study" form is on screen. Nothing is uploaded."""
    with running(Assistant(home=corpus_home, admin_password="not-used-here")) as url:
        yield url


@dataclass
class Audit:
    """axe-core run over one page in several states; every violation kept with where it was found."""

    found: list[tuple[str, str, str, str, list[str]]] = field(default_factory=list)

    def scan(self, page: Any, where: str) -> None:
        """Scan the page as a reader sees it once the last event has finished (Gradio dims an output while
        its event runs)."""
        from axe_playwright_python.sync_playwright import Axe

        page.wait_for_function(IDLE)

        options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
        for v in Axe().run(page, options=options).response["violations"]:
            targets = [" ".join(map(str, node["target"])) for node in v["nodes"]]
            why = " ".join((v["nodes"][0].get("failureSummary") or "").split()) if v["nodes"] else ""
            self.found.append((where, v["impact"] or "minor", v["id"], f"{v['help']}; {why}", targets))

    def by_impact(self) -> dict[str, int]:
        return dict(Counter(impact for _, impact, *_ in self.found))

    def report(self, impacts: tuple[str, ...] = ("critical", "serious", "moderate", "minor")) -> str:
        lines = [
            f"{where}: {impact} {rule} ({help_}) at {', '.join(targets[:5])}"
            for where, impact, rule, help_, targets in self.found
            if impact in impacts
        ]
        return "\n".join(lines) or "no violations"


def open_tab(page: Any, name: str) -> None:
    """Select a tab; on a narrow screen Gradio moves the last tabs into a "More tabs" menu."""
    tab = page.get_by_role("tab", name=name)
    if tab.count():
        tab.click()
    else:
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.get_by_role("tab", name=name, selected=True).wait_for()


def choose(page: Any, label: str, nth: int) -> None:
    page.get_by_label(label).click()
    for _ in range(nth):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")


# Gradio follows the system's dark mode, so the colours are checked in it too (once: it is the same page).
@pytest.mark.parametrize(("width", "scheme"), [(1366, "light"), (390, "light"), (390, "dark")])
def test_no_serious_axe_violations_on_any_tab(browser: Any, admin_server: str, width: int, scheme: str) -> None:
    page = open_page(browser, admin_server, width=width, color_scheme=scheme)
    audit = Audit()
    audit.scan(page, "Ask, before any question")

    ask(page, ANSWERED)
    ask(page, REFUSED)
    refusal = page.locator(".ap-turn").nth(1)
    assert refusal.locator(".ap-card").count() == 0 and refusal.locator(".ap-nearest li").count() >= 1
    audit.scan(page, "Ask, an answer and a refusal")

    page.locator(".ap-turn").first.locator(".ap-lead .ap-cite").first.click()
    page.locator(".ap-pop:popover-open").wait_for()
    audit.scan(page, "Ask, a passage open")
    page.keyboard.press("Escape")

    page.locator("#ap-new").click()
    page.locator(".ap-past-title").first.wait_for()
    audit.scan(page, "Ask, a past conversation listed")

    open_tab(page, "Compare")
    choose(page, "First case study", 1)
    choose(page, "Second case study", 2)
    page.get_by_role("button", name="Compare side by side").click()
    page.locator(".ap-col .ap-card").first.wait_for()
    audit.scan(page, "Compare, two case studies side by side")

    open_tab(page, "Corpus")
    page.locator(".ap-region").first.wait_for()
    audit.scan(page, "Corpus")

    open_tab(page, "Add a case study")
    page.get_by_label("Admin password").wait_for()
    audit.scan(page, "Add a case study, the form")
    page.close()

    print(f"axe-core at {width} px ({scheme}), violations by impact: {audit.by_impact() or 'none'}\n{audit.report()}")
    assert not any(impact in BLOCKING for _, impact, *_ in audit.found), audit.report(BLOCKING)


def test_no_serious_axe_violations_with_uploads_off(browser: Any, server: str) -> None:
    page = open_page(browser, server, width=1366)
    open_tab(page, "Add a case study")
    page.get_by_text("Adding case studies is switched off").wait_for()
    assert page.get_by_label("Admin password").count() == 0  # a form nobody can use is left out
    audit = Audit()
    audit.scan(page, "Add a case study, switched off")
    page.close()
    assert not any(impact in BLOCKING for _, impact, *_ in audit.found), audit.report(BLOCKING)


def test_each_new_answer_is_announced_once_and_alone(browser: Any, server: str) -> None:
    page = open_page(browser, server)
    live = page.locator("#ap-announcer")
    assert live.get_attribute("aria-live") == "polite"
    ask(page, ANSWERED)
    assert live.inner_text().startswith("Answer 1.")
    first_lead = page.locator(".ap-turn .ap-lead").first.inner_text()

    page.evaluate(
        """() => {
        window.__said = [];
        const live = document.getElementById('ap-announcer');
        new MutationObserver(() => window.__said.push(live.textContent))
          .observe(live, {childList: true, characterData: true, subtree: true});
    }"""
    )
    ask(page, "Who were the partners?")
    said = page.evaluate("window.__said")
    assert said[0] == "Searching the report and the case studies."
    assert len(said) == 2 and said[1].startswith("Answer 2."), said
    assert first_lead[:60] not in said[1] and "Melton build after the fire" not in said[1]  # not the transcript again

    # The transcript is replaced whole at each change: neither it nor anything around it may be a live region.
    quiet = page.evaluate(
        """() => {
        const live = (e) => e.getAttribute('aria-live') || ['log', 'status', 'alert'].includes(e.getAttribute('role'));
        const log = document.querySelector('.ap-transcript');
        if ([...log.querySelectorAll('*')].some(live)) return false;
        for (let e = log; e && e.getAttribute; e = e.parentElement) if (live(e)) return false;
        return !document.getElementById('ap-announcer').closest('#ap-transcript');
    }"""
    )
    assert quiet, "a live region inside or around the transcript would read the whole conversation again"
    page.close()


# -- the keyboard alone ---------------------------------------------------------------------------
def focused(page: Any, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector)


def focus_arrives(page: Any, selector: str, timeout_ms: int = 10_000) -> None:
    """Wait for the focus to reach `selector`; fails the test if it has not within `timeout_ms`."""
    page.wait_for_function(
        "s => !!document.activeElement && document.activeElement.matches(s)", arg=selector, timeout=timeout_ms
    )


def tab_to(page: Any, selector: str, backwards: bool = False, limit: int = 400) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches `selector`."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if focused(page, selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def test_the_whole_flow_works_from_the_keyboard_alone(browser: Any, server: str) -> None:
    page = open_page(browser, server)
    box = "#ap-question textarea"

    # Type and ask.
    tab_to(page, box)
    page.keyboard.type(ANSWERED)
    page.keyboard.press("Enter")
    page.locator(".ap-turn .ap-lead").wait_for()
    assert focused(page, box), "the focus stays in the question box, ready for a follow-up"

    # Open a citation and reach its passage; close it, and the focus is back on its [n].
    tab_to(page, ".ap-turn .ap-cite", backwards=True)
    target = page.evaluate("document.activeElement.getAttribute('popovertarget')")
    page.keyboard.press("Enter")
    passage = page.locator(f"#{target}")
    passage.wait_for(state="visible")
    # The browser fires a popover's toggle event a task after showing it, and that event moves the focus.
    focus_arrives(page, f"#{target} .ap-passage")
    assert passage.locator(".ap-passage mark").count() >= 1
    page.keyboard.press("Escape")
    passage.wait_for(state="hidden")
    focus_arrives(page, f'[popovertarget="{target}"]')

    # Bring the answer's sources into the sources panel, and land on them.
    tab_to(page, "button.ap-show")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'ap-sources-h'")
    assert page.locator(".ap-source").count() >= 1

    # A follow-up, then a new conversation: the transcript is clean and the focus is in the question box.
    tab_to(page, box, backwards=True)
    page.keyboard.type("Who were the partners?")
    page.keyboard.press("Enter")
    page.locator(".ap-turn").nth(1).locator(".ap-lead").wait_for()
    tab_to(page, "#ap-new")
    page.keyboard.press("Enter")
    page.locator(".ap-welcome").wait_for()
    focus_arrives(page, box)
    assert page.locator(".ap-turn").count() == 0

    # The conversation just left is in the list; reopen it, and the focus goes to the transcript.
    tab_to(page, "button[data-reopen]")
    page.keyboard.press("Enter")
    page.locator(".ap-turn").nth(1).wait_for()
    page.wait_for_function("() => document.activeElement && document.activeElement.matches('.ap-transcript')")
    page.close()
