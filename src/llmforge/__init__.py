"""llmforge: offline documents → knowledge base → fine-tuned local model → secure QA service.

The public API is imported lazily (PEP 562), so ``import llmforge`` is cheap and the CLI starts
fast; ``from llmforge import init_project`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

from llmforge._version import __version__

_EXPORTS = {
    "Project": "llmforge.project",
    "init_project": "llmforge.project",
    "find_project": "llmforge.project",
    "Setting": "llmforge.settings",
    "SETTINGS": "llmforge.settings",
    "load_settings": "llmforge.settings",
    "BlobStore": "llmforge.blobs",
    "run_checks": "llmforge.doctor",
    "project_status": "llmforge.status",
    "LlmforgeError": "llmforge.errors",
    "UsageError": "llmforge.errors",
    "ProjectError": "llmforge.errors",
    "ConfigError": "llmforge.errors",
    "LockError": "llmforge.errors",
    "CatalogError": "llmforge.errors",
    "CatalogLockedError": "llmforge.errors",
    "NotFoundError": "llmforge.errors",
    "BlobError": "llmforge.errors",
    "ingest_paths": "llmforge.ingest.pipeline",
    "IngestReport": "llmforge.ingest.pipeline",
    "list_documents": "llmforge.documents",
    "show_document": "llmforge.documents",
    "delete_document": "llmforge.documents",
    "IntegrityError": "llmforge.errors",
    "IngestError": "llmforge.errors",
    "TrainError": "llmforge.errors",
    "structure_project": "llmforge.structure.pipeline",
    "search": "llmforge.structure.search",
    "ask": "llmforge.inference.rag",
    "build_dataset": "llmforge.train.data",
    "DatasetInfo": "llmforge.train.data",
    "resolve_base": "llmforge.train.base",
    "Recipe": "llmforge.train.recipe",
    "train_lora": "llmforge.train.loop",
    "ModelVersion": "llmforge.registry",
    "get_version": "llmforge.registry",
    "list_versions": "llmforge.registry",
    "promote": "llmforge.registry",
    "lineage": "llmforge.registry",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llmforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
