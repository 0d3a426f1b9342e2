"""llmforge: offline documents → knowledge base → fine-tuned local model → secure QA service.

The public Python API: the calls the CLI and the HTTP routes make, importable for scripts and
notebooks (README, "Python API")::

    import llmforge

    project = llmforge.init_project("kb")            # or llmforge.find_project("kb")
    llmforge.ingest_paths(project, ["reports/"], recursive=True)
    llmforge.structure_project(project)
    hits = llmforge.search(project, "how often is chlorine checked?", k=3)
    answer = llmforge.ask(project, "how often is chlorine checked?")

Names are imported lazily (PEP 562), so ``import llmforge`` is cheap and the CLI starts fast.
``__all__`` is exactly this list; tests/test_public_api.py holds a written copy of it.
"""

from __future__ import annotations

import importlib
from typing import Any

from llmforge._version import __version__

# public name -> (module, attribute in that module)
_EXPORTS: dict[str, tuple[str, str]] = {
    # project, settings, health
    **{name: ("llmforge.project", name) for name in ("Project", "init_project", "find_project")},
    **{name: ("llmforge.settings", name) for name in ("Setting", "SETTINGS", "load_settings", "write_setting")},
    "project_status": ("llmforge.status", "project_status"),
    "run_checks": ("llmforge.doctor", "run_checks"),
    "BlobStore": ("llmforge.blobs", "BlobStore"),
    # ingestion and documents
    **{name: ("llmforge.ingest.pipeline", name) for name in ("ingest_paths", "IngestReport")},
    **{name: ("llmforge.documents", name) for name in ("list_documents", "show_document", "delete_document")},
    # structuring and search
    "structure_project": ("llmforge.structure.pipeline", "structure_project"),
    **{name: ("llmforge.structure.search", name) for name in ("search", "SearchResult", "Hit")},
    "list_entities": ("llmforge.structure.queries", "list_entities"),
    # answers and agents
    **{name: ("llmforge.inference.rag", name) for name in ("ask", "Answer", "AgentSettings")},
    **{name: ("llmforge.inference.agents", name)
       for name in ("agent_settings", "create_agent", "update_agent", "get_agent", "list_agents", "delete_agent")},
    # training, evaluation, export
    **{name: ("llmforge.train.data", name) for name in ("build_dataset", "list_datasets", "DatasetInfo")},
    "Recipe": ("llmforge.train.recipe", "Recipe"),
    "resolve_base": ("llmforge.train.base", "resolve_base"),
    "train_lora": ("llmforge.train.loop", "train_lora"),
    "submit_training": ("llmforge.train.jobs", "submit"),
    "run_training": ("llmforge.train.jobs", "run"),
    "cancel_training": ("llmforge.train.jobs", "cancel"),
    "evaluate_version": ("llmforge.train.evaluate", "evaluate_version"),
    "export_version": ("llmforge.train.export", "export_version"),
    # the model repository
    **{name: ("llmforge.registry", name)
       for name in ("ModelVersion", "get_version", "list_versions", "promote", "lineage")},
    # jobs of every kind
    **{name: ("llmforge.jobs", name) for name in ("get_job", "list_jobs")},
    # the HTTP service
    "create_app": ("llmforge.serve.app", "create_app"),
    # errors (llmforge.errors draws the tree)
    **{name: ("llmforge.errors", name)
       for name in ("LlmforgeError", "UsageError", "ProjectError", "ConfigError", "LockError", "CatalogError",
                    "CatalogLockedError", "NotFoundError", "BlobError", "IntegrityError", "IngestError",
                    "TrainError", "BusyError", "AuthError", "PermissionDenied", "RateLimited", "ReadOnlyProjectError",
                    "ModelUnavailableError")},
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llmforge' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
