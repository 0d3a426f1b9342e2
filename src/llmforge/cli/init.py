"""``llmforge init``: create a project directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmforge.cli._common import JsonOption, emit, stdout
from llmforge.project import SUBDIRS, init_project


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    encrypt: Annotated[bool, typer.Option("--encrypt", help="Encrypt stored documents at rest "
                                          "(AES-256-GCM; the key goes to secrets/).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a project: settings, catalog, blob store, index, models and secrets folders."""
    project = init_project(directory, encrypt=encrypt)
    result = {"project": str(project.root), "encrypted": encrypt,
              "directories": [str(project.root / name) for name in SUBDIRS]}
    emit(result, as_json, lambda: stdout.print(
        f"Created llmforge project in {project.root}" + (" (encrypted)" if encrypt else "")
        + f"\nNext: llmforge -p {project.root} doctor", highlight=False))


def register(app: typer.Typer) -> None:
    app.command()(init)
