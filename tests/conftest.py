"""Test-wide rules: no network but loopback, no real home or project, shared corpora optional."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmforge import offline

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("LLMFORGE_CORPORA", REPO.parent / "shared" / "corpora"))
NETGUARD = Path(__file__).parent / "_netguard"


def pytest_configure(config: pytest.Config) -> None:
    offline.set_offline_env()
    offline.refuse_outbound_connections()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(NETGUARD), os.environ.get("PYTHONPATH", "")) if p)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes a real home or project."""
    for name in list(os.environ):
        if name.startswith("LLMFORGE_") and name != "LLMFORGE_CORPORA":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("LLMFORGE_PROJECT", str(tmp_path / "no-project-here"))
    monkeypatch.chdir(tmp_path)
    from llmforge.cli._common import OPTIONS

    monkeypatch.setattr(OPTIONS, "project", None)
    monkeypatch.setattr(OPTIONS, "debug", False)
    monkeypatch.setattr(OPTIONS, "quiet", False)
    monkeypatch.setattr(OPTIONS, "verbose", False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh project, also named by LLMFORGE_PROJECT."""
    from llmforge.project import init_project

    created = init_project(tmp_path / "project")
    monkeypatch.setenv("LLMFORGE_PROJECT", str(created.root))
    return created


@pytest.fixture
def corpora() -> Path:
    """The shared third-party sample files; the test skips when they are absent."""
    if not CORPORA.is_dir():
        pytest.skip(f"shared corpora not found at {CORPORA}")
    return CORPORA


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``llmforge ARGS...`` in-process through the real entry point (error handling included)."""
    from llmforge.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["llmforge", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
