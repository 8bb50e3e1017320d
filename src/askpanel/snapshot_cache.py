"""Keep the keyword snapshot on disk beside the store, so a restart loads it instead of rebuilding it from Chroma."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

from .models import DocumentRecord, Passage, decode_spans, encode_spans
from .retrieval import Snapshot, keyword_tokenizer

log = logging.getLogger(__name__)

FORMAT = 3  # bump when what is written here changes shape (2: passages carry source spans; 3: "A&E" is a word)
KEEP = 2  # snapshots kept on disk: the newest, and one that a process may still be loading
STALE_SECONDS = 3600  # a half-written save this old belongs to a process that was killed
_DONE = "complete"  # written last: a directory without it is a save that did not finish
_PARTIAL = ".partial-"
_FIELDS = [f.name for f in fields(Passage)]
_THEMES = _FIELDS.index("themes")
_SOURCES = _FIELDS.index("sources")


def fingerprint(records: dict[str, DocumentRecord]) -> str:
    """What the live passages depend on: each document and the hash it is live at (file, sidecar, chunker)."""
    import bm25s

    digest = hashlib.sha256(f"{FORMAT}\0{bm25s.__version__}".encode())
    for doc_id in sorted(records):
        digest.update(f"\0{doc_id}\0{records[doc_id].content_hash}".encode())
    return digest.hexdigest()[:32]


def load(root: Path, revision: str, records: dict[str, DocumentRecord]) -> Snapshot | None:
    """The saved snapshot for exactly these documents, or None when there is none (or it cannot be read)."""
    path = root / fingerprint(records)
    if not (path / _DONE).exists():
        return None
    try:
        import bm25s
        import orjson

        names, *rows = orjson.loads((path / "passages.json").read_bytes())
        if names != _FIELDS:
            return None
        passages = [_passage(row) for row in rows]
        tokenizer = bm25 = None
        if passages:
            tokenizer = keyword_tokenizer()
            tokenizer.load_vocab(str(path))
            bm25 = bm25s.BM25.load(str(path), show_progress=False)
            if bm25.scores["num_docs"] != len(passages):
                raise ValueError(f"an index of {bm25.scores['num_docs']} passages beside {len(passages)} passages")
        return Snapshot.assemble(revision, records, passages, tokenizer, bm25)
    except Exception as exc:  # a damaged cache costs a rebuild, never an answer
        log.warning("ignoring the saved keyword index in %s: %s", path, exc)
        return None


def _row(passage: Passage) -> list[Any]:
    row = [getattr(passage, name) for name in _FIELDS]
    row[_THEMES] = list(passage.themes)
    row[_SOURCES] = encode_spans(passage.sources)
    return row


def _passage(row: list[Any]) -> Passage:
    values = list(row)
    values[_THEMES] = tuple(values[_THEMES])
    values[_SOURCES] = decode_spans(values[_SOURCES])
    return Passage(*values)


def save(root: Path, snap: Snapshot) -> None:
    """Write the snapshot under its fingerprint (whole or not at all), and drop older ones."""
    final = root / fingerprint(snap.records)
    if (final / _DONE).exists():
        return
    scratch = root / f"{_PARTIAL}{uuid.uuid4().hex}"
    try:
        scratch.mkdir(parents=True)
        import orjson

        rows = [_FIELDS] + [_row(p) for p in snap.passages]  # rows, not objects: a third of the size to read
        (scratch / "passages.json").write_bytes(orjson.dumps(rows))
        if snap.bm25 is not None:
            snap.bm25.save(str(scratch), show_progress=False)
            snap.tokenizer.save_vocab(str(scratch))
        (scratch / _DONE).touch()
        with contextlib.suppress(OSError):  # another process saved the same snapshot first
            os.rename(scratch, final)
    except OSError as exc:  # a read-only home, a full disk: answers go on, the next start rebuilds
        log.warning("could not save the keyword index to %s: %s", root, exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(root)


def _prune(root: Path) -> None:
    """Keep the newest KEEP snapshots, and clear saves that a killed process left half-written."""
    with contextlib.suppress(OSError):
        now = time.time()
        saved = sorted(root.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        finished = [p for p in saved if not p.name.startswith(_PARTIAL)]
        stale = [p for p in saved if p.name.startswith(_PARTIAL) and now - p.stat().st_mtime > STALE_SECONDS]
        for old in finished[KEEP:] + stale:
            shutil.rmtree(old, ignore_errors=True)
