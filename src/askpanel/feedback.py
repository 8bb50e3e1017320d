"""Store helpful / not-helpful feedback in a local SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .models import Answer

MAX_COMMENT_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    corpus_revision TEXT NOT NULL,
    engine TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class FeedbackEntry:
    """One stored verdict on one answer."""

    id: int
    created_at: str
    helpful: bool
    comment: str
    question: str
    answer: str
    chunk_ids: list[str]
    corpus_revision: str
    engine: str


class FeedbackStore:
    """A small append-only table; each call opens its own connection, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: several web workers may write at once; SQLite serialises them.
        with closing(sqlite3.connect(self.path, timeout=10)) as conn, conn:
            conn.execute(_SCHEMA)
            yield conn

    def add(self, answer: Answer, helpful: bool, comment: str = "") -> int:
        """Record a verdict with the question, the answer as shown and the chunks it cited; return its id."""
        row = (
            datetime.now(UTC).isoformat(timespec="seconds"),
            int(helpful),
            (comment or "").strip()[:MAX_COMMENT_CHARS],
            answer.question,
            answer.markdown or answer.lead,
            json.dumps([c.chunk_id for c in answer.citations]),
            answer.corpus_revision,
            answer.engine,
        )
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO feedback (created_at, helpful, comment, question, answer, chunk_ids, corpus_revision,"
                " engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def all(self) -> list[FeedbackEntry]:
        """Every entry, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, created_at, helpful, comment, question, answer, chunk_ids, corpus_revision, engine"
                " FROM feedback ORDER BY id"
            ).fetchall()
        return [FeedbackEntry(r[0], r[1], bool(r[2]), r[3], r[4], r[5], json.loads(r[6]), r[7], r[8]) for r in rows]
