"""Identify a file by its content (magic bytes), not its name, and check size limits early."""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from llmforge.errors import IngestError

PDF, DOCX, TEXT, IMAGE = "pdf", "docx", "text", "image"

_EXTENSIONS = {
    PDF: {".pdf"},
    DOCX: {".docx"},
    TEXT: {".txt", ".md", ".markdown", ".text", ".csv", ".tsv", ".rst", ".log", ""},
    IMAGE: {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"},
}
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_REFUSED_MAGIC = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls); save it as DOCX or PDF"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; unpack it first"),
    (b"Rar!", "a RAR archive; unpack it first"),
    (b"\x7fELF", "an executable, not a document"),
    (b"{\\rtf", "an RTF file; save it as DOCX or PDF"),
)


@dataclass(frozen=True)
class Detected:
    kind: str        # pdf, docx, text, image
    mime: str
    note: str = ""   # e.g. the extension disagreed with the content


def detect(path: Path, head: bytes | None = None) -> Detected:
    """What ``path`` really is.

    Raises:
        IngestError: empty, unsupported or unrecognisable content.
    """
    if head is None:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    if not head:
        raise IngestError("empty file")
    detected = _by_content(path, head)
    suffix = path.suffix.lower()
    if suffix not in _EXTENSIONS[detected.kind]:
        note = f"extension {suffix or '(none)'} but the content is {detected.kind.upper()}; read as {detected.kind}"
        return Detected(detected.kind, detected.mime, note)
    return detected


def _by_content(path: Path, head: bytes) -> Detected:
    # Readers accept junk before the header (within the first KiB); a text file that merely
    # mentions "%PDF-" is still text.
    if head[:1024].lstrip(b"\x00\t\n\r\f ").startswith(b"%PDF-") or (
            b"%PDF-" in head[:1024] and not _looks_like_text(head)):
        return Detected(PDF, "application/pdf")
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    for magic, mime in _IMAGE_MAGIC:
        if head.startswith(magic):
            return Detected(IMAGE, mime)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Detected(IMAGE, "image/webp")
    for magic, what in _REFUSED_MAGIC:
        if head.startswith(magic):
            raise IngestError(f"unsupported file type: {what}")
    if _looks_like_text(head):
        return Detected(TEXT, "text/markdown" if path.suffix.lower() in {".md", ".markdown"} else "text/plain")
    raise IngestError("unsupported file type: binary content that is not PDF, DOCX, text or an image")


def _zip_kind(path: Path) -> Detected:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            main = main_part_name(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"corrupt or truncated ZIP/DOCX container: {exc}") from None
    if any(name == "vbaProject.bin" or name.endswith("/vbaProject.bin") for name in names):
        raise IngestError("unsupported file type: a macro-enabled Word file (.docm); save it as DOCX")
    if main or "word/document.xml" in names or any(n.startswith("word/document") for n in names):
        return Detected(DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
        raise IngestError("unsupported file type: an Excel or PowerPoint file (only DOCX among Office formats)")
    raise IngestError("unsupported file type: a ZIP archive that is not a DOCX; unpack it first")


_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_OFFICE_DOCUMENT = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
                    "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument")
_WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_MAX_PACKAGE_XML = 1_000_000  # relationships and content types are a few KB; more is not a DOCX


def main_part_name(archive: zipfile.ZipFile) -> str | None:
    """The archive member holding a Word package's main document, found the way Word finds it.

    The package relationships (``_rels/.rels``) name the officeDocument part; most producers put it
    at ``word/document.xml`` but any name is valid, so the name alone proves nothing. The part must
    exist and ``[Content_Types].xml`` must declare it a Word main document (an Excel or PowerPoint
    package has an officeDocument relationship too). None when the archive is not such a package.
    Both files are read only when small, so a crafted archive cannot make this step expensive.
    """
    rels = _small_xml(archive, "_rels/.rels")
    types = _small_xml(archive, "[Content_Types].xml")
    if rels is None or types is None:
        return None
    for relationship in rels.iter(_RELATIONSHIP):
        if relationship.get("Type") in _OFFICE_DOCUMENT and relationship.get("TargetMode") != "External":
            name = posixpath.normpath(relationship.get("Target", "").lstrip("/"))
            if name in archive.NameToInfo and _content_type(types, name) == _WORD_MAIN:
                return name
    return None


def _small_xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    info = archive.NameToInfo.get(name)
    if info is None or info.file_size > _MAX_PACKAGE_XML:
        return None
    try:
        return ElementTree.fromstring(archive.read(info))
    except (ElementTree.ParseError, zipfile.BadZipFile, OSError, ValueError):
        return None


def _content_type(types: ElementTree.Element, name: str) -> str:
    """The content type [Content_Types].xml gives part ``name``: its Override, else its Default."""
    default = ""
    extension = name.rpartition(".")[2].lower()
    for entry in types:
        tag = entry.tag.rpartition("}")[2]
        if tag == "Override" and entry.get("PartName", "").lstrip("/") == name:
            return entry.get("ContentType", "")
        if tag == "Default" and entry.get("Extension", "").lower() == extension:
            default = entry.get("ContentType", "")
    return default


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in head:
        return utf16_without_bom(head) is not None
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls <= len(head) * 0.01


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when every other byte is NUL (ASCII-range UTF-16), else None."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 8:
        return None
    even_nul = sample[0::2].count(0) / (len(sample) / 2)
    odd_nul = sample[1::2].count(0) / (len(sample) / 2)
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None
