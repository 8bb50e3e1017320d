"""Check an uploaded case study by size and content, and store it under the data home with a generated name."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from .loaders import SIDECAR_SUFFIX

TEXT_SUFFIXES = (".html", ".htm", ".md", ".markdown", ".txt")
ALLOWED_SUFFIXES = (".pdf", ".docx", *TEXT_SUFFIXES)
MAX_TITLE_CHARS = 200
MAX_FIELD_CHARS = 100
MAX_THEMES = 10


class UploadError(ValueError):
    """An upload that was refused; the message is written for the person who sent it."""


def content_kind(data: bytes) -> str:
    """What the bytes are, whatever the file is called: 'pdf', 'docx', 'text' or 'unknown'."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return "docx" if "word/document.xml" in archive.namelist() else "unknown"
        except zipfile.BadZipFile:
            return "unknown"
    if b"\0" in data:
        return "unknown"
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "unknown"
    return "text"


def expected_kind(suffix: str) -> str:
    return {".pdf": "pdf", ".docx": "docx"}.get(suffix, "text")


def check_file(path: Path, client_name: str, max_mb: float) -> tuple[bytes, str]:
    """The file's bytes and its suffix, once its size, name and content all agree; else UploadError."""
    suffix = Path(client_name or "").suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadError(
            f"'{suffix or 'no extension'}' files cannot be added: use PDF, DOCX, HTML, Markdown (.md) or text (.txt)."
        )
    size = path.stat().st_size  # before reading, so an oversized file is never loaded into memory
    if size == 0:
        raise UploadError("The file is empty.")
    if size > max_mb * 1_000_000:
        raise UploadError(f"The file is {size / 1e6:.1f} MB; the limit is {max_mb:g} MB.")
    data = path.read_bytes()
    kind, wanted = content_kind(data), expected_kind(suffix)
    if kind != wanted:
        described = {"pdf": "a PDF", "docx": "a Word (DOCX) document", "text": "UTF-8 text"}[wanted]
        raise UploadError(f"The file is named {suffix} but its content is not {described}.")
    return data, suffix


def clean_field(value: str | None, name: str, limit: int = MAX_FIELD_CHARS, required: bool = False) -> str:
    text = " ".join((value or "").split())
    if required and not text:
        raise UploadError(f"Please give the case study a {name}.")
    if len(text) > limit:
        raise UploadError(f"The {name} is {len(text)} characters long; the limit is {limit}.")
    return text


def clean_themes(themes: Iterable[str] | str | None) -> list[str]:
    """Themes from a multi-select or a comma-separated string, as lower-case hyphenated tags."""
    raw = themes.split(",") if isinstance(themes, str) else list(themes or [])
    tags = ["-".join(str(t).lower().split()) for t in raw]
    tags = list(dict.fromkeys(t for t in tags if t))
    if len(tags) > MAX_THEMES or any(len(t) > MAX_FIELD_CHARS for t in tags):
        raise UploadError(f"Give at most {MAX_THEMES} themes, each under {MAX_FIELD_CHARS} characters.")
    return tags


def store_upload(folder: Path, data: bytes, suffix: str, meta: Mapping[str, object]) -> Path:
    """Write the file under a generated name, with the metadata sidecar the loader reads; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{suffix}"  # never a name or path from the client
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    sidecar.write_text(yaml.safe_dump(dict(meta), allow_unicode=True, sort_keys=False), encoding="utf-8")
    path.write_bytes(data)
    return path


def discard(path: Path) -> None:
    """Remove a stored upload and its sidecar (after a failed ingest)."""
    for file in (path, path.with_name(path.name + SIDECAR_SUFFIX)):
        file.unlink(missing_ok=True)
