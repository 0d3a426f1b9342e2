"""``llmforge documents list|show|delete``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, WaitOption, emit, open_project, stdout
from llmforge.documents import delete_document, list_documents, show_document

documents_app = typer.Typer(help="See and remove ingested documents.", no_args_is_help=True)
IdArgument = Annotated[str, typer.Argument(help="Document id (a unique prefix of 4+ characters).")]


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` for a person's terminal; whole for a pipe or a file."""
    if not stdout.is_terminal or len(text) <= width:
        return text
    return text[: width - 1] + "…"


@documents_app.command("list")
def list_(all_versions: Annotated[bool, typer.Option("--all", help="Include superseded versions.")] = False,
          project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Documents with status, pages and languages (latest version of each path, and failures)."""
    rows = list_documents(open_project(project), include_all=all_versions)

    def render() -> None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("id", "status", "v", "kind", "pages", "lang"):
            table.add_column(name, no_wrap=True)
        table.add_column("title / reason", no_wrap=True)
        for row in rows:
            failed = row["status"] == "failed"
            table.add_row(row["id"], "[red]failed[/]" if failed else row["status"], str(row["version"]),
                          row["kind"] or "", str(row["page_count"] or ""), ",".join(row["languages"] or []),
                          escape(_clip(row["error"] if failed else row["title"] or "", 28)))
        stdout.print(table)

    emit(rows, as_json, render)


@documents_app.command("show")
def show(document_id: IdArgument, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Metadata and every page with its text, extraction method and OCR confidence."""
    document = show_document(open_project(project), document_id)

    def render() -> None:
        for key in ("id", "title", "author", "created", "source_path", "version", "status", "error",
                    "kind", "mime", "size", "sha256", "page_count", "languages", "notes", "ingested_at"):
            if document.get(key) not in (None, "", []):
                stdout.print(f"[bold]{key:<12}[/] {escape(str(document[key]))}")
        for page in document["pages"]:
            conf = f", confidence {page['ocr_confidence']:.0f}" if page["ocr_confidence"] is not None else ""
            angle = f", deskewed {page['deskew_angle']:.1f}°" if page["deskew_angle"] else ""
            angle += f", turned {page['rotation']}°" if page.get("rotation") else ""
            stdout.rule(f"page {page['page_no']} · {page['method']}{conf}{angle} · {page['language']}")
            stdout.print(escape(page["text"]), highlight=False)

    emit(document, as_json, render)


@documents_app.command("delete")
def delete(document_id: IdArgument, wait: WaitOption = None, project: ProjectOption = None,
           as_json: JsonOption = False) -> None:
    """Remove a document with its pages (and, once they exist, its chunks and vectors)."""
    from llmforge.auth.audit import record_local

    opened = open_project(project)
    result = delete_document(opened, document_id, wait=wait)
    record_local(opened, "documents.delete", result["id"], {"source_path": result["source_path"]})
    emit(result, as_json, lambda: stdout.print(
        f"deleted {result['id']} ({escape(result['source_path'])}): {result['pages_deleted']} pages"))


def register(app: typer.Typer) -> None:
    app.add_typer(documents_app, name="documents")
