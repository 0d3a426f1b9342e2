"""The public Python API: ``llmforge.__all__`` is exactly the documented list (as httpx's
tests/test_exported_members.py keeps its own), every name resolves, the README documents each one,
and the shells (CLI, HTTP) import only public names from the library."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import llmforge

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = [
    "__version__",
    "Project", "init_project", "find_project", "Setting", "SETTINGS", "load_settings", "write_setting",
    "project_status", "run_checks", "BlobStore",
    "ingest_paths", "IngestReport", "list_documents", "show_document", "delete_document",
    "structure_project", "search", "SearchResult", "Hit", "list_entities",
    "ask", "Answer", "AgentSettings", "agent_settings", "create_agent", "update_agent", "get_agent", "list_agents",
    "delete_agent",
    "build_dataset", "list_datasets", "DatasetInfo", "Recipe", "resolve_base", "train_lora", "submit_training",
    "run_training", "cancel_training", "evaluate_version", "export_version",
    "ModelVersion", "get_version", "list_versions", "promote", "lineage",
    "get_job", "list_jobs",
    "create_app",
    "LlmforgeError", "UsageError", "ProjectError", "ConfigError", "LockError", "CatalogError", "CatalogLockedError",
    "NotFoundError", "BlobError", "IntegrityError", "IngestError", "TrainError", "BusyError", "AuthError",
    "PermissionDenied", "RateLimited", "ReadOnlyProjectError", "ModelUnavailableError",
]


def test_all_is_exactly_the_documented_api() -> None:
    assert sorted(llmforge.__all__) == sorted(DOCUMENTED)
    assert len(llmforge.__all__) == len(set(llmforge.__all__))


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(llmforge, name) is not None


def test_the_readme_documents_every_public_name() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in DOCUMENTED if name != "__version__" and not re.search(rf"\b{re.escape(name)}\b", section)]
    assert not missing, f"README's Python API section does not mention {missing}"


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        llmforge.not_a_thing  # noqa: B018


def shell_imports() -> list[tuple[str, str, str]]:
    """(shell file, library module, name) for every name the CLI and the server import from the library."""
    found = []
    for shell in ("cli", "serve"):
        for path in sorted((ROOT / "src" / "llmforge" / shell).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("llmforge"):
                    module = node.module or ""
                    if not module.startswith((f"llmforge.{shell}", "llmforge.cli", "llmforge.serve")):
                        found.extend((path.name, module, alias.name) for alias in node.names)
    return found


def test_the_shells_import_only_public_names() -> None:
    private = [f"{shell}: from {module} import {name}" for shell, module, name in shell_imports()
               if name.startswith("_") and name != "__version__"
               or any(part.startswith("_") and part != "_version" for part in module.split("."))]
    assert not private, "the CLI and the server use private library names:\n" + "\n".join(private)
    assert shell_imports(), "the check found no imports at all: it is looking in the wrong place"
