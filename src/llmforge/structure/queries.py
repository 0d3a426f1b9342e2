"""Read-only views of structuring results for the CLI and the HTTP API."""

from __future__ import annotations

from typing import Any

from llmforge.catalog import resolve_document_id
from llmforge.errors import UsageError
from llmforge.project import Project


def list_entities(project: Project, entity_type: str | None = None, document: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    """Distinct entities (type, text) with their normalised value, count and number of documents."""
    from llmforge.structure.entities import ENTITY_TYPES

    if entity_type and entity_type not in ENTITY_TYPES:
        raise UsageError(f"unknown entity type {entity_type!r} (choose from {', '.join(ENTITY_TYPES)})")
    with project.catalog() as conn:
        document_id = resolve_document_id(conn, document) if document else None
        rows = conn.execute(
            "SELECT type, text, any_value(value), count(*), count(DISTINCT document_id) FROM entities "
            "WHERE (? IS NULL OR type = ?) AND (? IS NULL OR document_id = ?) "
            "GROUP BY type, text ORDER BY count(*) DESC, type, text LIMIT ?",
            [entity_type, entity_type, document_id, document_id, limit]).fetchall()
    return [{"type": r[0], "text": r[1], "value": r[2], "count": r[3], "documents": r[4]} for r in rows]
