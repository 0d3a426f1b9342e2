"""``llmforge status``: what the project holds."""

from __future__ import annotations

import typer

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.status import project_status


def status(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Counts of documents, pages, chunks, model versions and jobs."""
    result = project_status(open_project(project))

    def render() -> None:
        stdout.print(f"project   {result['project']}" + ("  (encrypted)" if result["encrypted"] else ""),
                     highlight=False)
        for label, count in result["counts"].items():
            stdout.print(f"{label.replace('_', ' '):<15} {count}", highlight=False)

    emit(result, as_json, render)


def register(app: typer.Typer) -> None:
    app.command()(status)
