"""An answer as Markdown (export, REST, LLM drafts) or as plain text (the terminal), with its sources."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from .models import Answer

PARTIAL_NOTE = "Partly covered: the sources cover this subject, but not the detail asked for."
EDITORIAL_NOTE = "askpanel's own reading aid, not a fact from a source"


def render_markdown(answer: Answer) -> str:
    """The answer as Markdown; text from documents is escaped so it can never become a link or markup."""
    return _render(answer, _escape, _autolink)


def render_text(answer: Answer) -> str:
    """The same answer for a terminal: the same layout, and the text exactly as the sources give it."""
    return _render(answer, lambda text: text, lambda url: f" {url}" if url else "")


def _render(answer: Answer, e: Callable[[str], str], link: Callable[[str], str]) -> str:
    lines = [f"**Q: {e(answer.question)}**", ""]
    if answer.status == "partial":
        lines += [f"*{PARTIAL_NOTE}*", ""]
    lines += [e(answer.lead), ""]
    if answer.status == "not_covered":
        if answer.nearest:
            lines.append("Nearest material in the corpus:")
            lines.extend(f"- {e(title)}" for title in answer.nearest)
        return "\n".join(lines).strip() + "\n"
    if answer.support:
        lines.append("What else the sources say:" if answer.status == "partial" else "From the sources:")
        lines.extend(f"- {e(point)}" for point in answer.support)
        lines.append("")
    if answer.ideas:
        lines.append("### Ideas to adapt, not recipes to follow")
    for i, idea in enumerate(answer.ideas, 1):
        where = f" ({e(idea.place)})" if idea.place and idea.place != "England" else ""
        lines += ["", f"#### {i}. {e(idea.title)}{where}", ""]
        lines.extend(f"- {e(point)}" for point in idea.points)
        if idea.conditions:
            lines += ["", "*What made it work there:*"]
            lines.extend(f"- {e(c)}" for c in idea.conditions)
        if idea.adapt:
            lines += ["", "*Questions to ask before borrowing it:*"]
            lines.extend(f"- {e(q)}" for q in idea.adapt)
    lines += ["", "### Sources", ""]
    for c in answer.citations:
        where = ", ".join(x for x in (c.section, f"p. {c.page}" if c.page else "") if x)
        pages = "".join(link(url) for url in (c.urls or [c.url]))
        note = f" ({EDITORIAL_NOTE})" if c.editorial else ""
        lines.append(f"[{c.n}] {e(c.title)}{' — ' + e(where) if where else ''}: “{e(c.quote)}”{note}{pages}")
    return "\n".join(lines).strip() + "\n"


def _autolink(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        return ""
    return f" <{quote(url, safe=':/?#[]@!$&()*+,;=%~')}>"  # a '>', quote or space could end the autolink


_MARKER_ONLY = re.compile(r"\\\[(\d{1,3})\\\](?!\()")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_TAG_START = re.compile(r"[<>]")
_LINE_START = re.compile(r"^(\s*)([#>+=|-])", re.M)


def _escape(text: str) -> str:
    """Backslash-escape only what Markdown would turn into markup: angle brackets, entities, link brackets and a leading
    '#' or '>'. "A&E" stays "A&E"; only [n] citation markers keep their brackets."""
    escaped = text.replace("\\", "\\\\")
    escaped = _TAG_START.sub(lambda m: "\\" + m.group(0), escaped)
    escaped = _ENTITY.sub(r"\\&", escaped)
    escaped = escaped.replace("[", "\\[").replace("]", "\\]")
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return _MARKER_ONLY.sub(r"[\1]", escaped)
