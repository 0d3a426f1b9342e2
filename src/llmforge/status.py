"""A project at a glance: what it holds."""

from __future__ import annotations

from typing import Any

from llmforge.catalog import LATEST_VERSION, applied_migrations, table_counts
from llmforge.project import Project

COUNTED = {
    "documents": "documents",
    "pages": "pages",
    "chunks": "chunks",
    "jobs": "jobs",
}


_LATEST = f"status = 'ingested' AND {LATEST_VERSION}"   # what search serves, as documents list shows it


def project_status(project: Project) -> dict[str, Any]:
    """Counts of documents (searchable ones, and apart: failed ones and ones waiting for
    ``structure``), pages, chunks, model versions and jobs, plus project facts."""
    from llmforge.registry import list_versions

    with project.catalog() as conn:
        counts = table_counts(conn, list(COUNTED.values()))
        migrations = applied_migrations(conn)
        latest, failed, unstructured = conn.execute(
            f"SELECT count(*) FILTER (WHERE {_LATEST}), count(*) FILTER (WHERE status = 'failed'), "
            f"count(*) FILTER (WHERE {_LATEST} AND id NOT IN (SELECT document_id FROM structured_documents)) "
            "FROM documents").fetchone()
    versions = list_versions(project)   # the model repository lives in files, not the catalog
    return {
        "project": str(project.root),
        "encrypted": bool(project.settings["blobs.encrypt"]),
        "read_only": project.read_only,
        "counts": {**{label: counts[table] for label, table in COUNTED.items()}, "model_versions": len(versions)},
        "documents": {"current": latest, "structured": latest - unstructured, "not_structured": unstructured,
                      "failed": failed, "rows": counts["documents"]},
        "promoted": sorted(v.ref for v in versions if v.promoted),
        "migrations": migrations,
    }
