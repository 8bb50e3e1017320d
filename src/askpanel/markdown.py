"""An answer as text: a Markdown document (export, REST), one chat message (OpenAI API, MCP), or a terminal page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from .models import Answer, Citation

PARTIAL_NOTE = "Partly covered: the sources cover this subject, but not the detail asked for."
NEAREST_HEADING = "Nearest material in the corpus:"
SUPPORT_HEADING = "From the sources:"
PARTIAL_SUPPORT_HEADING = "What the sources do say:"
IDEAS_HEADING = "Ideas to adapt, not recipes to follow:"
SOURCES_HEADING = "Sources:"
EDITORIAL_NOTE = "askpanel's own reading aid, not a fact from a source"


@dataclass(frozen=True)
class _Style:
    escape: Callable[[str], str]
    link: Callable[[str], str]
    question: bool  # head the text with the question (a document), or not (a reply in a chat)
    heading: Callable[[str], str]
    source_prefix: str = ""  # a chat lists its sources as list items


def render_markdown(answer: Answer) -> str:
    """The answer as a Markdown document headed by its question; text from documents is escaped so it can never
    become a link or markup."""
    return _render(answer, _DOCUMENT)


def render_chat(answer: Answer) -> str:
    """The answer as one chat message, for clients that render Markdown (Open WebUI, Claude Desktop)."""
    return _render(answer, _CHAT)


def render_text(answer: Answer) -> str:
    """The answer for a terminal: the same layout, and the text exactly as the sources give it."""
    return _render(answer, _TERMINAL)


def _render(answer: Answer, style: _Style) -> str:
    e = style.escape
    lines = [f"**Q: {e(answer.question)}**", ""] if style.question else []
    if answer.status == "partial":
        lines += [f"*{PARTIAL_NOTE}*", ""]
    lines += [e(answer.lead), ""]
    if answer.status == "not_covered":
        if answer.nearest:
            lines.append(NEAREST_HEADING)
            lines.extend(f"- {e(title)}" for title in answer.nearest)
        return "\n".join(lines).strip() + "\n"
    if answer.support:
        lines.append(PARTIAL_SUPPORT_HEADING if answer.status == "partial" else SUPPORT_HEADING)
        lines.extend(f"- {e(point)}" for point in answer.support)
        lines.append("")
    if answer.ideas:
        lines.append(style.heading(IDEAS_HEADING))
    for i, idea in enumerate(answer.ideas, 1):
        where = f" ({e(idea.place)})" if idea.place and idea.place != "England" else ""
        lines += ["", f"**{i}. {e(idea.title)}**{where}", ""]
        lines.extend(f"- {e(point)}" for point in idea.points)
        if idea.conditions:
            lines += ["", "*What made it work there:*"]
            lines.extend(f"- {e(c)}" for c in idea.conditions)
        if idea.adapt:
            lines += ["", "*Questions to ask before borrowing it:*"]
            lines.extend(f"- {e(q)}" for q in idea.adapt)
    if answer.citations:
        lines += ["", style.heading(SOURCES_HEADING)] + ([] if style.source_prefix else [""])
        lines.extend(style.source_prefix + source_line(c, style) for c in answer.citations)
    return "\n".join(lines).strip() + "\n"


def source_line(cite: Citation, style: _Style | None = None) -> str:
    """'[n] Title — section, p. 4: “quote” <url>': where the passage behind [n] is, what it says, its pages."""
    style = style or _CHAT
    e = style.escape
    where = ", ".join(x for x in (cite.section, f"p. {cite.page}" if cite.page else "") if x)
    pages = "".join(style.link(url) for url in (cite.urls or [cite.url]))
    note = f" ({EDITORIAL_NOTE})" if cite.editorial else ""
    return f"[{cite.n}] {e(cite.title)}{' — ' + e(where) if where else ''}: “{e(cite.quote)}”{note}{pages}"


def _autolink(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        return ""
    return f" <{quote(url, safe=':/?#[]@!$&()*+,;=%~')}>"  # a '>', quote or space could end the autolink


_MARKER_ONLY = re.compile(r"\\\[(\d{1,3})\\\](?!\()")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_ANGLE = re.compile(r"[<>]")
_LINE_START = re.compile(r"^(\s*)([#>+=|-])", re.M)


def _escape(text: str) -> str:
    """Backslash-escape only what Markdown would turn into markup: angle brackets, entities, link brackets and a
    leading '#' or '>'. "A&E" stays "A&E"; only [n] citation markers keep their brackets."""
    escaped = text.replace("\\", "\\\\")
    escaped = _ANGLE.sub(lambda m: "\\" + m.group(0), escaped)
    escaped = _ENTITY.sub(r"\\&", escaped)
    escaped = escaped.replace("[", "\\[").replace("]", "\\]")
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return _MARKER_ONLY.sub(r"[\1]", escaped)


def _plain(text: str) -> str:
    return text


_DOCUMENT = _Style(_escape, _autolink, question=True, heading=lambda h: f"### {h.rstrip(':')}")
_CHAT = _Style(_escape, _autolink, question=False, heading=lambda h: h, source_prefix="- ")
_TERMINAL = _Style(_plain, lambda url: f" {url}" if url else "", question=True, heading=lambda h: h)
