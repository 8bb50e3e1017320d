"""An answer as chat text: the lead, the ideas and a numbered Sources list, for clients that show one message."""

from __future__ import annotations

import re
from urllib.parse import quote

from .models import Answer, Citation

PARTIAL_NOTE = "This is a partial answer: the sources cover the subject, but not every detail asked for."
NEAREST_HEADING = "Nearest material in the corpus:"
IDEAS_HEADING = "Ideas to adapt, not recipes to follow:"
SOURCES_HEADING = "Sources:"

# Chat clients (Open WebUI, AnythingLLM, Claude Desktop) render message text as Markdown, so text taken from
# documents must not turn into links, images or HTML there. A backslash before these characters keeps them
# literal in every CommonMark renderer and costs a plain-text reader almost nothing.
_ACTIVE = re.compile(r"([\\<>\[\]])")
_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")


def inert(text: str) -> str:
    """Text from a document or a question, made safe to show as Markdown; [n] citation markers stay as they are."""
    return _MARKER.sub(r"[\1]", _ACTIVE.sub(r"\\\1", text))


def source_line(cite: Citation) -> str:
    """'[n] Title — section, p. 4: “quote” <url>': where the passage behind marker [n] is, and what it says."""
    where = ", ".join(x for x in (cite.section, f"p. {cite.page}" if cite.page else "") if x)
    line = f"[{cite.n}] {inert(cite.title)}{' — ' + inert(where) if where else ''}: “{inert(cite.quote)}”"
    if cite.url.startswith(("http://", "https://")):
        url = quote(cite.url, safe=":/?#[]@!$&'()*+,;=%~")  # a space or '>' would end the autolink
        line += f" <{url}>"
    return line


def render_text(answer: Answer) -> str:
    """The whole answer as one chat message. A refusal is the lead and the nearest documents, never ideas.

    compose.render_markdown renders the same answer as a Markdown document (headed by the question, for
    export); this is the chat form of it, for the OpenAI-compatible API and the MCP `ask` tool.
    """
    lines = [inert(answer.lead)]
    if answer.status == "not_covered":
        if answer.nearest:
            lines += ["", NEAREST_HEADING]
            lines.extend(f"- {inert(title)}" for title in answer.nearest)
        return "\n".join(lines).strip() + "\n"
    if answer.status == "partial":
        lines += ["", PARTIAL_NOTE]
    if answer.ideas:
        lines += ["", IDEAS_HEADING]
    for i, idea in enumerate(answer.ideas, 1):
        where = f" ({inert(idea.place)})" if idea.place and idea.place != "England" else ""
        lines += ["", f"{i}. {inert(idea.title)}{where}"]
        lines.extend(f"   - {inert(point)}" for point in idea.points)
        # Blank lines and a three-space indent keep these inside the numbered item in Markdown, not run into it.
        if idea.conditions:
            lines += ["", "   What made it work there:"]
            lines.extend(f"   - {inert(c)}" for c in idea.conditions)
        if idea.adapt:
            lines += ["", "   Questions to ask before borrowing it:"]
            lines.extend(f"   - {inert(q)}" for q in idea.adapt)
    if answer.citations:
        lines += ["", SOURCES_HEADING]
        lines.extend(f"- {source_line(c)}" for c in answer.citations)
    return "\n".join(lines).strip() + "\n"
