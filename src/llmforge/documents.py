"""Documents in the catalog: list, show, delete; one page with a cited passage marked; the
original file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from llmforge.catalog import LATEST_VERSION, resolve_document_id, transaction
from llmforge.errors import NotFoundError
from llmforge.project import Project
from llmforge.textstore import page_texts

_LIST_COLUMNS = ("id", "source_path", "version", "status", "error", "kind", "title", "page_count",
                 "languages", "size", "ingested_at")
# how the pages' text was read (text, text-layer, docx, ocr:tesseract...) and the OCR pages' mean confidence
_PAGE_SUMMARY = ("(SELECT list(DISTINCT p.method ORDER BY p.method) FROM pages p WHERE p.document_id = documents.id)",
                 "(SELECT avg(p.ocr_confidence) FROM pages p WHERE p.document_id = documents.id)")

def list_documents(project: Project, include_all: bool = False) -> list[dict[str, Any]]:
    """Documents, newest first: the latest version of each path, plus failures; ``include_all``
    adds superseded versions. Each says how its pages were read (``methods``) and, for OCR pages,
    the mean ``ocr_confidence`` (None without any)."""
    where = "" if include_all else f"WHERE status = 'failed' OR {LATEST_VERSION}"
    with project.catalog() as conn:
        rows = conn.execute(f"SELECT {', '.join(_LIST_COLUMNS + _PAGE_SUMMARY)} FROM documents {where} "
                            "ORDER BY ingested_at DESC, source_path").fetchall()
    return [dict(zip((*_LIST_COLUMNS, "methods", "ocr_confidence"), row)) for row in rows]


def show_document(project: Project, prefix: str) -> dict[str, Any]:
    """Everything the catalog knows of one document, with each page's text and method."""
    with project.catalog() as conn:
        document_id = resolve_document_id(conn, prefix)
        cursor = conn.execute("SELECT * FROM documents WHERE id = ?", [document_id])
        names = [d[0] for d in cursor.description]
        document = dict(zip(names, cursor.fetchone()))
        cursor = conn.execute("SELECT page_no, method, ocr_confidence, language, deskew_angle, rotation, chars "
                              "FROM pages WHERE document_id = ? ORDER BY page_no", [document_id])
        names = [d[0] for d in cursor.description]
        document["pages"] = [dict(zip(names, row)) for row in cursor.fetchall()]
    texts = dict(page_texts(project, [document_id])[document_id])
    for page in document["pages"]:
        page["text"] = texts[page["page_no"]]
    if isinstance(document.get("metadata"), str):
        document["metadata"] = json.loads(document["metadata"])
    return document


def delete_document(project: Project, prefix: str, *, wait: float | None = None) -> dict[str, Any]:
    """Remove a document, its pages, chunks, entities and vectors; the original's blob goes too
    when no other document shares the content. (Should this stop half-way, the next
    ``structure`` run removes the chunks of a document that no longer exists.)

    Holds the project writer lock, waiting ``wait`` seconds for it (default: setting lock.wait);
    an id that names no document is refused first, without waiting for the lock.
    """
    with project.catalog() as conn:
        resolve_document_id(conn, prefix)
    with project.writer_lock("documents delete", wait):
        return _delete(project, prefix)   # resolved again under the lock: it may have gone meanwhile


def _delete(project: Project, prefix: str) -> dict[str, Any]:
    from llmforge.structure.pipeline import remove_documents

    with project.catalog() as conn:
        document_id = resolve_document_id(conn, prefix)
        sha256, text_sha256, path = conn.execute(
            "SELECT sha256, text_sha256, source_path FROM documents WHERE id = ?", [document_id]).fetchone()
        with transaction(conn):
            pages = conn.execute("DELETE FROM pages WHERE document_id = ?", [document_id]).fetchone()[0]
            conn.execute("DELETE FROM documents WHERE id = ?", [document_id])
        orphans = [blob for blob in (sha256, text_sha256) if blob and not conn.execute(
            "SELECT count(*) FROM documents WHERE sha256 = ? OR text_sha256 = ?", [blob, blob]).fetchone()[0]]
    remove_documents(project, [document_id])
    store = project.blobs()
    for blob in orphans:
        store.delete(blob)
    return {"id": document_id, "source_path": path, "pages_deleted": pages, "blobs_deleted": len(orphans)}


def show_page(project: Project, prefix: str, page_no: int, chunk_id: str | None = None) -> dict[str, Any]:
    """One page of a document: its text (read through :mod:`llmforge.textstore`), how it was read,
    and ``segments``, the text cut where the passage ``chunk_id`` (a citation's) begins and ends
    on this page, each segment marked or not, so a reader can highlight the cited passage.

    Raises:
        NotFoundError: no such document or page (a chunk of another document, or one no longer
            indexed, is not an error: nothing is marked).
    """
    with project.catalog() as conn:
        document_id = resolve_document_id(conn, prefix)
        title, source_path, page_count, mime = conn.execute(
            "SELECT title, source_path, page_count, mime FROM documents WHERE id = ?", [document_id]).fetchone()
        cursor = conn.execute("SELECT page_no, method, ocr_confidence, language, chars FROM pages "
                              "WHERE document_id = ? AND page_no = ?", [document_id, page_no])
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError(f"document {document_id} has no page {page_no} ({page_count or 0} pages)")
        page = dict(zip([d[0] for d in cursor.description], row))
        span = conn.execute("SELECT page_start, page_end, char_start, char_end FROM chunks WHERE id = ? AND "
                            "document_id = ?", [chunk_id, document_id]).fetchone() if chunk_id else None
    text = dict(page_texts(project, [document_id])[document_id])[page_no]
    return {"document_id": document_id, "title": title, "source_path": source_path, "page_count": page_count,
            "mime": mime, **page, "text": text, "chunk_id": chunk_id if span else None,
            "segments": _segments(text, _marked(text, page_no, span))}


def _marked(text: str, page_no: int, span: tuple[int, int, int, int] | None) -> tuple[int, int] | None:
    """Where a chunk spanning pages ``page_start``..``page_end`` (offsets into the first and the
    last) lies on page ``page_no``, or None when it does not."""
    if span is None or not span[0] <= page_no <= span[1]:
        return None
    page_start, page_end, char_start, char_end = span
    start = min(char_start, len(text)) if page_no == page_start else 0
    end = min(char_end, len(text)) if page_no == page_end else len(text)
    return (start, end) if start < end else None


def _segments(text: str, marked: tuple[int, int] | None) -> list[dict[str, Any]]:
    if marked is None:
        return [{"text": text, "mark": False}] if text else []
    start, end = marked
    pieces = [(text[:start], False), (text[start:end], True), (text[end:], False)]
    return [{"text": piece, "mark": mark} for piece, mark in pieces if piece]


@dataclass(frozen=True)
class Original:
    """A document's original file: its name (no folder), media type, size and content."""

    name: str
    mime: str
    size: int
    chunks: Iterator[bytes]


def original_file(project: Project, prefix: str) -> Original:
    """The file a document was ingested from, read back from the blob store (decrypted and
    checked piece by piece when the project is encrypted).

    Raises:
        NotFoundError: no such document, or its original is no longer stored.
    """
    with project.catalog() as conn:
        document_id = resolve_document_id(conn, prefix)
        sha256, source_path, mime, size = conn.execute(
            "SELECT sha256, source_path, mime, size FROM documents WHERE id = ?", [document_id]).fetchone()
    store = project.blobs()
    if not sha256 or sha256 not in store:
        raise NotFoundError(f"the original file of document {document_id} is not stored")
    name = PurePath(str(source_path).replace("\\", "/")).name or document_id
    return Original(name, mime or "application/octet-stream", int(size or 0), store.open_chunks(sha256))
