"""``llmforge doctor``: is everything installed that llmforge needs?"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, emit, stdout
from llmforge.doctor import ERROR, OK, WARN, healthy, run_checks
from llmforge.errors import ProjectError
from llmforge.project import find_project

_MARKS = {OK: "[green]ok[/]", WARN: "[yellow]warn[/]", ERROR: "[red]error[/]"}


def doctor(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Check the installation: Python, torch, CUDA, Unsloth, Tesseract, llama.cpp, models, disk,
    and the project's TLS certificate and secrets.

    Prints the fix for whatever is missing; exits 1 when a required part is missing or the
    server certificate has expired.
    """
    from llmforge.cli._common import OPTIONS

    try:
        root = find_project(project or OPTIONS.project).root
    except ProjectError:
        root = None
    checks = run_checks(root, project_root=root)
    ok = healthy(checks)

    def render() -> None:
        table = Table("check", "status", "detail", "fix")
        for check in checks:
            mark = _MARKS.get(check.status, "[red]missing[/]" if check.required else "[yellow]missing[/]")
            table.add_row(escape(check.name), mark, escape(check.detail), escape(check.fix))
        stdout.print(table)
        stdout.print("All required parts are present." if ok else
                     "[red]Some required parts are missing or broken: see the fix column.[/]")

    emit({"healthy": ok, "project": str(root) if root else None,
          "checks": [check.to_dict() for check in checks]}, as_json, render)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
