"""Chroma as the single store of record: passages with vectors, plus a manifest of live documents."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .config import Settings
from .models import DocumentRecord, Passage

REVISION_ID = "__revision__"
FILTER_KEYS = ("doc_type", "place", "region", "themes", "year", "doc_id")
PAGE = 2000


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached; the message says where and why."""


@dataclass(frozen=True)
class Pending:
    """A write intent: chunks of `doc_id` not matching its committed hash may be left over."""

    doc_id: str


class Store:
    """Reads and writes passages and the manifest. Commit order keeps every document whole.

    A document becomes visible only when its manifest record names its content hash, so readers
    ignore chunks from unfinished writes; a pending marker lets the next ingest sweep them away.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._chunks: Any = None
        self._manifest: Any = None

    # -- connection ---------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def _connect(self) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            self._client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        else:
            self.settings.chroma_path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(self.settings.chroma_path), settings=chroma_settings)
        name = self.settings.collection
        self._chunks = self._client.get_or_create_collection(name, embedding_function=None, schema=_schema("cosine"))
        self._manifest = self._client.get_or_create_collection(
            f"{name}_manifest", embedding_function=None, schema=_schema("l2")
        )

    def exists(self) -> bool:
        """Whether there is a store to read: always for a server, for a local store once it has been created."""
        return bool(self.settings.chroma_url) or (self.settings.chroma_path / "chroma.sqlite3").exists()

    def close(self) -> None:
        """Release the Chroma client (for a local store, its SQLite files); the next call reopens it."""
        client, self._client, self._chunks, self._manifest = self._client, None, None, None
        if client is not None and hasattr(client, "close"):
            client.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a Chroma call; turn a dead server into one clear error and reconnect next time."""
        try:
            if self._chunks is None:
                self._connect()
            return fn(self, *args, **kwargs)
        except Exception as exc:
            if self.settings.chroma_url and _is_connection_error(exc):
                self._client = self._chunks = self._manifest = None
                raise StoreUnavailable(f"Chroma server at {self.settings.chroma_url} is unavailable: {exc}") from exc
            raise

    # -- manifest -----------------------------------------------------------------------------
    def records(self) -> dict[str, DocumentRecord]:
        return self._call(Store._records)

    def _records(self) -> dict[str, DocumentRecord]:
        out: dict[str, DocumentRecord] = {}
        for ids, metas in _pages(self._manifest, where={"kind": "doc"}):
            for doc_id, meta in zip(ids, metas, strict=True):
                out[doc_id] = _record_from_meta(doc_id, meta)
        return out

    def revision(self) -> str:
        return self._call(Store._revision)

    def _revision(self) -> str:
        got = self._manifest.get(ids=[REVISION_ID], include=["metadatas"])
        return str(got["metadatas"][0]["value"]) if got["ids"] else ""

    def pending(self) -> list[Pending]:
        return self._call(Store._pending)

    def _pending(self) -> list[Pending]:
        got = self._manifest.get(where={"kind": "pending"}, include=["metadatas"])
        return [Pending(str(meta["doc_id"])) for meta in got["metadatas"]]

    # -- writes, in commit order ----------------------------------------------------------------
    def begin(self, doc_ids: Sequence[str]) -> None:
        """Record the intent to rewrite these documents before touching their chunks."""
        if doc_ids:
            self._call(
                lambda s: s._manifest.upsert(
                    ids=[f"pending:{d}" for d in doc_ids],
                    embeddings=[[1.0]] * len(doc_ids),
                    metadatas=[{"kind": "pending", "doc_id": d} for d in doc_ids],
                )
            )

    def put_passages(self, passages: Sequence[Passage], vectors: np.ndarray) -> None:
        for start in range(0, len(passages), PAGE):
            batch = passages[start : start + PAGE]
            self._call(
                lambda s, b=batch, v=vectors[start : start + PAGE]: s._chunks.upsert(
                    ids=[p.chunk_id for p in b],
                    embeddings=v,
                    metadatas=[p.metadata() for p in b],
                )
            )

    def commit(self, records: Sequence[DocumentRecord]) -> None:
        """One upsert makes the new versions of these documents live, all together."""
        if records:
            now = datetime.now(UTC).isoformat(timespec="seconds")
            self._call(
                lambda s: s._manifest.upsert(
                    ids=[r.doc_id for r in records],
                    embeddings=[[1.0]] * len(records),
                    metadatas=[_record_meta(r, r.ingested_at or now) for r in records],
                )
            )

    def forget(self, doc_ids: Sequence[str]) -> None:
        """Remove documents from the manifest: from this call on they are gone for readers."""
        if doc_ids:
            self._call(lambda s: s._manifest.delete(ids=list(doc_ids)))

    def sweep(self, doc_ids: Sequence[str], live: dict[str, DocumentRecord]) -> None:
        """Delete chunks of these documents that the manifest does not name, then drop the markers.

        One read and at most one delete per 200 documents: a delete per document cost more than
        writing the chunks of a fresh ingest.
        """
        for start in range(0, len(doc_ids), 200):
            where = {"doc_id": {"$in": list(doc_ids[start : start + 200])}}
            stale = [
                chunk_id
                for ids, metas in self._call(lambda s, w=where: list(_pages(s._chunks, where=w)))
                for chunk_id, meta in zip(ids, metas, strict=True)
                if (record := live.get(str(meta["doc_id"]))) is None or record.content_hash != meta["content_hash"]
            ]
            if stale:
                self._call(lambda s, ids=stale: s._chunks.delete(ids=ids))
        if doc_ids:
            self._call(lambda s: s._manifest.delete(ids=[f"pending:{d}" for d in doc_ids]))

    def bump_revision(self) -> str:
        value = uuid.uuid4().hex
        self._call(
            lambda s: s._manifest.upsert(
                ids=[REVISION_ID], embeddings=[[1.0]], metadatas=[{"kind": "revision", "value": value}]
            )
        )
        return value

    def reset(self) -> None:
        """Drop both collections (for --rebuild)."""

        def drop(s: Store) -> None:
            for name in (s.settings.collection, f"{s.settings.collection}_manifest"):
                with contextlib.suppress(Exception):  # an absent collection is fine
                    s._client.delete_collection(name)
            s._connect()

        self._call(drop)

    # -- reads ------------------------------------------------------------------------------------
    def passages_of(self, doc_ids: Sequence[str]) -> Iterator[Passage]:
        for start in range(0, len(doc_ids), 200):
            where = {"doc_id": {"$in": list(doc_ids[start : start + 200])}}
            for ids, docs, metas in self._call(lambda s, w=where: list(_pages(s._chunks, where=w, documents=True))):
                for chunk_id, text, meta in zip(ids, docs, metas, strict=True):
                    yield Passage.from_chroma(chunk_id, text, meta)

    def count(self) -> int:
        return int(self._call(lambda s: s._chunks.count()))

    def dense(self, vector: np.ndarray, n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """(chunk_id, cosine similarity) of the nearest passages. Ids only: a chunk id names its document's
        content hash, so the caller knows which are live without their metadata (a kilobyte of text each)."""
        if n <= 0:
            return []

        def query(s: Store) -> Any:
            return s._chunks.query(
                query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"]
            )

        got = self._call(query)
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(got["ids"][0], got["distances"][0], strict=True)]


def _schema(space: str) -> Any:
    """A vector index with no embedding function: without this Chroma 1.5 stores its own ONNX model in every new
    collection's schema and would embed (downloading the model) any text added without a vector. Passage text
    is never filtered on, so it gets no inverted index."""
    from chromadb.api.types import Schema, StringInvertedIndexConfig, VectorIndexConfig

    schema = Schema().create_index(VectorIndexConfig(space=space, embedding_function=None))  # type: ignore[arg-type]
    return schema.delete_index(StringInvertedIndexConfig(), key="text")


def chroma_where(filters: dict[str, Any]) -> dict[str, Any] | None:
    """Translate askpanel filters into a Chroma where clause (themes match any listed value)."""
    clauses: list[dict[str, Any]] = []
    for key, value in filters.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if key == "themes":
            ors = [{"themes": {"$contains": str(v)}} for v in values]
            clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
        elif key == "year":
            clauses.append({"year": {"$in": [int(v) for v in values]}})
        else:
            clauses.append({key: {"$in": [str(v) for v in values]}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _pages(collection: Any, where: dict[str, Any], documents: bool = False) -> Iterator[Any]:
    include = ["metadatas", "documents"] if documents else ["metadatas"]
    offset = 0
    while True:
        got = collection.get(where=where, include=include, limit=PAGE, offset=offset)
        if not got["ids"]:
            return
        yield (got["ids"], got["documents"], got["metadatas"]) if documents else (got["ids"], got["metadatas"])
        if len(got["ids"]) < PAGE:
            return
        offset += PAGE


def _record_meta(record: DocumentRecord, ingested_at: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "kind": "doc",
        "path": record.path,
        "content_hash": record.content_hash,
        "n_chunks": record.n_chunks,
        "title": record.title,
        "doc_type": record.doc_type,
        "place": record.place,
        "region": record.region,
        "themes": json.dumps(list(record.themes)),
        "year": record.year,
        "sources": json.dumps(list(record.sources)),
        "summary": record.summary,
        "ingested_at": ingested_at,
    }
    return meta


def _record_from_meta(doc_id: str, meta: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id,
        path=str(meta.get("path", "")),
        content_hash=str(meta["content_hash"]),
        n_chunks=int(meta.get("n_chunks", 0)),
        title=str(meta.get("title", "")),
        doc_type=str(meta.get("doc_type", "")),
        place=str(meta.get("place", "")),
        region=str(meta.get("region", "")),
        themes=tuple(json.loads(meta.get("themes") or "[]")),
        year=int(meta.get("year", 0) or 0),
        sources=tuple(json.loads(meta.get("sources") or "[]")),
        summary=str(meta.get("summary", "")),
        ingested_at=str(meta.get("ingested_at", "")),
    )


def _is_connection_error(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(word in text for word in ("connect", "refused", "timeout", "timed out", "unreachable", "could not"))
