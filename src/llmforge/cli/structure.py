"""``llmforge structure``, ``search`` and ``entities``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import (JsonOption, ProjectOption, ServerOption, StdinOption, WaitOption, choice_enum, emit,
                                  open_project, progress_bar, stdout, text_argument)
from llmforge.cli.cluster import ClusterOption, cluster_call
from llmforge.settings import QUERY_LANGUAGES, SEARCH_MODES
from llmforge.warm import OFF, chosen, render_search, without_nones

def structure(
    embedder: Annotated[str | None, typer.Option(help="Embedding model (default: setting structure.embedder).",
                                                 show_default=False)] = None,
    chunk_tokens: Annotated[int | None, typer.Option(min=16, help="Chunk size in tokens.", show_default=False)] = None,
    overlap: Annotated[int | None, typer.Option(min=0, help="Overlap in tokens.", show_default=False)] = None,
    reembed: Annotated[bool, typer.Option("--reembed", help="Rebuild the whole index (new embedder or sizes).")] = False,
    wait: WaitOption = None,
    cluster: ClusterOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Chunk, tag entities and embed what was ingested (only new or changed documents)."""
    from llmforge.structure.pipeline import structure_project

    opened = open_project(project)
    structure_all = cluster_call(opened, cluster, structure_project, "cluster_structure")  # embedding here or on Ray
    with progress_bar("structuring", None) as advance:
        report = structure_all(opened, embedder=embedder, chunk_tokens=chunk_tokens,
                               overlap=overlap, reembed=reembed, wait=wait, on_progress=lambda done, total: advance(0))
    emit(report.to_dict(), as_json, lambda: stdout.print(
        f"{report.documents} documents structured: {report.chunks} chunks, {report.entities} entities; "
        f"{report.removed_documents} removed; index holds {report.total_chunks} chunks "
        f"({report.embedder}, {report.dim}-d)", highlight=False))


Mode = choice_enum("Mode", SEARCH_MODES)
Lang = choice_enum("Lang", QUERY_LANGUAGES)


def search(
    query: Annotated[str | None, typer.Argument(help="What to look for, in Arabic or English ('-': read it from "
                                                "standard input).", show_default=False)] = None,
    k: Annotated[int | None, typer.Option("-k", min=1, max=100, help="Results (default: setting search.k).",
                                          show_default=False)] = None,
    mode: Annotated[Mode | None, typer.Option(help="Search mode (default: setting search.mode).",
                                              show_default=False)] = None,
    lang: Annotated[Lang, typer.Option(help="Query language for keyword analysis.")] = Lang["auto"],
    from_stdin: StdinOption = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ranked chunks for a query, each with its citation (document, page) and a snippet.

    When the project's `llmforge serve` runs, it answers (the same results, without loading the
    index here)."""
    query = text_argument(query, from_stdin, "query")
    options = {"k": k, "mode": mode.value if mode else None, "lang": lang.value}
    opened = None if server and server != OFF else open_project(project)
    warm = chosen(server, opened.root if opened else None)
    if warm is not None:
        result = warm.post("/v1/search", without_nones({"query": query, **options}))
    else:
        from llmforge.structure.search import search as run_search

        result = run_search(opened, query, **options).to_dict()

    emit(result, as_json, lambda: render_search(stdout, result))


def entities(
    entity_type: Annotated[str | None, typer.Option("--type", help="Only this type (date, money, person, ...).")] = None,
    document: Annotated[str | None, typer.Option("--doc", help="Only this document (id or prefix).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows to show.")] = 200,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Entities found in the structured documents, with how often and where they occur."""
    from llmforge.structure.queries import list_entities

    rows = list_entities(open_project(project), entity_type=entity_type, document=document, limit=limit)

    def render() -> None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("type", "text", "value", "count", "documents"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["type"], escape(row["text"]), escape(row["value"] or ""), str(row["count"]),
                          str(row["documents"]))
        stdout.print(table)

    emit(rows, as_json, render)


def register(app: typer.Typer) -> None:
    app.command()(structure)
    app.command()(search)
    app.command()(entities)
