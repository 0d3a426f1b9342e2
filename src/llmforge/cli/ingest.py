"""``llmforge ingest``: turn files into documents and pages of clean text."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from llmforge.cli._common import (EXIT_PARTIAL, JsonOption, ProjectOption, WaitOption, choice_enum, emit,
                                  open_project, progress_bar, stdout)
from llmforge.cli.cluster import ClusterOption, cluster_call
from llmforge.settings import OCR_LANGUAGES, OCR_MODES

if TYPE_CHECKING:
    from llmforge.ingest.pipeline import FileOutcome, IngestReport


OcrMode = choice_enum("OcrMode", OCR_MODES)
OcrLang = choice_enum("OcrLang", OCR_LANGUAGES)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or (with --recursive) directories.")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into directories.")] = False,
    include: Annotated[list[str] | None, typer.Option(
        "--include", metavar="GLOB", show_default=False,
        help="Take only the files found in directories that match GLOB (repeatable; matched against the "
             "file name and its path below the directory, case ignored). Default: setting ingest.include "
             "(all files).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", metavar="GLOB", show_default=False,
        help="Leave out the files found in directories that match GLOB (repeatable). Replaces setting "
             "ingest.exclude, which by default leaves out licence files (LICENSE, COPYING, NOTICE, ...) and "
             "source code (*.py, *.js, *.c, *.sh, ...); --exclude '' takes them. Files named on the "
             "command line are always taken.")] = None,
    ocr: Annotated[OcrMode | None, typer.Option(help="When to OCR (default: setting ingest.ocr).",
                                                show_default=False)] = None,
    lang: Annotated[OcrLang | None, typer.Option(help="OCR language (default: setting ingest.lang).",
                                                 show_default=False)] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs.",
                                                 envvar="LLMFORGE_PDF_PASSWORD", show_envvar=True)] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Documents in parallel (default: setting "
                                                "ingest.workers).", show_default=False)] = None,
    wait: WaitOption = None,
    cluster: ClusterOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest PDF, DOCX, text and image files (OCR for scans, Arabic and English).

    Each file's line is printed as it is stored. Re-ingesting the same content is a no-op; a
    changed file becomes a new version. Exit code 3 when some files failed (each gets a one-line
    reason), 1 when all did, 130 on Ctrl-C: the documents finished before it are kept, and a
    summary says which files were not stored (run the same command again to finish).
    """
    from llmforge.ingest.pipeline import FAILED, IngestInterrupted, collect_files, file_globs, ingest_paths

    opened = open_project(project)
    globs = file_globs(opened, [g for g in include if g] if include is not None else None,
                       [g for g in exclude if g] if exclude is not None else None)
    total = len(collect_files(paths, recursive, *globs).files) or None
    ingest_files = cluster_call(opened, cluster, ingest_paths, "cluster_ingest")  # here, or on a Ray cluster
    with progress_bar("ingesting", total) as advance:
        def finished(outcome: FileOutcome) -> None:
            if not as_json:
                stdout.print(_line(outcome), highlight=False)
            advance(description=Path(outcome.path).name[:40])

        try:
            report = ingest_files(opened, paths, recursive=recursive, ocr=ocr.value if ocr else None,
                                  lang=lang.value if lang else None, password=password, workers=workers,
                                  wait=wait, include=globs[0], exclude=globs[1], on_file=finished)
        except IngestInterrupted as stop:
            report = stop.report
    emit(report.to_dict(), as_json, lambda: _summary(report))
    if report.interrupted:
        raise typer.Exit(130)
    failed = report.count(FAILED)
    if failed:
        raise typer.Exit(1 if failed == len(report.outcomes) else EXIT_PARTIAL)


def _line(outcome: FileOutcome) -> str:
    name = escape(outcome.path)
    if outcome.status == "failed":
        return f"[red]failed[/]   {name}: {escape(outcome.reason)}"
    if outcome.status == "skipped":
        return f"[dim]skipped[/]  {name} ({escape(outcome.reason)})"
    extra = f"; {escape('; '.join(outcome.notes))}" if outcome.notes else ""
    return f"[green]ingested[/] {name} → {outcome.document_id} v{outcome.version}, {outcome.pages} page(s){extra}"


def _summary(report: IngestReport) -> None:
    """The totals under the per-file lines (printed as each file finished)."""
    from llmforge.ingest.pipeline import describe_excluded

    if report.interrupted:
        stdout.print(f"[yellow]interrupted[/]: {len(report.outcomes)} file(s) done and kept, "
                     f"{len(report.not_stored)} not stored:", highlight=False)
        for path in report.not_stored[:NOT_STORED_SHOWN]:
            stdout.print(f"  not stored {escape(path)}", highlight=False)
        if len(report.not_stored) > NOT_STORED_SHOWN:
            stdout.print(f"  ... and {len(report.not_stored) - NOT_STORED_SHOWN} more", highlight=False)
        stdout.print("run the same command again to finish: what is stored is skipped", highlight=False)
    line = f"{report.count('ingested')} ingested, {report.count('skipped')} skipped, {report.count('failed')} failed"
    if report.excluded:
        line += (f"; left out {sum(report.excluded.values())} file(s) by --include/--exclude "
                 f"(ingest.include, ingest.exclude): {describe_excluded(report.excluded)}")
    stdout.print(escape(line), highlight=False)


NOT_STORED_SHOWN = 20


def register(app: typer.Typer) -> None:
    app.command()(ingest)
