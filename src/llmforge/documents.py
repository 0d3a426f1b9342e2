"""Documents in the catalog: list, show, delete."""

from __future__ import annotations

import json
from typing import Any

from llmforge.catalog import resolve_document_id, transaction
from llmforge.project import Project
from llmforge.textstore import page_texts

_LIST_COLUMNS = ("id", "source_path", "version", "status", "error", "kind", "title", "page_count",
                 "languages", "size", "ingested_at")

def list_documents(project: Project, include_all: bool = False) -> list[dict[str, Any]]:
    """Documents, newest first: the latest version of each path, plus failures; ``include_all``
    adds superseded versions."""
    where = "" if include_all else (
        "WHERE status = 'failed' OR version = (SELECT max(version) FROM documents d2 "
        "WHERE d2.source_path = documents.source_path AND d2.status = 'ingested')")
    with project.catalog() as conn:
        rows = conn.execute(f"SELECT {', '.join(_LIST_COLUMNS)} FROM documents {where} "
                            "ORDER BY ingested_at DESC, source_path").fetchall()
    return [dict(zip(_LIST_COLUMNS, row)) for row in rows]


def show_document(project: Project, prefix: str) -> dict[str, Any]:
    """Everything the catalog knows of one document, with each page's text and method."""
    with project.catalog() as conn:
        document_id = resolve_document_id(conn, prefix)
        cursor = conn.execute("SELECT * FROM documents WHERE id = ?", [document_id])
        names = [d[0] for d in cursor.description]
        document = dict(zip(names, cursor.fetchone()))
        cursor = conn.execute("SELECT page_no, method, ocr_confidence, language, deskew_angle, chars "
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

    Holds the project writer lock, waiting ``wait`` seconds for it (default: setting lock.wait).
    """
    with project.writer_lock("documents delete", wait):
        return _delete(project, prefix)


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
