"""``llmforge status``: what the project holds."""

from __future__ import annotations

import typer

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.status import project_status


def status(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Counts of documents (searchable, waiting for structure, failed), pages, chunks, model
    versions and jobs."""
    result = project_status(open_project(project))

    def render() -> None:
        flags = [flag for flag in ("encrypted", "read_only") if result[flag]]
        stdout.print(f"project   {result['project']}" + "".join(f"  ({flag.replace('_', '-')})" for flag in flags),
                     highlight=False)
        documents = result["documents"]
        stdout.print(f"{'documents':<15} {documents['current']}  ({documents['structured']} searchable, "
                     f"{documents['not_structured']} waiting for `llmforge structure`)", highlight=False)
        if documents["failed"]:
            stdout.print(f"{'failed':<15} {documents['failed']}  (see `llmforge documents list`)", highlight=False)
        for label, count in result["counts"].items():
            if label != "documents":   # every row, old versions and failures too: shown apart above
                stdout.print(f"{label.replace('_', ' '):<15} {count}", highlight=False)

    emit(result, as_json, render)


def register(app: typer.Typer) -> None:
    app.command()(status)
