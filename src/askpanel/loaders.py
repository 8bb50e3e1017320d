"""Read one source file (Markdown, text, HTML, DOCX, PDF) into a Document, or say exactly why not."""

from __future__ import annotations

import hashlib
import re
import reprlib
from pathlib import Path
from typing import Any

from .models import DOC_TYPES, Document, Section, SourceSpan

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".docx", ".pdf")
SIDECAR_SUFFIX = ".meta.yaml"
# Both patterns run in linear time on any line: a multi-megabyte line of '#', spaces or '[' must not backtrack.
_HEADING = re.compile(r"(#{1,6})\s+(\S.*)")
_MD_LINK = re.compile(r"!?\[([^\[\]]*)\]\((?:[^()]|\([^()]*\))*\)")  # a URL may hold one level of (...)
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_FRONT_MATTER_END = re.compile(r"\n---[ \t]*(?:\n|\Z)")
_SOURCE_MARK = re.compile(r"[ \t]*\[\^([A-Za-z0-9_-]+)\]")  # "... destroyed. [^bbc-fire]": the page behind the text
_SOURCE_KEY = re.compile(r"[a-z0-9][a-z0-9-]*")
EDITORIAL_KEY = "ours"  # text the editors wrote as a reading aid, not a fact from a page
_UNIT_START = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])\s+")


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, for a person to read."""


def file_hash(data: bytes, sidecar: bytes = b"") -> str:
    return hashlib.sha256(data + b"\0" + sidecar).hexdigest()


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_source(path: Path, max_bytes: int) -> tuple[bytes, bytes]:
    """The file's bytes and its optional metadata sidecar's bytes, after size and existence checks."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise LoadError("file vanished before it could be read") from exc
    if size > max_bytes:
        raise LoadError(f"file is {_size(size)}, over the {_size(max_bytes)} limit (ASKPANEL_MAX_FILE_MB)")
    if size == 0:
        raise LoadError("file is empty")
    if path.suffix.lower() not in SUPPORTED:
        raise LoadError(f"unsupported file type '{path.suffix or path.name}' (supported: {', '.join(SUPPORTED)})")
    try:
        data = path.read_bytes()
        side = sidecar_path(path)
        meta = side.read_bytes() if side.exists() else b""
    except FileNotFoundError as exc:
        raise LoadError("file vanished before it could be read") from exc
    except OSError as exc:
        raise LoadError(f"cannot read file: {exc.strerror or exc}") from exc
    return data, meta


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


def load_document(path: Path, doc_id: str, data: bytes, sidecar: bytes = b"") -> Document:
    """Parse bytes already read from `path` into a Document; raise LoadError naming the reason."""
    suffix = path.suffix.lower()
    meta: dict[str, Any] = _parse_yaml(sidecar.decode("utf-8", "replace"), "metadata sidecar") if sidecar else {}
    if suffix in (".md", ".markdown"):
        text = _decode_text(data)
        front, body = _split_front_matter(text)
        meta = {**front, **meta}
        keyed = source_keys(meta.get("sources"))
        sections = _markdown_sections(body, keyed, text[: len(text) - len(body)].count("\n"))
    elif suffix == ".txt":
        sections = [Section("", _decode_text(data))]
    elif suffix in (".html", ".htm"):
        title, sections = _html_sections(data)
        meta.setdefault("title", title)
    elif suffix == ".docx":
        title, sections = _docx_sections(data)
        meta.setdefault("title", title)
    else:
        title, sections = _pdf_sections(data)
        meta.setdefault("title", title)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise LoadError("no readable text found in the file")
    return _build_document(path, doc_id, file_hash(data, sidecar), meta, sections)


def _decode_text(data: bytes) -> str:
    if b"\0" in data[:8192]:
        raise LoadError("looks like a binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 text (bad byte at offset {exc.start})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_yaml(text: str, what: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LoadError(f"malformed {what}{where}: {getattr(exc, 'problem', None) or exc}") from exc
    except RecursionError as exc:
        raise LoadError(f"malformed {what}: nested too deeply to read") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise LoadError(f"{what} must be a mapping of fields, got {type(loaded).__name__}")
    return loaded


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        return {}, text
    close = _FRONT_MATTER_END.search(text, 3)
    if close is None:
        raise LoadError("front matter starts with '---' but has no closing '---' line")
    return _parse_yaml(text[4 : close.start()], "front matter"), text[close.end() :]


def _clean_markdown(line: str) -> str:
    return _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", line))


def source_keys(sources: Any) -> dict[str, str] | None:
    """The front matter's `sources` as {key: URL} when it is a mapping (paragraphs then name their sources
    with [^key]); None for a plain list, which keeps the older one-list-per-document behaviour."""
    if not isinstance(sources, dict):
        return None
    keys: dict[str, str] = {}
    for key, url in sources.items():
        if not isinstance(key, str) or not _SOURCE_KEY.fullmatch(key) or key == EDITORIAL_KEY:
            raise LoadError(
                f"front matter 'sources' key {_show(key)} must be lowercase letters, digits and hyphens "
                f"(and not '{EDITORIAL_KEY}', which marks the editors' own notes)"
            )
        if not isinstance(url, str) or not url.strip():
            raise LoadError(f"front matter 'sources' key '{key}' must map to a URL, got {_show(url)}")
        keys[key] = url.strip()
    return keys


def _markdown_sections(body: str, keys: dict[str, str] | None = None, line_offset: int = 0) -> list[Section]:
    """Sections under each heading. With `keys`, each paragraph's [^key] markers are taken out of the text
    and kept as spans saying which page backs which stretch of it."""
    sections: list[Section] = []
    heading, fenced = "", False
    lines: list[str] = []
    marks: list[tuple[int, int, list[str]]] = []  # (line within the section, column, keys) per marker run
    for number, line in enumerate(body.split("\n"), start=line_offset + 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.fullmatch(line)
        if match:
            sections.append(_section(heading, lines, marks, keys))
            title = _SOURCE_MARK.sub("", match.group(2)).rstrip() if keys is not None else match.group(2).rstrip()
            heading, lines, marks = _clean_markdown(title.rstrip("#").rstrip() or title), [], []
            continue
        cleaned = _clean_markdown(line)
        if keys is not None and not fenced:
            cleaned = _take_marks(cleaned, number, len(lines), keys, marks)
        lines.append(cleaned)
    sections.append(_section(heading, lines, marks, keys))
    return sections


def _take_marks(
    line: str, number: int, index: int, keys: dict[str, str], marks: list[tuple[int, int, list[str]]]
) -> str:
    """Remove the line's markers, checking each key; note where each run of markers stood."""
    out: list[str] = []
    at = 0
    for match in _SOURCE_MARK.finditer(line):
        key = match.group(1)
        if key != EDITORIAL_KEY and key not in keys:
            known = ", ".join(sorted(keys)) or "none"
            raise LoadError(f"line {number}: source key [^{key}] is not in the front matter's sources (known: {known})")
        out.append(line[at : match.start()])
        column = sum(len(piece) for piece in out)
        if marks and marks[-1][0] == index and marks[-1][1] == column:
            marks[-1][2].append(key)  # "[^a] [^b]": one run of markers
        else:
            marks.append((index, column, [key]))
        at = match.end()
    out.append(line[at:])
    return "".join(out)


def _section(
    heading: str, lines: list[str], marks: list[tuple[int, int, list[str]]], keys: dict[str, str] | None
) -> Section:
    raw = "\n".join(lines)
    text = raw.strip()
    if keys is None or not marks:
        return Section(heading, text)
    lead = len(raw) - len(raw.lstrip())
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    spans: list[SourceSpan] = []
    for line_index, column, marked in marks:
        end = starts[line_index] + column - lead
        begin = _unit_start(raw, starts, line_index) - lead
        if spans and spans[-1].end > begin:
            begin = spans[-1].end  # a second marker in one paragraph covers the text since the first
        urls = tuple(dict.fromkeys(keys[k] for k in marked if k != EDITORIAL_KEY))
        spans.append(SourceSpan(max(0, begin), max(0, end), urls, EDITORIAL_KEY in marked))
    return Section(heading, text, sources=tuple(s for s in spans if s.end > s.start))


def _unit_start(raw: str, starts: list[int], line_index: int) -> int:
    """Where the paragraph or list item holding this line begins."""
    i = line_index
    while i > 0:
        line = raw[starts[i] : starts[i + 1] - 1 if i + 1 < len(starts) else len(raw)]
        if _UNIT_START.match(line) or line.rstrip().endswith(":"):
            break
        previous = raw[starts[i - 1] : starts[i] - 1]
        if not previous.strip() or previous.rstrip().endswith(":"):
            break
        i -= 1
    return starts[i]


_BLOCKS = "h1,h2,h3,h4,h5,h6,p,li,blockquote,pre,td,th,dt,dd,figcaption"
_BLOCK_TAGS = set(_BLOCKS.split(","))
# HTML parsers take time quadratic in nesting depth (50,000 nested lists: ~40 s); browsers stop at 512 levels.
MAX_HTML_DEPTH = 512
_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*>")
_UNNESTED_TAGS = {  # void elements, then elements whose end tag may be left out: neither makes a page deeper
    *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"),
    *("html", "head", "body", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody"),
    *("tfoot", "colgroup", "caption", "rt", "rp"),
}


def _html_depth(text: str) -> int:
    """How deep the page nests elements, estimated from its tags in one linear pass, before any parsing."""
    depth = deepest = foreign = 0
    for match in _HTML_TAG.finditer(text):
        closing, name = match.group(1), match.group(2).lower()
        if name in _UNNESTED_TAGS:
            continue
        if closing:
            depth = max(0, depth - 1)
            foreign = max(0, foreign - 1) if name in ("svg", "math") else foreign
        elif not (match.group(0).endswith("/>") and (foreign or name in ("svg", "math"))):  # <x/> closes only there
            depth += 1
            deepest = max(deepest, depth)
            foreign += name in ("svg", "math")
    return deepest


def _html_sections(data: bytes) -> tuple[str, list[Section]]:
    from selectolax.lexbor import LexborHTMLParser

    text = data.decode("utf-8", "replace")
    depth = _html_depth(text)
    if depth > MAX_HTML_DEPTH:
        raise LoadError(f"HTML nests elements {depth:,} levels deep, over the limit of {MAX_HTML_DEPTH}")
    tree = LexborHTMLParser(text)
    for junk in tree.css("script,style,noscript,template,nav,footer,svg,iframe"):
        junk.decompose()
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else ""
    sections: list[Section] = []
    heading = ""
    parts: list[str] = []
    inside: dict[int, bool] = {}
    for node in tree.css(_BLOCKS):
        if _has_block_ancestor(node, inside):
            continue
        text = " ".join(node.text(separator=" ").split())
        if not text:
            continue
        if node.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            sections.append(Section(heading, "\n\n".join(parts)))
            heading, parts = text, []
            title = title or text
        else:
            parts.append(text)
    sections.append(Section(heading, "\n\n".join(parts)))
    if not any(s.text for s in sections) and tree.body is not None:
        sections = [Section("", " ".join(tree.body.text(separator=" ").split()))]
    return title, sections


def _has_block_ancestor(node: Any, inside: dict[int, bool]) -> bool:
    """Whether a block element encloses `node`; `inside` remembers the answer for every element walked through,
    so a page costs time linear in its size however deep it nests."""
    walked: list[int] = []
    found = False
    parent = node.parent
    while parent is not None:
        known = inside.get(parent.mem_id)
        if known is not None:
            found = known
            break
        if parent.tag in _BLOCK_TAGS:
            found = True
            break
        walked.append(parent.mem_id)
        parent = parent.parent
    for mem_id in walked:
        inside[mem_id] = found
    return found


MAX_DOCX_UNZIPPED = 100_000_000  # bytes a DOCX may unzip to: a zip bomb must fail before it fills memory


def _docx_sections(data: bytes) -> tuple[str, list[Section]]:
    import io
    import zipfile

    import docx
    from lxml.etree import LxmlError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # A member never inflates past its declared size (zipfile stops there and checks the CRC).
            unzipped = sum(member.file_size for member in archive.infolist())
        if unzipped > MAX_DOCX_UNZIPPED:
            raise LoadError(
                f"DOCX unzips to {_size(unzipped)}, over the {_size(MAX_DOCX_UNZIPPED)} limit (a zip bomb?)"
            )
        document = docx.Document(io.BytesIO(data))
        title = document.core_properties.title or ""
    except (zipfile.BadZipFile, KeyError, ValueError, LxmlError) as exc:
        raise LoadError(f"not a readable DOCX file ({exc})") from exc
    sections: list[Section] = []
    heading = ""
    parts: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        style = para.style.name if para.style is not None else ""
        if not text:
            continue
        if style == "Title":
            title = title or text
        elif style.startswith("Heading"):
            sections.append(Section(heading, "\n\n".join(parts)))
            heading, parts = text, []
        else:
            parts.append(text)
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    sections.append(Section(heading, "\n\n".join(parts)))
    return title, sections


def _pdf_sections(data: bytes) -> tuple[str, list[Section]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.startswith(b"%PDF"):
        raise LoadError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("PDF is encrypted with a password")
        labels = list(reader.page_labels)
        pages = [page.extract_text() or "" for page in reader.pages]
        info_title = (reader.metadata.title if reader.metadata else "") or ""
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise LoadError(f"cannot read PDF (damaged or truncated?): {exc}") from exc
    except Exception as exc:  # pypdf raises bare exceptions on some damaged files
        if "encrypt" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise LoadError("PDF is encrypted with a password") from exc
        raise LoadError(f"cannot read PDF (damaged or truncated?): {exc}") from exc
    sections = [Section("", text, labels[i] if i < len(labels) else str(i + 1)) for i, text in enumerate(pages)]
    if not any(s.text.strip() for s in sections):
        raise LoadError("PDF has no extractable text (scanned images only?)")
    return str(info_title), sections


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxstring, _SHOW.maxother = 2, 60, 60


def _show(value: Any) -> str:
    """A short repr: YAML aliases can make a value that prints as billions of items ("billion laughs")."""
    return _SHOW.repr(value)


def _field(meta: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = meta.get(name, default)
    if value is None:
        return default
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
            raise LoadError(f"front matter field '{name}' must be a whole number, got {_show(value)}")
        return int(value)
    if kind is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in value):
            raise LoadError(f"front matter field '{name}' must be a list of text items, got {_show(value)}")
        return tuple(str(v).strip() for v in value if str(v).strip())
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise LoadError(f"front matter field '{name}' must be text, got {type(value).__name__}")
    return " ".join(str(value).split())


def _build_document(
    path: Path, doc_id: str, content_hash: str, meta: dict[str, Any], sections: list[Section]
) -> Document:
    doc_type = _field(meta, "doc_type", str, "case_study")
    if doc_type not in DOC_TYPES:
        raise LoadError(f"front matter field 'doc_type' must be one of {', '.join(DOC_TYPES)}, got {doc_type!r}")
    raw_sources = meta.get("sources")
    keyed = source_keys(raw_sources)
    sources = tuple(dict.fromkeys(keyed.values())) if keyed is not None else _field(meta, "sources", tuple, ())
    return Document(
        doc_id=doc_id,
        path=str(path),
        content_hash=content_hash,
        title=_field(meta, "title", str, "") or path.stem.replace("-", " ").replace("_", " "),
        doc_type=doc_type,
        sections=sections,
        place=_field(meta, "place", str, ""),
        region=_field(meta, "region", str, ""),
        themes=_field(meta, "themes", tuple, ()),
        year=_field(meta, "year", int, 0),
        sources=sources,
        summary=_field(meta, "summary", str, ""),
    )
