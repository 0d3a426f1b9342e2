from __future__ import annotations

from pathlib import Path

import pytest

from llmforge.errors import IngestError
from llmforge.ingest.detect import detect
from llmforge.ingest.text import decode_text
from tests.assets import docx_file, text_pdf

ARABIC = "تغلق محطة الضخ للصيانة من الثالث إلى السابع من مارس، ويغذي الخزان المنطقة الشرقية."


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_detects_by_content_and_notes_wrong_extension(tmp_path: Path) -> None:
    pdf = write(tmp_path, "report.txt", text_pdf(["hello"]))
    found = detect(pdf)
    assert found.kind == "pdf" and "extension .txt" in found.note
    assert detect(write(tmp_path, "ok.pdf", text_pdf(["hello"]))).note == ""


def test_detects_docx_images_text(tmp_path: Path) -> None:
    assert detect(docx_file(tmp_path / "a.docx", ["hi"])).kind == "docx"
    assert detect(write(tmp_path, "a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20)).kind == "image"
    assert detect(write(tmp_path, "a.md", "# Title\n\nbody".encode())).mime == "text/markdown"


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "legacy Office"),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 100, "executable"),
    (bytes(range(256)) * 4, "binary content"),
])
def test_unsupported_content_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        detect(write(tmp_path, "x.pdf", data))


def test_zip_that_is_not_docx(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.docx", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(IngestError, match="ZIP archive that is not a DOCX"):
        detect(tmp_path / "a.docx")


def test_truncated_zip(tmp_path: Path) -> None:
    good = docx_file(tmp_path / "a.docx", ["hello"]).read_bytes()
    with pytest.raises(IngestError, match="corrupt or truncated"):
        detect(write(tmp_path, "b.docx", good[: len(good) // 2]))


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8 (BOM)"), ("utf-16", "utf-16"),
    ("cp1256", "cp1256"), ("iso-8859-6", "iso-8859-6"),
])
def test_arabic_encodings(encoding: str, expected: str) -> None:
    text = ARABIC + "\n" + ARABIC
    if encoding == "iso-8859-6":
        text = text.replace("،", ",")  # keep to characters ISO-8859-6 has
    decoded, used = decode_text(text.encode(encoding))
    assert used == expected
    assert decoded.lstrip("\ufeff") == text


def test_western_legacy_text() -> None:
    text = "Müller and Señor Ærø paid 20 € for the café."
    decoded, used = decode_text(text.encode("cp1252"))
    assert decoded == text and used == "cp1252"


def test_utf16_without_bom() -> None:
    decoded, used = decode_text("plain words here".encode("utf-16-le"))
    assert decoded == "plain words here" and used == "utf-16-le"


def test_text_mentioning_the_pdf_header_is_text(tmp_path: Path) -> None:
    note = write(tmp_path, "notes.md", b"# Notes\n\nA PDF file starts with %PDF-1.7 and ends with %%EOF.\n")
    assert detect(note).kind == "text"


def test_macro_enabled_word_is_refused(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "x.docm", "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/vbaProject.bin", b"macros")
    with pytest.raises(IngestError, match="macro-enabled"):
        detect(tmp_path / "x.docm")
