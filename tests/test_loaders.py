"""Loaders: every supported format becomes a Document with the right text, sections, title and pages;
every unreadable file raises LoadError with a reason a person can act on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from askpanel.chunking import chunk_document
from askpanel.loaders import LoadError, file_hash, load_document, read_source

MB = 1_000_000


# -- real files, generated ------------------------------------------------------------------------------


def make_pdf(pages: list[str], title: str = "", labels: list[tuple[int, str, int]] | None = None) -> bytes:
    """A real PDF: one page per text (fpdf2), with printed page labels set by pypdf.

    `labels` holds (first page index, style, start number): style "/r" is lower roman, "/D" decimal.
    """
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    data = bytes(pdf.output())
    if not labels:
        return data
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for first, style, start in labels:
        writer.set_page_label(first, len(pages) - 1, style=style, start=start)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(title: str, sections: list[tuple[str, list[str]]], intro: str = "") -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)  # the "Title" style
    if intro:
        document.add_paragraph(intro)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)  # "Heading 1"
        for text in paragraphs:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


REPORT_PAGES = [
    "Foreword. The panel thanks the councils that gave evidence.",
    "Contents. One: pooling budgets. Two: sharing data.",
    "Pooling budgets. Swindon pooled money from five agencies around each family.",
    "Sharing data. Oldham signed one protocol with every partner.",
    "Results. Repeat police calls fell by a third.",
]
ROMAN_THEN_ARABIC = [(0, "/r", 1), (2, "/D", 1)]  # i, ii, then 1, 2, 3


def load(path: Path, data: bytes, sidecar: bytes = b""):  # type: ignore[no-untyped-def]
    return load_document(path, f"t/{path.name}", data, sidecar)


# -- formats ------------------------------------------------------------------------------------------


def test_pdf_sections_are_pages_carrying_their_printed_labels(tmp_path: Path) -> None:
    data = make_pdf(REPORT_PAGES, title="Panel Report", labels=ROMAN_THEN_ARABIC)

    doc = load(tmp_path / "report.pdf", data)

    assert doc.title == "Panel Report"
    assert [s.page for s in doc.sections] == ["i", "ii", "1", "2", "3"]
    for section, text in zip(doc.sections, REPORT_PAGES, strict=True):
        assert " ".join(section.text.split()) == text


def test_passages_from_a_pdf_keep_the_label_of_their_page(tmp_path: Path) -> None:
    doc = load(tmp_path / "report.pdf", make_pdf(REPORT_PAGES, labels=ROMAN_THEN_ARABIC))

    passages = chunk_document(doc)

    by_page = {p.page: p.text for p in passages}
    assert "thanks the councils" in by_page["i"]
    assert "Contents" in by_page["ii"]
    assert "Oldham signed one protocol" in by_page["2"]
    assert "fell by a third" in by_page["3"]
    assert all(p.page for p in passages), "every PDF passage names its page"


def test_pdf_without_labels_numbers_pages_from_one_and_titles_from_the_file_name(tmp_path: Path) -> None:
    doc = load(tmp_path / "panel-evidence_2014.pdf", make_pdf(["First page text.", "Second page text."]))

    assert [s.page for s in doc.sections] == ["1", "2"]
    assert doc.title == "panel evidence 2014"


def test_pdf_blank_pages_are_dropped_but_the_others_keep_their_labels(tmp_path: Path) -> None:
    doc = load(tmp_path / "r.pdf", make_pdf(["Cover text.", "", "Body text."], labels=[(0, "/r", 1)]))

    assert [(s.page, s.text.strip()) for s in doc.sections] == [("i", "Cover text."), ("iii", "Body text.")]


def test_pdf_with_only_an_owner_password_is_readable(tmp_path: Path) -> None:
    data = encrypt_pdf(make_pdf(REPORT_PAGES[:2]), user_password="")

    doc = load(tmp_path / "locked-for-editing.pdf", data)

    assert "panel thanks the councils" in doc.sections[0].text


def test_docx_title_style_names_the_document_and_heading_1_starts_sections(tmp_path: Path) -> None:
    data = make_docx(
        "Swindon LIFE programme",
        [
            ("What they did", ["Swindon built a team around each family.", "Staff came from five agencies."]),
            ("What happened", ["Costs per family fell."]),
        ],
        intro="An experiment in whole-family working.",
    )

    doc = load(tmp_path / "swindon.docx", data)

    assert doc.title == "Swindon LIFE programme"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("", "An experiment in whole-family working."),
        ("What they did", "Swindon built a team around each family.\n\nStaff came from five agencies."),
        ("What happened", "Costs per family fell."),
    ]


def test_docx_tables_are_kept_as_rows_of_cells(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Spending by year.")
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Year", (0, 1): "Cost", (1, 0): "2014", (1, 1): "£1.2m"}.items():
        table.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)

    doc = load(tmp_path / "costs.docx", out.getvalue())

    assert doc.sections[-1].text.endswith("Year | Cost\n\n2014 | £1.2m")


HTML_PAGE = """<!doctype html>
<html><head><title>Margate Task Force</title><style>p { color: red }</style>
<script>var tracking = "do not index me";</script></head>
<body><nav>Home | About | Contact</nav>
<p>Margate brought agencies together in Cliftonville.</p>
<h2>What they did</h2>
<p>They <b>co-located</b> staff from:</p>
<ul>
  <li>Police
    <ul><li>Neighbourhood officers</li><li>PCSOs</li></ul>
  </li>
  <li>Housing</li>
</ul>
<h2>What happened</h2>
<p>Reports of anti-social behaviour fell.</p>
<footer>Copyright notice</footer>
</body></html>"""


def test_html_title_h2_sections_and_nested_lists(tmp_path: Path) -> None:
    doc = load(tmp_path / "margate.html", HTML_PAGE.encode())

    assert doc.title == "Margate Task Force"
    assert [s.heading for s in doc.sections] == ["", "What they did", "What happened"]
    assert doc.sections[0].text == "Margate brought agencies together in Cliftonville."
    did = doc.sections[1].text.split("\n\n")
    assert did == ["They co-located staff from:", "Police Neighbourhood officers PCSOs", "Housing"]
    assert doc.sections[2].text == "Reports of anti-social behaviour fell."
    everything = " ".join(s.text for s in doc.sections)
    for junk in ("do not index me", "color: red", "Home | About", "Copyright notice"):
        assert junk not in everything


def test_html_without_a_title_element_takes_the_first_heading(tmp_path: Path) -> None:
    doc = load(tmp_path / "page.htm", b"<h1>Leeds Families First</h1><p>Leeds pooled family data.</p>")

    assert doc.title == "Leeds Families First"
    assert [(s.heading, s.text) for s in doc.sections] == [("Leeds Families First", "Leeds pooled family data.")]


MARKDOWN = """---
title: "Oldham: early help data sharing"
doc_type: case_study
place: Oldham
region: North West
themes: [information-sharing, early-help]
year: 2013
sources:
  - https://example.org/oldham
summary: >
  How Oldham   shared data
  for early help.
---
Oldham wanted one view of each family.

## What they did
They signed a **single** protocol, see [the guide](https://example.org/guide).

```
# not a heading inside a code fence
```

## What happened
Referrals came faster.
"""


def test_markdown_front_matter_becomes_metadata_and_headings_become_sections(tmp_path: Path) -> None:
    doc = load(tmp_path / "oldham.md", MARKDOWN.encode())

    assert (doc.title, doc.doc_type, doc.place, doc.region, doc.year) == (
        "Oldham: early help data sharing",
        "case_study",
        "Oldham",
        "North West",
        2013,
    )
    assert doc.themes == ("information-sharing", "early-help")
    assert doc.sources == ("https://example.org/oldham",)
    assert doc.summary == "How Oldham shared data for early help."
    assert [s.heading for s in doc.sections] == ["", "What they did", "What happened"]
    assert doc.sections[0].text == "Oldham wanted one view of each family."
    assert "They signed a single protocol, see the guide." in doc.sections[1].text
    assert "# not a heading inside a code fence" in doc.sections[1].text
    assert doc.sections[2].text == "Referrals came faster."


def test_markdown_passages_carry_the_front_matter_and_source_url(tmp_path: Path) -> None:
    passages = chunk_document(load(tmp_path / "oldham.md", MARKDOWN.encode()))

    assert {p.place for p in passages} == {"Oldham"}
    assert {p.url for p in passages} == {"https://example.org/oldham"}
    assert [p.section for p in passages] == ["", "What they did", "What happened"]


@pytest.mark.parametrize(
    ("text", "title", "body"),
    [
        ("---\n---\nBody only.\n", "empty front matter", "Body only."),
        ("---\ntitle: T\n---", "T", None),  # front matter and nothing else: no text, so a LoadError
        ("---\r\ntitle: Windows\r\n---\r\nCRLF body.\r\n", "Windows", "CRLF body."),
        ("\ufeff---\ntitle: With BOM\n---\nBOM body.\n", "With BOM", "BOM body."),
        ("No front matter at all.\n", "empty front matter", "No front matter at all."),
    ],
)
def test_markdown_front_matter_edge_cases(tmp_path: Path, text: str, title: str, body: str | None) -> None:
    path = tmp_path / "empty-front-matter.md"
    if body is None:
        with pytest.raises(LoadError, match="no readable text"):
            load(path, text.encode())
        return
    doc = load(path, text.encode())
    assert doc.title == title
    assert [s.text for s in doc.sections] == [body]


def test_metadata_sidecar_overrides_front_matter_and_types_any_format(tmp_path: Path) -> None:
    sidecar = b"title: Panel report\ndoc_type: report\nyear: 2014\nthemes: devolution\n"

    doc = load(tmp_path / "report.pdf", make_pdf(REPORT_PAGES[:1]), sidecar)

    assert (doc.title, doc.doc_type, doc.year, doc.themes) == ("Panel report", "report", 2014, ("devolution",))
    assert doc.content_hash == file_hash(make_pdf(REPORT_PAGES[:1]), sidecar)


def test_plain_text_is_one_untitled_section(tmp_path: Path) -> None:
    doc = load(tmp_path / "notes_on-melton.txt", b"Melton co-located services.\r\nIt worked.\r\n")

    assert doc.title == "notes on melton"
    assert doc.doc_type == "case_study"
    assert [(s.heading, s.text) for s in doc.sections] == [("", "Melton co-located services.\nIt worked.\n")]


def test_content_hash_covers_file_and_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    base = load(path, b"Some text.").content_hash

    assert load(path, b"Some text.").content_hash == base
    assert load(path, b"Some text!").content_hash != base
    assert load(path, b"Some text.", b"title: X\n").content_hash != base


# -- bad input: each raises LoadError saying why ----------------------------------------------------------


def _truncated_pdf() -> bytes:
    data = make_pdf(REPORT_PAGES * 4)
    return data[: len(data) * 2 // 3]


def _corrupt_pdf() -> bytes:
    return b"%PDF-1.7\n" + b"\x8f\x02garbage that is not a PDF object\n" * 50


BAD_CONTENT = [
    # (name, bytes, reason pattern)
    ("encrypted.pdf", lambda: encrypt_pdf(make_pdf(REPORT_PAGES), "s3cret"), r"PDF is encrypted with a password"),
    ("truncated.pdf", _truncated_pdf, r"cannot read PDF \(damaged or truncated\?\)"),
    ("corrupt.pdf", _corrupt_pdf, r"cannot read PDF \(damaged or truncated\?\)"),
    ("renamed.pdf", lambda: b"PK\x03\x04 a zip file with a pdf name", r"not a PDF file \(no %PDF header\)"),
    ("scanned.pdf", lambda: make_pdf(["", ""]), r"PDF has no extractable text"),
    ("not-really.docx", lambda: b"plain words, not a zip", r"not a readable DOCX file"),
    ("binary.md", lambda: bytes(range(256)) * 8, r"looks like a binary file \(contains NUL bytes\)"),
    (
        "latin1.txt",
        lambda: "Caf\u00e9 culture in Margate".encode("latin-1"),
        r"not valid UTF-8 text \(bad byte at offset 3\)",
    ),
    ("whitespace.md", lambda: b"   \n\n\t\n", r"no readable text found"),
    ("bad-yaml.md", lambda: b"---\ntitle: [unclosed\n---\nBody.\n", r"malformed front matter at line \d+"),
    ("unclosed.md", lambda: b"---\ntitle: Never closed\nBody.\n", r"no closing '---' line"),
    ("list-front.md", lambda: b"---\n- a\n- b\n---\nBody.\n", r"front matter must be a mapping of fields, got list"),
    ("year-word.md", lambda: b"---\nyear: twenty\n---\nBody.\n", r"'year' must be a whole number, got 'twenty'"),
    ("year-bool.md", lambda: b"---\nyear: true\n---\nBody.\n", r"'year' must be a whole number, got True"),
    ("blog.md", lambda: b"---\ndoc_type: blog\n---\nBody.\n", r"'doc_type' must be one of report, .*got 'blog'"),
    ("title-map.md", lambda: b"---\ntitle: {a: 1}\n---\nBody.\n", r"'title' must be text, got dict"),
    ("themes-map.md", lambda: b"---\nthemes: {a: 1}\n---\nBody.\n", r"'themes' must be a list of text items"),
]


@pytest.mark.parametrize(("name", "make", "reason"), BAD_CONTENT, ids=[case[0] for case in BAD_CONTENT])
def test_unreadable_content_is_refused_with_its_reason(tmp_path: Path, name: str, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LoadError, match=reason):
        load(tmp_path / name, make())


def test_malformed_sidecar_is_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"malformed metadata sidecar at line \d+"):
        load(tmp_path / "report.txt", b"Text.", b"title: [oops\n")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", r"file is empty"),
        ("slides.pptx", b"PK\x03\x04", r"unsupported file type '\.pptx' \(supported: \.md, "),
        ("Makefile", b"all:\n", r"unsupported file type 'Makefile'"),
        ("big.txt", b"x" * 10_001, r"file is 10,001 bytes, over the 10,000 bytes limit \(ASKPANEL_MAX_FILE_MB\)"),
    ],
)
def test_files_refused_before_parsing(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(LoadError, match=reason):
        read_source(path, max_bytes=10_000)


def test_a_200_mb_file_is_refused_from_its_size_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as handle:
        handle.truncate(200 * MB)  # sparse: takes no disk space, but stat() says 200 MB
    opened: list[Path] = []
    real_read_bytes = Path.read_bytes

    def spy(self: Path) -> bytes:
        opened.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", spy)

    with pytest.raises(LoadError, match=r"file is 200\.0 MB, over the 50\.0 MB limit"):
        read_source(path, max_bytes=50 * MB)
    assert opened == []


def test_a_file_that_vanishes_is_reported_as_vanished(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="file vanished before it could be read"):
        read_source(tmp_path / "gone.md", max_bytes=MB)


def test_a_file_that_cannot_be_opened_is_reported_with_the_os_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.md"
    path.write_text("Text.")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # tests run as root here, so chmod 000 would not stop a read

    with pytest.raises(LoadError, match="cannot read file: Permission denied"):
        read_source(path, max_bytes=MB)


def test_sidecar_is_read_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7 stub")
    (tmp_path / "report.pdf.meta.yaml").write_bytes(b"doc_type: report\n")

    assert read_source(path, max_bytes=MB) == (b"%PDF-1.7 stub", b"doc_type: report\n")
