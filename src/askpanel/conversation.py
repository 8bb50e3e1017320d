"""Web chat conversations: turns, their compact form kept in the browser, the past list and the Markdown export."""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .models import Answer

MAX_TURNS = 20  # a conversation keeps (and sends back as history) at most this many answers
MAX_PAST = 10  # past conversations kept per browser
# A stored answer is ~17 KB of JSON, mostly the cited passages; browsers give a site about 5 MB of localStorage.
PAST_BUDGET_CHARS = 1_000_000
TITLE_CHARS = 90
FILTER_LABELS = {"doc_type": "Searched in", "place": "Places", "themes": "Themes"}
DOC_TYPE_NAMES = {"report": "the panel report", "case_study": "case studies", "context": "context"}
# Rebuilt from the answer when needed (compose.render_markdown), so not worth a place in the browser.
_NOT_STORED = ("markdown", "timings_ms")


@dataclass
class Turn:
    """One question and its answer, with the filters and "Your place" it was asked with."""

    answer: Answer
    filters: dict[str, list[str]] = field(default_factory=dict)
    place_context: str = ""

    def to_dict(self) -> dict[str, Any]:
        answer = {k: v for k, v in self.answer.to_dict().items() if k not in _NOT_STORED}
        return {"answer": answer, "filters": self.filters, "place_context": self.place_context}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        filters = data.get("filters") or {}
        return cls(
            Answer.from_dict(data["answer"]),
            {str(k): [str(v) for v in values] for k, values in filters.items() if isinstance(values, list)},
            str(data.get("place_context") or ""),
        )

    def settings_line(self) -> str:
        """What narrowed this turn, in words: "Searched in: case studies · Places: Melton", or ""."""
        parts = []
        for key, label in FILTER_LABELS.items():
            values = self.filters.get(key) or []
            if values:
                shown = [DOC_TYPE_NAMES.get(v, v) for v in values] if key == "doc_type" else values
                parts.append(f"{label}: {', '.join(shown)}")
        if self.place_context:
            parts.append(f"Your place: {self.place_context}")
        return " · ".join(parts)


@dataclass
class Conversation:
    """The turns of one conversation, oldest first, under an id that names it in the browser's list."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="minutes"))
    turns: list[Turn] = field(default_factory=list)

    @property
    def title(self) -> str:
        if not self.turns:
            return "New conversation"
        first = " ".join(self.turns[0].answer.question.split())
        return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"

    def history(self) -> list[str]:
        return [t.answer.question for t in self.turns]

    def with_turn(self, turn: Turn) -> Conversation:
        """A copy with `turn` added last; the oldest turns go beyond MAX_TURNS."""
        return Conversation(self.id, self.started, [*self.turns, turn][-MAX_TURNS:])

    def started_label(self) -> str:
        """When it started, GOV.UK style: "5 May 2025 at 2:03pm (UTC)"."""
        try:
            when = datetime.fromisoformat(self.started)
        except ValueError:
            return ""
        clock = when.strftime("%I:%M%p").lstrip("0").lower()
        return f"{when.day} {when:%B %Y} at {clock} (UTC)"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "started": self.started, "turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: Any) -> Conversation | None:
        """A conversation read back from the browser, or None when it is not one. The browser is the user's own
        and may hold anything (an older version's data, or edits): turns that do not read are left out."""
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
            return None
        turns = []
        for raw in data["turns"][-MAX_TURNS:]:
            try:
                turn = Turn.from_dict(raw)
            except (TypeError, ValueError, KeyError, AttributeError):
                continue
            if readable(turn.answer):
                turns.append(turn)
        conversation = cls(turns=turns)
        if isinstance(data.get("id"), str) and data["id"].isalnum() and len(data["id"]) <= 64:
            conversation.id = data["id"]
        if isinstance(data.get("started"), str):
            conversation.started = data["started"][:40]
        return conversation


def readable(answer: Answer) -> bool:
    """Whether an answer read from the browser has the shapes the page renders (the strings are escaped anyway)."""
    strings = (answer.question, answer.lead, answer.status)
    lists = (answer.ideas, answer.citations, answer.nearest, answer.warnings)
    return (
        all(isinstance(s, str) for s in strings)
        and all(isinstance(x, list) for x in lists)
        and all(isinstance(i.points, list) and isinstance(i.adapt, list) for i in answer.ideas)
        and all(isinstance(c.n, int) and isinstance(c.passage, str) for c in answer.citations)
    )


# -- the list of past conversations ---------------------------------------------------------------
def read_past(data: Any) -> list[Conversation]:
    """The past conversations kept in the browser, newest first; anything unreadable is left out."""
    items = data if isinstance(data, list) else []
    found = (Conversation.from_dict(item) for item in items[:MAX_PAST])
    return [c for c in found if c is not None and c.turns]


def file_away(past: Sequence[Conversation], conversation: Conversation) -> list[Conversation]:
    """`past` with `conversation` first (an empty one is not kept), within MAX_PAST and the size budget."""
    kept = [c for c in past if c.id != conversation.id]
    if conversation.turns:
        kept.insert(0, conversation)
    kept = kept[:MAX_PAST]
    while len(kept) > 1 and len(json.dumps(stored(kept))) > PAST_BUDGET_CHARS:
        kept.pop()  # the oldest goes first
    return kept


def without(past: Sequence[Conversation], conversation_id: str) -> list[Conversation]:
    return [c for c in past if c.id != conversation_id]


def stored(past: Sequence[Conversation]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in past]


# -- export -------------------------------------------------------------------------------------
def conversation_markdown(conversation: Conversation) -> str:
    """The whole conversation as Markdown: every question and answer in order, each with its sources."""
    from .markdown import render_markdown

    count = len(conversation.turns)
    lines = [
        "# askpanel conversation",
        "",
        f"Started {conversation.started_label()}; {count} question{'s' if count != 1 else ''}. "
        "Answers come only from the Service Transformation Challenge Panel report and its case studies; "
        "each [n] is numbered within its own answer.",
    ]
    for i, turn in enumerate(conversation.turns, 1):
        lines += ["", "---", "", f"## Question {i}", ""]
        if settings := turn.settings_line():
            lines += [f"*{_md_escape(settings)}*", ""]
        lines.append((turn.answer.markdown or render_markdown(turn.answer)).strip())
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    """Text a user typed (a place, "Your place"), made inert in Markdown: no tags, links or emphasis."""
    escaped = html.escape(text, quote=False)
    return "".join("\\" + ch if ch in "\\`*_[]()#!|~" else ch for ch in escaped)
