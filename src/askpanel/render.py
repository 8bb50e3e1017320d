"""Render answers, sources and corpus views as HTML for the web chat, escaping every string that is not ours."""

from __future__ import annotations

import html
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from urllib.parse import urlsplit

from .conversation import Conversation, Turn
from .markdown import PARTIAL_SUPPORT_HEADING, SUPPORT_HEADING
from .models import Answer, Citation, DocumentRecord, Idea

DOC_TYPE_LABELS = {"report": "Panel report", "case_study": "Case study", "context": "Context"}
_MARKER = re.compile(r"\[(\d{1,3})\]")
_OUTCOME_PREFIX = "What happened: "
WELCOME = (
    "Ask about the Service Transformation Challenge Panel report and its case studies. "
    "Each answer starts with a short lead, then ideas to adapt (not recipes to follow), each with numbered sources. "
    "Select a number such as [1] to read the passage it comes from. Ask follow-up questions: "
    "each one is answered in the light of the ones before."
)
PARTIAL = "The sources cover this subject but not the detail you asked for. This is what they do say."
NEAREST = "These are the nearest documents. Select one below to ask about it, or ask your question another way."
NO_PAST = (
    "None yet. When you start a new conversation, the one before it is kept here, in this browser only, "
    "so you can reopen it."
)


def esc(text: object) -> str:
    """Escape for element content and quoted attribute values alike."""
    return html.escape(str(text), quote=True)


def safe_url(url: str) -> str:
    """The URL if it is plain http(s), else "": a javascript: or data: link must never become an href."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def doc_type_label(doc_type: str) -> str:
    return DOC_TYPE_LABELS.get(doc_type, doc_type.replace("_", " ").capitalize())


# -- one answer ---------------------------------------------------------------------------------
def pop_id(prefix: str, n: int) -> str:
    return f"{prefix}-c{n}"


def with_markers(text: str, prefix: str, citations: dict[int, Citation]) -> str:
    """Escape text, then turn each known [n] into a button that opens that citation's passage."""

    def button(match: re.Match[str]) -> str:
        n = int(match.group(1))
        cite = citations.get(n)
        if cite is None:
            return match.group(0)
        label = esc(f"Source {n}: {cite.title}")
        return (
            f'<button type="button" class="ap-cite" popovertarget="{pop_id(prefix, n)}" '
            f'aria-label="{label}" title="{label}">[{n}]</button>'
        )

    # Escaping first means the text can hold no markup; the markers are the only tags added.
    return _MARKER.sub(button, esc(text))


def marked_passage(passage: str, quote: str) -> str:
    """The full passage, escaped, with the quoted sentences highlighted."""
    text = passage or quote
    spans: list[tuple[int, int]] = []
    for sentence in (s.strip() for s in quote.split(" … ")):
        start = text.find(sentence) if sentence else -1
        if start >= 0:
            spans.append((start, start + len(sentence)))
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at:
            continue
        out += [esc(text[at:start]), f"<mark>{esc(text[start:end])}</mark>"]
        at = end
    out.append(esc(text[at:]))
    return "".join(out).replace("\n\n", "<br><br>")


def where(cite: Citation) -> str:
    parts = [cite.place, doc_type_label(cite.doc_type), cite.section, f"p. {cite.page}" if cite.page else ""]
    return " · ".join(esc(p) for p in parts if p)


def source_link(url: str) -> str:
    """A link for http(s) sources; anything else is shown as text so it can do nothing."""
    href = safe_url(url)
    if href:
        return f'<a href="{esc(href)}" target="_blank" rel="noopener noreferrer nofollow">Open the source</a>'
    return f'<span class="ap-muted">Source: {esc(url)}</span>' if url else ""


def popover(cite: Citation, prefix: str) -> str:
    pid = pop_id(prefix, cite.n)
    return (
        f'<div popover id="{pid}" class="ap-pop" role="dialog" aria-labelledby="{pid}-h">'
        f'<div class="ap-pop-head"><strong id="{pid}-h">[{cite.n}] {esc(cite.title)}</strong>'
        f'<button type="button" class="ap-close" popovertarget="{pid}" popovertargetaction="hide" '
        f'aria-label="Close source {cite.n}">×</button></div>'
        f'<p class="ap-meta">{where(cite)}</p>'
        f'<blockquote class="ap-passage" tabindex="-1">{marked_passage(cite.passage, cite.quote)}</blockquote>'
        f"<p>{source_link(cite.url)}</p></div>"
    )


def bullet_list(items: Sequence[str], prefix: str, citations: dict[int, Citation]) -> str:
    return "<ul>" + "".join(f"<li>{with_markers(i, prefix, citations)}</li>" for i in items) + "</ul>"


def idea_card(idea: Idea, number: int, prefix: str, citations: dict[int, Citation], level: int) -> str:
    done = [p for p in idea.points if not p.startswith(_OUTCOME_PREFIX)]
    happened = [p.removeprefix(_OUTCOME_PREFIX) for p in idea.points if p.startswith(_OUTCOME_PREFIX)]
    tried = " · ".join(esc(x) for x in (idea.place, doc_type_label(idea.doc_type)) if x)
    parts = [
        f'<section class="ap-card" aria-labelledby="{prefix}-i{number}">',
        f'<h{level} id="{prefix}-i{number}">{number}. {esc(idea.title)}</h{level}>',
        f'<p class="ap-meta"><span class="ap-label">Where it was tried:</span> {tried}</p>',
    ]
    sections = (
        ("What was done" if idea.doc_type == "case_study" else "What it says", done),
        ("What happened", happened),
        ("What made it work there", idea.conditions),
        ("Questions to ask before adapting it", idea.adapt),
    )
    for heading, items in sections:
        if items:
            parts += [f"<h{level + 1}>{heading}</h{level + 1}>", bullet_list(items, prefix, citations)]
    parts.append("</section>")
    return "".join(parts)


def render_answer(answer: Answer, prefix: str, level: int = 4) -> str:
    """The answer body: the lead, the idea cards, nearest documents when not covered, and the passages.

    `level` is the heading level of "Ideas to adapt"; the cards and their parts sit one and two below it,
    so each place that shows an answer keeps the page's headings in order.
    """
    citations = {c.n: c for c in answer.citations}
    parts = []
    if answer.status == "partial":
        parts.append(f'<p class="ap-partial"><strong>Partly answered.</strong> {esc(PARTIAL)}</p>')
    parts.append(f'<p class="ap-lead">{with_markers(answer.lead, prefix, citations)}</p>')
    if not answer.covered and answer.nearest:
        parts.append(f'<p class="ap-label">{esc(NEAREST)}</p>')
        parts.append("<ul class='ap-nearest'>" + "".join(f"<li>{esc(t)}</li>" for t in answer.nearest) + "</ul>")
    if answer.support and answer.status != "not_covered":
        label = PARTIAL_SUPPORT_HEADING if answer.status == "partial" else SUPPORT_HEADING
        points = "".join(f"<li>{with_markers(point, prefix, citations)}</li>" for point in answer.support)
        parts.append(f'<p class="ap-label">{esc(label)}</p><ul class="ap-support">{points}</ul>')
    if answer.ideas:
        parts.append(f'<h{level} class="ap-ideas-h">Ideas to adapt, not recipes to follow</h{level}>')
        parts.append('<div class="ap-ideas">')
        parts += [idea_card(idea, i, prefix, citations, level + 1) for i, idea in enumerate(answer.ideas, 1)]
        parts.append("</div>")
    parts += [f'<p class="ap-warn">{esc(w)}</p>' for w in answer.warnings]
    parts += [popover(c, prefix) for c in answer.citations]
    return "".join(parts)


def plain(text: str) -> str:
    """Text without its [n] markers, for a screen reader to read out."""
    return " ".join(_MARKER.sub("", text).split())


def announcement(answer: Answer, number: int) -> str:
    """What a screen reader says when an answer arrives: the lead and what follows, never the whole page."""
    lead = plain(answer.lead)
    if answer.status == "not_covered":
        nearest = f" Nearest documents: {'; '.join(answer.nearest)}." if answer.nearest else ""
        return f"Answer {number}: {lead}{nearest}"
    found = f" Then {len(answer.ideas)} idea{'s' if len(answer.ideas) != 1 else ''} to adapt." if answer.ideas else ""
    cited = f" {len(answer.citations)} source{'s' if len(answer.citations) != 1 else ''}." if answer.citations else ""
    partial = f" Partly answered: {PARTIAL}" if answer.status == "partial" else ""
    return f"Answer {number}.{partial} {lead}{found}{cited}"


# -- the conversation ---------------------------------------------------------------------------
def render_turn(question: str, body: str, number: int, settings: str = "", footer: str = "") -> str:
    meta = f'<p class="ap-meta ap-settings">{esc(settings)}</p>' if settings else ""
    return (
        f'<article class="ap-turn" aria-labelledby="t{number}-q">'
        f'<div class="ap-q"><h3 id="t{number}-q"><span class="ap-who">Question {number}</span> '
        f'<span class="ap-q-text">{esc(question)}</span></h3>{meta}</div>'
        f'<div class="ap-a">{body}</div>{footer}</article>'
    )


def sources_button(number: int, count: int, shown: bool) -> str:
    label = f"Show the {count} source{'s' if count != 1 else ''} of answer {number}"
    return (
        f'<div class="ap-turn-foot"><button type="button" class="ap-show" data-show-sources="{number}" '
        f'aria-controls="ap-sources" aria-pressed="{str(shown).lower()}">{label}</button></div>'
    )


def render_transcript(
    conversation: Conversation,
    pending: str | None = None,
    notice: str = "",
    focus: int | None = None,
    announce: tuple[str, str] | None = None,
    focus_to: str = "",
) -> str:
    """Every turn so far, oldest first; `pending` is a question still being answered.

    The transcript is replaced whole at each change, so it holds no live region (a screen reader would read
    it all again): `announce` is (id, text) for the page's one live region to say, once per id. `focus_to`
    ("transcript" or "question") tells the page where to put the keyboard focus after this change.
    """
    turns = conversation.turns
    shown = focus if focus is not None else len(turns)
    parts = []
    for i, turn in enumerate(turns, 1):
        answer = turn.answer
        footer = sources_button(i, len(answer.citations), i == shown) if answer.citations else ""
        parts.append(render_turn(answer.question, render_answer(answer, f"t{i}"), i, turn.settings_line(), footer))
    if pending is not None:
        searching = '<p class="ap-muted">Searching the report and the case studies…</p>'
        parts.append(render_turn(pending, searching, len(turns) + 1))
    if notice:
        parts.append(f'<p class="ap-warn ap-notice">{esc(notice)}</p>')
    if not parts:
        parts = [f'<div class="ap-welcome"><p>{esc(WELCOME)}</p></div>']
    said = f' data-announce-id="{esc(announce[0])}" data-announce="{esc(announce[1])}"' if announce else ""
    said += f' data-focus="{esc(focus_to)}"' if focus_to else ""
    return (
        f'<section class="ap-transcript" tabindex="0" aria-labelledby="ap-conversation-h" '
        f'data-conversation="{esc(conversation.id)}"{said}>'
        f'<h2 id="ap-conversation-h" class="ap-sr-only">Conversation</h2>{"".join(parts)}</section>'
    )


def render_sources(turn: Turn | None, number: int = 0, total: int = 0, requested: str = "") -> str:
    """The sources panel for one turn (the latest, or the one asked for): each [n] with its title, place, section,
    quote and link. `requested` (a fresh token each time) marks a panel the user asked for, so the page moves
    the keyboard focus to it."""
    flag = f' data-requested="{esc(requested)}"' if requested else ""
    if turn is None:
        return (
            f'<section class="ap-sources" aria-labelledby="ap-sources-h"{flag}>'
            '<h2 id="ap-sources-h" tabindex="-1">Sources</h2>'
            '<p class="ap-muted">When you ask a question, the sources of its answer are listed here.</p></section>'
        )
    answer = turn.answer
    which = f"answer {number} of {total}" if total > 1 else "the answer"
    head = (
        f'<section class="ap-sources" aria-labelledby="ap-sources-h"{flag}>'
        f'<h2 id="ap-sources-h" tabindex="-1">Sources of {which}</h2>'
        f'<p class="ap-meta">You asked: “{esc(answer.question)}”</p>'
    )
    if not answer.citations:
        return head + '<p class="ap-muted">This answer cites no sources.</p></section>'
    items = []
    for c in answer.citations:
        items.append(
            f'<li id="src-{c.n}" class="ap-source"><p class="ap-source-title"><span class="ap-num">[{c.n}]</span> '
            f"{esc(c.title)}</p>"
            f'<p class="ap-meta">{where(c)}</p>'
            f'<blockquote class="ap-quote">“{esc(c.quote)}”</blockquote>'
            f"<details><summary>Whole passage</summary>"
            f'<p class="ap-passage">{marked_passage(c.passage, c.quote)}</p></details>'
            f"<p>{source_link(c.url)}</p></li>"
        )
    return head + f'<ol class="ap-source-list">{"".join(items)}</ol></section>'


def render_past(past: Sequence[Conversation], message: str = "") -> str:
    """The browser's past conversations, newest first, each with buttons to reopen or delete it. A `message`
    (what just changed) is shown first, and the page moves the keyboard focus to the list's heading."""
    changed = f' data-changed="{esc(uuid.uuid4().hex)}" data-message="{esc(message)}"' if message else ""
    head = (
        f'<section class="ap-past" aria-labelledby="ap-past-h"{changed}>'
        '<h2 id="ap-past-h" tabindex="-1">Past conversations</h2>'
    )
    if message:
        head += f'<p class="ap-ok">{esc(message)}</p>'
    if not past:
        return head + f'<p class="ap-muted">{esc(NO_PAST)}</p></section>'
    items = []
    for c in past:
        count = len(c.turns)
        title = esc(c.title)
        items.append(
            f'<li class="ap-past-item"><p class="ap-past-title">{title}</p>'
            f'<p class="ap-meta">{count} question{"s" if count != 1 else ""} · started {esc(c.started_label())}</p>'
            f'<p class="ap-past-actions">'
            f'<button type="button" class="ap-small" data-reopen="{esc(c.id)}" aria-label="Reopen: {title}">'
            "Reopen</button> "
            f'<button type="button" class="ap-small" data-forget="{esc(c.id)}" aria-label="Delete: {title}">'
            "Delete</button></p></li>"
        )
    return head + f'<ul class="ap-past-list">{"".join(items)}</ul></section>'


# -- compare, corpus and places -----------------------------------------------------------------
def render_compare(records: Sequence[DocumentRecord | None], answers: Sequence[Answer]) -> str:
    columns = []
    for i, (record, answer) in enumerate(zip(records, answers, strict=True)):
        head = ""
        if record is not None:
            meta = " · ".join(esc(x) for x in (record.place, record.region, str(record.year or "")) if x)
            head = f"<h3>{esc(record.title)}</h3><p class='ap-meta'>{meta}</p><p>{esc(record.summary)}</p>"
        columns.append(f'<section class="ap-col">{head}{render_answer(answer, f"cmp{i}")}</section>')
    return f'<div class="ap-compare">{"".join(columns)}</div>'


def render_places(records: Sequence[DocumentRecord]) -> str:
    """Case-study places by region, as a bar chart built from text so it reads on any screen and to any reader."""
    by_region: dict[str, list[DocumentRecord]] = defaultdict(list)
    for r in records:
        if r.doc_type == "case_study":
            by_region[r.region or "Region not given"].append(r)
    if not by_region:
        return '<p class="ap-muted">No case studies yet.</p>'
    most = max(len(v) for v in by_region.values())
    rows = []
    for region, docs in sorted(by_region.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        width = round(100 * len(docs) / most)
        places = "".join(f"<li>{esc(r.title)}</li>" for r in docs)
        rows.append(
            f'<section class="ap-region"><h4>{esc(region)} <span class="ap-muted">({len(docs)})</span></h4>'
            f'<div class="ap-bar" aria-hidden="true"><span style="width: {width}%"></span></div>'
            f"<ul>{places}</ul></section>"
        )
    return f'<div class="ap-regions">{"".join(rows)}</div>'


CSS = """
/* Visually hidden, still read out: the live region and headings a sighted reader does not need. */
.ap-sr-only { position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
.ap-q h3 { margin: 0; font-size: 1em; line-height: 1.4; }
.ap-q h3 .ap-who { display: block; }
.ap-q-text { font-weight: 600; }
.ap-settings { margin-top: 0.25rem; }
.ap-partial { border-left: 4px solid var(--color-accent); background: var(--background-fill-secondary);
  padding: 0.4rem 0.6rem; }
.ap-turn-foot { margin-top: 0.5rem; }
button.ap-show, button.ap-small { border: 1px solid var(--link-text-color); border-radius: 4px;
  padding: 0.3rem 0.6rem; min-height: 24px; background: var(--background-fill-primary); color: var(--link-text-color);
  cursor: pointer; font-size: 0.9em; }
button.ap-show[aria-pressed="true"] { background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); }
button.ap-show:hover, button.ap-small:hover { text-decoration: underline; }
/* A visible focus ring on everything the keyboard reaches (WCAG 2.4.7, 2.4.13). */
button.ap-show:focus-visible, button.ap-small:focus-visible, .ap-transcript:focus-visible,
.ap-passage:focus-visible, #ap-sources-h:focus-visible { outline: 3px solid var(--link-text-color);
  outline-offset: 2px; }
.ap-past-list { list-style: none; padding-left: 0; margin: 0; }
.ap-past-item { border-bottom: 1px solid var(--border-color-primary); padding: 0.4rem 0; }
.ap-past-item p { display: block; margin: 0.15rem 0; }
.ap-past-title { font-weight: 600; }
.ap-past h2, .ap-sources h2 { font-size: 1.15em; margin: 0 0 0.4rem; }
/* Gradio's own greys and blues fall below 4.5:1: the footer links, and the selected tab in dark mode. */
footer a, footer button, .show-api, .built-with { color: var(--body-text-color-subdued) !important; }
.tab-container button.selected { color: var(--link-text-color); }
.ap-transcript { display: flex; flex-direction: column; gap: 1rem; }
.ap-turn { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.75rem 1rem;
  background: var(--background-fill-primary); }
.ap-q { background: var(--background-fill-secondary); border-radius: 6px; padding: 0.5rem 0.75rem;
  margin-bottom: 0.5rem; }
.ap-q p { margin: 0.2rem 0 0; font-weight: 600; }
.ap-who, .ap-label { font-size: 0.85em; font-weight: 600; }
/* Colours come from the theme (web.theme), which keeps each at 4.5:1 or more in light and dark mode alike. */
.ap-who, .ap-label, .ap-meta, .ap-muted { color: var(--body-text-color-subdued); }
.ap-lead { font-size: 1.08em; line-height: 1.55; }
.ap-ideas { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 0.75rem; }
.ap-card { border: 1px solid var(--border-color-primary); border-left: 4px solid var(--color-accent);
  border-radius: 6px; padding: 0.5rem 0.75rem; background: var(--background-fill-secondary); }
.ap-card h5 { margin: 0.2rem 0; font-size: 1em; }
.ap-card h6 { margin: 0.6rem 0 0.2rem; font-size: 0.9em; font-weight: 600; text-transform: none; }
.ap-col > h3 { margin-top: 0; }
.ap-card ul, .ap-nearest, .ap-support { margin: 0; padding-left: 1.1rem; }
.ap-meta { font-size: 0.88em; margin: 0.2rem 0; }
.ap-warn { border-left: 4px solid #b45309; padding-left: 0.5rem; }
.ap-ok { border-left: 4px solid #15803d; padding-left: 0.5rem; }
button.ap-cite { display: inline; border: 1px solid var(--link-text-color); border-radius: 4px; padding: 0 0.25rem;
  margin: 0 0.1rem; font-size: 0.85em; line-height: 1.3; background: var(--background-fill-primary);
  color: var(--body-text-color); cursor: pointer; }
button.ap-cite:hover, button.ap-cite:focus-visible { background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); }
/* Instant, not faded: half way through a fade the colours are below 4.5:1. */
button.ap-cite, button.ap-show, button.ap-small, button.ap-close { transition: none; }
button.ap-cite:focus-visible, button.ap-close:focus-visible { outline: 3px solid var(--link-text-color);
  outline-offset: 2px; }
.ap-pop { max-width: min(40rem, 92vw); max-height: 80vh; overflow: auto; padding: 1rem; border-radius: 8px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); box-shadow: 0 10px 40px rgba(0, 0, 0, 0.35); }
/* No dimming behind an open passage: the page stays readable (and at full contrast) beside it. */
.ap-pop::backdrop { background: transparent; }
.ap-pop-head { display: flex; justify-content: space-between; gap: 1rem; align-items: flex-start; }
button.ap-close { font-size: 1.4em; line-height: 1; background: none; border: none; cursor: pointer;
  color: var(--body-text-color); padding: 0 0.25rem; }
.ap-passage { white-space: normal; line-height: 1.5; }
.ap-passage mark { background: #fde68a; color: #111; }
.ap-source-list { padding-left: 0; list-style: none; }
.ap-source { border-bottom: 1px solid var(--border-color-primary); padding: 0.4rem 0; }
.ap-sources p { display: block; margin: 0.15rem 0; }
.ap-source-title { font-weight: 600; }
.ap-quote { margin: 0.3rem 0; padding-left: 0.6rem; border-left: 3px solid var(--border-color-primary);
  font-style: italic; }
.ap-num { font-weight: 700; }
.ap-compare { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 1rem; }
.ap-col { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.75rem; }
.ap-regions { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 0.75rem 1.5rem; }
.ap-region h4 { margin: 0 0 0.25rem; }
.ap-region ul { margin: 0.3rem 0 0; padding-left: 1.1rem; font-size: 0.92em; }
.ap-bar { height: 0.9rem; background: var(--background-fill-secondary); border-radius: 4px; overflow: hidden; }
.ap-bar span { display: block; height: 100%; background: var(--color-accent); }
/* The conversation scrolls inside its box so the question field stays in reach, as in any chat. */
.ap-transcript { max-height: 66vh; overflow-y: auto; padding-right: 0.25rem; }
@media (min-width: 900px) {
  .ap-sources { max-height: 72vh; overflow-y: auto; padding-right: 0.25rem; }
}
"""
