"""Imports run one way: a module never imports a later stage or a shell (STYLE.md, rule 13).

Every import counts, also one inside a function: a lazy import of a later stage is still a
backward dependency, only hidden from start-up time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lower layers first. A module may import its own layer and any layer below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("llmforge", "llmforge._version", "llmforge.errors", "llmforge.fileio", "llmforge.offline",
              "llmforge.locks", "llmforge.settings", "llmforge.blobs", "llmforge.project", "llmforge.catalog",
              "llmforge.packaged", "llmforge.registry", "llmforge.jobs", "llmforge.status", "llmforge.batching",
              "llmforge.textstore", "llmforge.tls", "llmforge.snapshot")),
    ("text", ("llmforge.text",)),
    ("ingest", ("llmforge.ingest",)),
    ("structure", ("llmforge.structure", "llmforge.documents")),
    ("inference", ("llmforge.inference",)),
    ("cluster", ("llmforge.cluster",)),
    ("train", ("llmforge.train",)),
    ("auth", ("llmforge.auth",)),
    ("serve", ("llmforge.serve", "llmforge.doctor")),
    ("cli", ("llmforge.cli", "llmforge.__main__", "llmforge.warm")),
]
# Test support builds models for tests and benchmarks; nothing in the library may lean on it.
TEST_SUPPORT = "llmforge.testing"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest prefix that names ``module``'s layer."""
    best: tuple[int, int] | None = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def imported_modules(path: Path, module: str) -> set[str]:
    """Every llmforge module ``path`` imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}"))
    return {name for name in found if name == "llmforge" or name.startswith("llmforge.")}


def library_modules() -> list[Path]:
    return sorted((SRC / "llmforge").rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    unplaced = [module_name(p) for p in library_modules()
                if layer_of(module_name(p)) is None and not module_name(p).startswith(TEST_SUPPORT)]
    assert not unplaced, f"add these modules to a layer in tests/test_layers.py: {unplaced}"


def backward_imports() -> list[str]:
    problems = []
    for path in library_modules():
        module = module_name(path)
        if module.startswith(TEST_SUPPORT):
            continue
        own = layer_of(module)
        for target in imported_modules(path, module):
            if target.startswith(TEST_SUPPORT):
                problems.append(f"{module} imports test support {target}")
                continue
            layer = layer_of(target)
            if own is not None and layer is not None and layer > own:
                problems.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[layer][0]})")
    return problems


def test_no_module_imports_a_later_layer() -> None:
    problems = backward_imports()
    assert not problems, "backward imports:\n" + "\n".join(sorted(problems))


def test_the_check_sees_a_backward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself can fail: a structure module importing serve inside a function is caught."""
    fake_src = tmp_path / "src"
    module = fake_src / "llmforge" / "structure" / "sneaky.py"
    module.parent.mkdir(parents=True)
    (fake_src / "llmforge" / "__init__.py").write_text("")
    (fake_src / "llmforge" / "train").mkdir()
    (fake_src / "llmforge" / "train" / "loop.py").write_text("")
    module.write_text("def f():\n    from llmforge.serve.app import create_app\n    from .. import train\n"
                      "    from ..train import loop\n")
    monkeypatch.setitem(globals(), "SRC", fake_src)
    assert sorted(backward_imports()) == [
        "llmforge.structure.sneaky (structure) imports llmforge.serve.app (serve)",
        "llmforge.structure.sneaky (structure) imports llmforge.train (train)",
        "llmforge.structure.sneaky (structure) imports llmforge.train.loop (train)",
    ]
