"""``llmforge snapshot DEST``: publish a consistent copy of the project for read-only replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmforge.cli._common import JsonOption, ProjectOption, WaitOption, emit, open_project, stdout


def snapshot(
    destination: Annotated[Path, typer.Argument(help="A new directory for the snapshot (outside the project).",
                                                show_default=False)],
    wait: WaitOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a consistent copy of the project (catalog, index, blobs, models, serving secrets)
    for `llmforge serve --audit-file` replicas to mount read-only."""
    from llmforge.snapshot import publish_snapshot

    info = publish_snapshot(open_project(project), destination, wait)
    emit(info.to_dict(), as_json, lambda: stdout.print(
        f"snapshot {info.path}: {info.files} files ({info.linked} hard-linked), {info.bytes / 1e6:.1f} MB, "
        f"{info.seconds:.1f} s", highlight=False))


def register(app: typer.Typer) -> None:
    app.command()(snapshot)
