"""``llmforge serve`` and ``llmforge usage``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from llmforge.cli._common import (JsonOption, ProjectOption, ServerOption, StdinOption, emit, note, open_project, stderr,
                                  stdout, text_argument)
from llmforge.warm import OFF, chosen, render_answer, shown_while_written, without_nones


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: setting serve.host). Beyond "
                                             "loopback it needs a user or API key, and --tls or --insecure-http.",
                                             show_default=False)] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: setting serve.port).",
                                             show_default=False)] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with the project's certificate "
                                      "(`llmforge tls init`).")] = False,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Serve HTTPS with this PEM certificate "
                                                  "(chain) instead; needs --tls-key.", show_default=False)] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="The PEM private key of --tls-cert.",
                                                 show_default=False)] = None,
    insecure_http: Annotated[bool, typer.Option("--insecure-http", help="Allow plain HTTP on a non-loopback "
                                                "address (authentication is still required).")] = False,
    audit_file: Annotated[Path | None, typer.Option("--audit-file", help="Serve a read-only project (a replica "
                                                    "of a snapshot): append the audit log to this writable file "
                                                    "(required there; refused for a writable project).",
                                                    show_default=False)] = None,
    project: ProjectOption = None,
) -> None:
    """Serve the HTTP API (search, embeddings, documents, jobs, usage, metrics; docs at /docs)."""
    from llmforge.serve.server import serve as run_server

    opened = open_project(project)
    run_server(opened, host, port, tls=tls, tls_cert=tls_cert, tls_key=tls_key, insecure_http=insecure_http,
               audit_file=audit_file,
               warn=lambda message: stderr.print(f"warning: {message}", style="yellow", highlight=False,
                                                 markup=False),
               announce=lambda url: note(f"serving {opened.root} on {url}  (API docs: {url}/docs)"))


def usage(
    since: Annotated[datetime | None, typer.Option(help="Only requests since (ISO date or time).")] = None,
    by: Annotated[str, typer.Option(help="Group by key (API key prefix), user, agent, model, route or day.")] = "day",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Requests, tokens and latency served by `llmforge serve`."""
    from llmforge.serve.usage import usage_summary

    rows = usage_summary(open_project(project), since, by)

    def render() -> None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in (by, "requests", "prompt tok", "completion tok", "avg ms", "p95 ms", "errors"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row[by]), str(row["requests"]), str(row["prompt_tokens"]),
                          str(row["completion_tokens"]), f"{row['avg_latency_ms']:.1f}",
                          f"{row['p95_latency_ms']:.1f}", str(row["errors"]))
        stdout.print(table)

    emit(rows, as_json, render)




def ask(
    question: Annotated[str | None, typer.Argument(help="A question about the documents, in Arabic or English "
                                                   "('-': read it from standard input).", show_default=False)] = None,
    k: Annotated[int | None, typer.Option("-k", min=1, max=50, help="Passages to retrieve (default: rag.k).",
                                          show_default=False)] = None,
    model: Annotated[str | None, typer.Option(help="Language model (default: the agent's, else serve.model).",
                                              show_default=False)] = None,
    agent: Annotated[str | None, typer.Option(help="Answer as this agent (see `llmforge agents`).")] = None,
    show_sources: Annotated[bool, typer.Option("--sources", help="Also print every passage the model saw.")] = False,
    from_stdin: StdinOption = False,
    server: ServerOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the documents, with citations (document, page).

    In a terminal the answer appears as the model writes it; with --json, ``timings`` says where
    the time went (retrieval, model load, prompt evaluation, generation, total). When the
    project's `llmforge serve` runs, it answers, with its model already loaded (--model, which
    may name a file, is answered here)."""
    question = text_argument(question, from_stdin, "question")
    opened = None if server and server != OFF else open_project(project)
    warm = chosen(server, opened.root if opened else None) if model is None or opened is None else None
    streaming = stdout.is_terminal and not as_json
    if warm is not None:
        body = without_nones({"question": question, "agent": agent, "k": k, "model": model, "stream": streaming})
        answer = shown_while_written(stdout, warm.events("/v1/ask", body)) if streaming else warm.post("/v1/ask", body)
        agent_id = answer.pop("agent")
    else:
        from llmforge.inference.agents import agent_settings
        from llmforge.inference.rag import ask as run_ask, ask_stream

        agent_id, settings = agent_settings(opened, agent, model=model, k=k)
        answer = shown_while_written(stdout, ask_stream(opened, question, settings)) if streaming else \
            run_ask(opened, question, settings).to_dict()

    emit({**answer, "agent": agent_id}, as_json, lambda: render_answer(stdout, answer, agent_id, show_sources))


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(ask)
    app.command()(usage)
