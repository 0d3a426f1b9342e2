"""DOCX: body paragraphs and tables in document order, text boxes, headers and footers,
footnotes and endnotes.

``Document.paragraphs`` skips tables, and run text skips text boxes, so the body is walked as
XML. Pages: a DOCX has no fixed pagination, but Word records where it last broke pages
(``w:lastRenderedPageBreak``) and explicit breaks (``w:br w:type="page"``); both start a new page,
which gives citations a page number close to what the author saw.

A DOCX is a ZIP archive: its declared sizes and compression ratios are checked before any XML is
parsed (see :func:`check_zip`), so a zip bomb is refused in milliseconds.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmforge.errors import IngestError
from llmforge.ingest.detect import main_part_name
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
PAGE_BREAK = "\x0c"  # internal marker, never stored
_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml."
_HEADER_FOOTER = (_CT + "header+xml", _CT + "footer+xml")
_NOTES = (_CT + "footnotes+xml", _CT + "endnotes+xml")
_SKIP = {W + "delText", W + "instrText", W + "rPr", W + "pPr", W + "fldData"}


def check_zip(path: Path, max_unpacked: int, max_ratio: float, max_entries: int = 10000) -> None:
    """Refuse a ZIP whose declared content is too large, too many or too compressed.

    Raises:
        IngestError: naming the limit that was hit.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"corrupt or truncated DOCX: {exc}") from None
    if len(entries) > max_entries:
        raise IngestError(f"DOCX holds {len(entries)} parts, over the limit of {max_entries}")
    total = sum(entry.file_size for entry in entries)
    if total > max_unpacked:
        raise IngestError(f"DOCX would unpack to {total} bytes, over the limit of {max_unpacked} "
                          "(ingest.max_unpacked_mb): refused as a possible zip bomb")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > 1_000_000 and ratio > max_ratio:
            raise IngestError(f"DOCX part {entry.filename} is compressed {ratio:.0f}:1, over the "
                              f"limit of {max_ratio:g}:1 (ingest.max_zip_ratio): refused as a possible zip bomb")


def extract_docx(path: Path, max_unpacked: int, max_ratio: float) -> ExtractedDocument:
    check_zip(path, max_unpacked, max_ratio)
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # noqa: BLE001 — python-docx raises many types for broken files
        strict = _strict_body(path)
        if strict is None:
            raise IngestError(f"corrupt DOCX: {type(exc).__name__}: {exc}") from None
        pages = _paginate(strict)
        return ExtractedDocument(
            pages=[ExtractedPage(page_no=i + 1, text=t, method="docx") for i, t in enumerate(pages)],
            metadata={"page_count": len(pages)},
            notes=["ISO Strict DOCX: body text only (no headers, footers or notes)"])
    pages = _paginate(document.element.body)
    package_parts = list(document.part.package.iter_parts())
    furniture = _parts_text(package_parts, _HEADER_FOOTER)
    notes = _parts_text(package_parts, _NOTES)
    if furniture:
        pages[0] = "\n\n".join([*furniture, pages[0]]).strip("\n")
    if notes:
        pages[-1] = "\n\n".join([pages[-1], *notes]).strip("\n")
    props = document.core_properties
    metadata = {
        "title": props.title or "",
        "author": props.author or "",
        "created": props.created.isoformat() if props.created else "",
        "page_count": len(pages),
    }
    extracted = [ExtractedPage(page_no=i + 1, text=text, method="docx") for i, text in enumerate(pages)]
    notes_for_operator = []
    if furniture:
        notes_for_operator.append(f"{len(furniture)} distinct header/footer texts put before page 1")
    return ExtractedDocument(pages=extracted, metadata=metadata, notes=notes_for_operator)


def _paginate(body: Any) -> list[str]:
    text = "\n\n".join(_blocks(body))
    pages = [page.strip("\n") for page in text.split(PAGE_BREAK)]
    return [page for page in pages if page.strip()] or [""]


_STRICT_NAMESPACES = {
    b"http://purl.oclc.org/ooxml/wordprocessingml/main": W[1:-1].encode(),
    b"http://purl.oclc.org/ooxml/officeDocument/relationships": (
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"),
}


def _strict_body(path: Path) -> Any | None:
    """The body of an ISO Strict DOCX (which python-docx cannot open), read as transitional."""
    from docx.oxml import parse_xml

    try:
        with zipfile.ZipFile(path) as archive:
            rels = archive.read("_rels/.rels")
            if b"purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" not in rels:
                return None
            xml = archive.read(main_part_name(archive) or "word/document.xml")
        for strict, transitional in _STRICT_NAMESPACES.items():
            xml = xml.replace(strict, transitional)
        return parse_xml(xml).find(W + "body")
    except Exception:  # noqa: BLE001 — not a readable Strict document either
        return None


def _parts_text(parts: list[Any], content_types: tuple[str, ...]) -> list[str]:
    """Distinct non-empty texts of the package parts of the given types, in package order."""
    from docx.oxml import parse_xml

    seen: list[str] = []
    for part in parts:
        if part.content_type not in content_types:
            continue
        root = parse_xml(part.blob)
        for note in root.iter(W + "footnote", W + "endnote"):
            if note.get(W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
                note.getparent().remove(note)
        text = "\n\n".join(_blocks(root)).replace(PAGE_BREAK, "").strip()
        if text and text not in seen:
            seen.append(text)
    return seen


def _blocks(container: Any) -> Iterator[str]:
    """Text of each block-level element (paragraph, table, content control) in order."""
    for child in container.iterchildren():
        tag = child.tag
        if tag == W + "p":
            text, boxes = _paragraph(child)
            if text.strip(" \t") or PAGE_BREAK in text:
                yield text
            yield from boxes
        elif tag == W + "tbl":
            table = _table(child)
            if table:
                yield table
        elif tag in (W + "sdt", W + "sdtContent", W + "customXml", W + "footnote", W + "endnote",
                     W + "hdr", W + "ftr", W + "body", W + "txbxContent"):
            yield from _blocks(child)


def _paragraph(p: Any) -> tuple[str, list[str]]:
    """A paragraph's text (page breaks as markers) and the text boxes anchored in it."""
    pieces: list[str] = []
    boxes: list[str] = []

    def walk(element: Any) -> None:
        for child in element.iterchildren():
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP:
                continue
            if tag == W + "t":
                pieces.append(child.text or "")
            elif tag == W + "tab":
                pieces.append("\t")
            elif tag in (W + "br", W + "cr"):
                pieces.append(PAGE_BREAK if child.get(W + "type") == "page" else "\n")
            elif tag == W + "lastRenderedPageBreak":
                pieces.append(PAGE_BREAK)
            elif tag == W + "noBreakHyphen":
                pieces.append("-")
            elif tag == W + "txbxContent":
                boxes.extend(b for b in _blocks(child) if b.strip())
            elif tag == MC + "AlternateContent":
                choice = child.find(MC + "Choice")
                walk(choice if choice is not None else child)
            else:
                walk(child)

    walk(p)
    text = "".join(pieces)
    # A rendered break right after an explicit one (or at the very start) is the same break.
    while PAGE_BREAK * 2 in text:
        text = text.replace(PAGE_BREAK * 2, PAGE_BREAK)
    return text, boxes


def _table(tbl: Any) -> str:
    """Rows as ``cell | cell | cell`` lines, so a table reads (and embeds) row by row."""
    rows = []
    for tr in tbl.iterchildren(W + "tr"):
        cells = []
        for tc in tr.iterchildren(W + "tc"):
            text = " ".join(b.replace("\n", " ").strip() for b in _blocks(tc))
            cells.append(text.replace(PAGE_BREAK, " ").strip())
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
