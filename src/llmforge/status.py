"""A project at a glance: what it holds."""

from __future__ import annotations

from typing import Any

from llmforge.catalog import applied_migrations, table_counts
from llmforge.project import Project

COUNTED = {
    "documents": "documents",
    "pages": "pages",
    "chunks": "chunks",
    "jobs": "jobs",
}


def project_status(project: Project) -> dict[str, Any]:
    """Counts of documents, pages, chunks, model versions and jobs, plus project facts."""
    from llmforge.registry import list_versions

    with project.catalog() as conn:
        counts = table_counts(conn, list(COUNTED.values()))
        migrations = applied_migrations(conn)
    versions = list_versions(project)   # the model repository lives in files, not the catalog
    return {
        "project": str(project.root),
        "encrypted": bool(project.settings["blobs.encrypt"]),
        "counts": {**{label: counts[table] for label, table in COUNTED.items()}, "model_versions": len(versions)},
        "promoted": sorted(v.ref for v in versions if v.promoted),
        "migrations": migrations,
    }
