"""``llmforge ingest``: turn files into documents and pages of clean text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmforge.cli._common import (EXIT_PARTIAL, JsonOption, ProjectOption, WaitOption, choice_enum, emit,
                                  open_project, progress_bar, stdout)
from llmforge.settings import OCR_LANGUAGES, OCR_MODES


OcrMode = choice_enum("OcrMode", OCR_MODES)
OcrLang = choice_enum("OcrLang", OCR_LANGUAGES)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or (with --recursive) directories.")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into directories.")] = False,
    ocr: Annotated[OcrMode | None, typer.Option(help="When to OCR (default: setting ingest.ocr).",
                                                show_default=False)] = None,
    lang: Annotated[OcrLang | None, typer.Option(help="OCR language (default: setting ingest.lang).",
                                                 show_default=False)] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs.",
                                                 envvar="LLMFORGE_PDF_PASSWORD", show_envvar=True)] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Documents in parallel (default: setting "
                                                "ingest.workers).", show_default=False)] = None,
    wait: WaitOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest PDF, DOCX, text and image files (OCR for scans, Arabic and English).

    Re-ingesting the same content is a no-op; a changed file becomes a new version. Exit code 3
    when some files failed (each gets a one-line reason), 1 when all did.
    """
    from llmforge.ingest.pipeline import FAILED, collect_files, ingest_paths

    opened = open_project(project)
    total = sum(1 for _ in collect_files(paths, recursive)[0]) or None
    with progress_bar("ingesting", total) as advance:
        report = ingest_paths(opened, paths, recursive=recursive,
                              ocr=ocr.value if ocr else None, lang=lang.value if lang else None,
                              password=password, workers=workers, wait=wait,
                              on_file=lambda outcome: advance(description=Path(outcome.path).name[:40]))

    def render() -> None:
        for outcome in report.outcomes:
            name = escape(outcome.path)
            if outcome.status == FAILED:
                stdout.print(f"[red]failed[/]   {name}: {escape(outcome.reason)}")
            elif outcome.status == "skipped":
                stdout.print(f"[dim]skipped[/]  {name} ({escape(outcome.reason)})")
            else:
                extra = f"; {escape('; '.join(outcome.notes))}" if outcome.notes else ""
                stdout.print(f"[green]ingested[/] {name} → {outcome.document_id} v{outcome.version}, "
                             f"{outcome.pages} page(s){extra}")
        stdout.print(f"{report.count('ingested')} ingested, {report.count('skipped')} skipped, "
                     f"{report.count(FAILED)} failed", highlight=False)

    emit(report.to_dict(), as_json, render)
    failed = report.count(FAILED)
    if failed:
        raise typer.Exit(1 if failed == len(report.outcomes) else EXIT_PARTIAL)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
