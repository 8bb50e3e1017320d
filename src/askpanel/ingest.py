"""Bring files into the store: skip what is unchanged by content hash, replace what changed, drop what was removed."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .chunking import CHUNKER_VERSION, chunk_document, passage_header
from .config import Settings
from .embeddings import Embedder
from .loaders import SIDECAR_SUFFIX, LoadError, file_hash, load_document, read_source
from .models import Document, DocumentRecord, IngestReport, Passage
from .store import Store

Progress = Callable[[int, int, str], None]
GROUP_CHUNKS = 512  # embed this many chunks at once, then commit their documents together
SKIPPED_NAMES = {"readme.md"}


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str
    scope: str  # documents whose id starts with this and are not found again were removed; "" for single files


def discover(paths: Iterable[str | Path]) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Files to ingest under the given paths, each with its stable id, plus paths that do not exist."""
    found: list[SourceFile] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = path.resolve()
            for file in sorted(root.rglob("*")):
                rel = file.relative_to(root)
                if file.is_file() and not _skipped(rel):
                    found.append(SourceFile(file, f"{root.name}/{rel.as_posix()}", f"{root.name}/"))
            if not any(f.scope == f"{root.name}/" for f in found):
                found.append(SourceFile(root, "", f"{root.name}/"))  # an emptied folder still removes its documents
        elif path.is_file():
            found.append(SourceFile(path, f"{path.resolve().parent.name}/{path.name}", ""))
        else:
            missing.append((str(path), "no such file or directory"))
    return found, missing


def _skipped(rel: Path) -> bool:
    return (
        any(part.startswith((".", "_")) for part in rel.parts)
        or rel.name.lower() in SKIPPED_NAMES
        or rel.name.endswith(SIDECAR_SUFFIX)
    )


def run_ingest(
    paths: Sequence[str | Path],
    store: Store,
    embedder: Embedder,
    settings: Settings,
    dry_run: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    report = IngestReport(dry_run=dry_run)
    if rebuild and not dry_run:
        store.reset()
    if not dry_run:
        recover(store)
    live = {} if dry_run and (rebuild or not store.exists()) else store.records()  # a dry run creates no store
    files, missing = discover(paths)
    report.failed.extend(missing)
    todo, seen = _plan(files, live, settings, report)
    scopes = {f.scope for f in files if f.scope}
    gone = sorted(d for d in live if d not in seen and any(d.startswith(s) for s in scopes))
    report.removed.extend(gone)
    if dry_run:
        return report
    if gone:
        store.begin(gone)
        store.forget(gone)
        store.sweep(gone, {})
        store.bump_revision()
    _write(todo, store, embedder, settings, report, progress)
    return report


def recover(store: Store) -> None:
    """Sweep leftovers of an interrupted run, so the store holds exactly the committed documents."""
    pending = store.pending()
    if pending:
        store.sweep(sorted({p.doc_id for p in pending}), store.records())


def content_hash(data: bytes, sidecar: bytes, settings: Settings) -> str:
    """The hash a manifest record keeps: the file, its sidecar, and the chunking that cut it into passages.

    A new chunker version or chunk size changes it, so the next run re-chunks files whose bytes did not change.
    """
    seed = f"{file_hash(data, sidecar)}\0{CHUNKER_VERSION}\0{settings.chunk_words}"
    return hashlib.sha256(seed.encode()).hexdigest()


def _plan(
    files: list[SourceFile], live: dict[str, DocumentRecord], settings: Settings, report: IngestReport
) -> tuple[list[Document], set[str]]:
    todo: list[Document] = []
    seen: set[str] = set()
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for source in files:
        if not source.doc_id:
            continue
        seen.add(source.doc_id)  # a file that fails to read keeps its last good version
        try:
            data, sidecar = read_source(source.path, max_bytes)
            record = live.get(source.doc_id)
            stored_hash = content_hash(data, sidecar, settings)
            if record is not None and record.content_hash == stored_hash:
                report.unchanged.append(source.doc_id)
                continue
            doc = replace(load_document(source.path, source.doc_id, data, sidecar), content_hash=stored_hash)
        except LoadError as exc:
            report.failed.append((str(source.path), str(exc)))
            continue
        except Exception as exc:  # one bad file must never stop the others
            report.failed.append((str(source.path), f"unexpected error while reading: {type(exc).__name__}: {exc}"))
            continue
        (report.added if record is None else report.updated).append(source.doc_id)
        todo.append(doc)
    return todo, seen


def _write(
    docs: list[Document],
    store: Store,
    embedder: Embedder,
    settings: Settings,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    chunked = [(doc, chunk_document(doc, settings.chunk_words)) for doc in docs]
    total = sum(len(passages) for _, passages in chunked)
    bar = _progress_bar(total)
    done = 0
    for group in _groups(chunked):
        passages = [p for _, ps in group for p in ps]
        try:
            vectors = embedder.embed([f"{passage_header(p)}\n{p.text}" for p in passages])
        except Exception as exc:  # nothing was written for this group yet
            for doc, _ in group:
                _unlist(report, doc.doc_id)
                report.failed.append((doc.path, f"embedding failed: {type(exc).__name__}: {exc}"))
            continue
        records = [_record(doc, len(ps)) for doc, ps in group]
        ids = [doc.doc_id for doc, _ in group]
        store.begin(ids)
        store.put_passages(passages, vectors)
        store.commit(records)
        store.sweep(ids, {r.doc_id: r for r in records})
        store.bump_revision()
        report.chunks_embedded += len(passages)
        done += len(passages)
        if bar is not None:
            bar.update(len(passages))
        if progress is not None:
            progress(done, total, group[-1][0].title)
    if bar is not None:
        bar.close()


def _groups(chunked: list[tuple[Document, list[Passage]]]) -> Iterable[list[tuple[Document, list[Passage]]]]:
    group: list[tuple[Document, list[Passage]]] = []
    size = 0
    for item in chunked:
        group.append(item)
        size += len(item[1])
        if size >= GROUP_CHUNKS:
            yield group
            group, size = [], 0
    if group:
        yield group


def _record(doc: Document, n_chunks: int) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc.doc_id,
        path=doc.path,
        content_hash=doc.content_hash,
        n_chunks=n_chunks,
        title=doc.title,
        doc_type=doc.doc_type,
        place=doc.place,
        region=doc.region,
        themes=doc.themes,
        year=doc.year,
        sources=doc.sources,
        summary=doc.summary,
    )


def _unlist(report: IngestReport, doc_id: str) -> None:
    for bucket in (report.added, report.updated):
        if doc_id in bucket:
            bucket.remove(doc_id)


def _progress_bar(total: int):  # type: ignore[no-untyped-def]
    if total < 200 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="embedding")
