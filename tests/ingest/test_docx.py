from __future__ import annotations

from pathlib import Path

import pytest

from llmforge.errors import IngestError
from llmforge.ingest.docx import check_zip, extract_docx
from tests.assets import docx_file, zip_bomb_docx

MB = 1_000_000
ARABIC = ["تهدف هذه السياسة إلى ضمان سلامة مياه الشرب.",
          "يجب على كل مشغل أن يُسجِّل قراءات الكلور مرتين في كل وردية."]


def test_body_order_tables_header_and_page_breaks(tmp_path: Path) -> None:
    path = docx_file(tmp_path / "a.docx", ["Intro paragraph.", "Second paragraph.", "After the break."],
                     table=[["Name", "Value"], ["chlorine", "0.5"]], header="Company header",
                     page_break_after=1)
    document = extract_docx(path, 50 * MB, 200)
    assert [p.page_no for p in document.pages] == [1, 2]
    first = document.pages[0].text
    assert first.index("Company header") < first.index("Intro paragraph.")
    assert first.index("Intro paragraph.") < first.index("Name | Value\nchlorine | 0.5") < first.index("Second")
    assert document.pages[1].text == "After the break."


def test_arabic_paragraphs_byte_identical(tmp_path: Path) -> None:
    path = docx_file(tmp_path / "ar.docx", ARABIC)
    text = extract_docx(path, 50 * MB, 200).pages[0].text
    assert text.split("\n\n") == ARABIC


def test_zip_bomb_refused_before_parsing(tmp_path: Path) -> None:
    bomb = zip_bomb_docx(tmp_path / "bomb.docx", 60)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(IngestError, match="zip bomb"):
        check_zip(bomb, max_unpacked=50 * MB, max_ratio=200)
    with pytest.raises(IngestError, match="compressed .*:1.*zip bomb"):
        check_zip(bomb, max_unpacked=500 * MB, max_ratio=200)


def test_corrupt_docx(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "bad.docx", "w") as archive:
        archive.writestr("word/document.xml", "<not-closed")
        archive.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(IngestError, match="corrupt DOCX"):
        extract_docx(tmp_path / "bad.docx", 50 * MB, 200)


# --- third-party files, when ../shared/corpora is present -------------------------------

@pytest.mark.parametrize("name, expected", [
    ("mammoth/tables.docx", ["Above", "Top left | Top right", "Bottom left | Bottom right", "Below"]),
    ("mammoth/text-box.docx", ["Datum plane"]),
    ("mammoth/footnotes.docx", ["Ouch.", "A tachyon walks into a bar."]),
    ("mammoth/endnotes.docx", ["A tachyon walks into a bar."]),
    ("mammoth/strict-format.docx", ["Test"]),
    ("mammoth/utf8-bom.docx", ["This XML has a byte order mark."]),
    ("python-docx/blk-paras-and-tables.docx", ["Text before Table Between Text after"]),
    ("python-docx/hdr-header-footer.docx", ["Header for section-1", "Footer for section 1"]),
])
def test_corpus_docx(corpora: Path, name: str, expected: list[str]) -> None:
    document = extract_docx(corpora / "docx" / name, 500 * MB, 200)
    text = "\n".join(page.text for page in document.pages)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} missing from {name}"


def test_corpus_body_order(corpora: Path) -> None:
    text = extract_docx(corpora / "docx/mammoth/tables.docx", 500 * MB, 200).pages[0].text
    assert text.index("Above") < text.index("Top left") < text.index("Below")


def test_corpus_odd_even_headers_once_each(corpora: Path) -> None:
    document = extract_docx(corpora / "docx/python-docx/doc-odd-even-hdrs.docx", 500 * MB, 200)
    first = document.pages[0].text
    assert first.count("Odd page header.") == 1 and "Even page header." in first


def test_corpus_empty_docx(corpora: Path) -> None:
    document = extract_docx(corpora / "docx/mammoth/empty.docx", 500 * MB, 200)
    assert [page.text for page in document.pages] == [""]
