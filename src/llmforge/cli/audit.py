"""``llmforge audit list|verify|import``: read the hash-chained audit log, check it is intact, and
bring read-only replicas' audit files into it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, print_json, stderr, stdout

audit_app = typer.Typer(help="The audit log of security-relevant actions: list it, verify its hash chain, "
                        "import replicas' audit files.",
                        no_args_is_help=True)


@audit_app.command("list")
def list_(since: Annotated[datetime | None, typer.Option(help="Only records since (ISO date or time).")] = None,
          user: Annotated[str | None, typer.Option(help="Only records of this actor (a user name, or local).")] = None,
          action: Annotated[str | None, typer.Option(help="Only actions starting with this, e.g. config.")] = None,
          limit: Annotated[int, typer.Option(min=1, help="Show the latest N records.")] = 100,
          project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """The latest audit records, oldest first (time in UTC; who is actor/key prefix)."""
    from llmforge.auth.audit import list_records

    records = [r.to_dict() for r in list_records(open_project(project), since, user, action, limit)]

    def render() -> None:
        if not records:
            stdout.print("no audit records match")
        for r in records:   # one line each, like `git log --oneline`: a table would wrap every field
            who = "/".join(str(v) for v in (r["actor"] or "-", r["key_prefix"]) if v)
            status = f" → {r['status']}" if r["status"] is not None else ""
            details = f"  {json.dumps(r['details'], ensure_ascii=False)}" if r["details"] is not None else ""
            when = r["ts"][:19].replace("T", " ")
            stdout.print(f"{r['seq']:>6}  {when}  {escape(who)}  {escape(r['client'] or '-')}  "
                         f"[bold]{escape(r['action'])}[/] {escape(r['target'] or '')}{status}{escape(details)}",
                         highlight=False)

    emit(records, as_json, render)


@audit_app.command("verify")
def verify(expect_head: Annotated[str | None, typer.Option(
               "--expect-head", metavar="SEQ:HASH",
               help="A head printed by an earlier verify: fail unless it is still in the chain, unchanged.")] = None,
           file: Annotated[Path | None, typer.Option(
               "--file", help="Verify this audit file of a read-only replica (`serve --audit-file`) instead "
               "of the project's log.", show_default=False)] = None,
           project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Recompute the hash chain; exit 1 naming the first record altered, missing or out of order.

    Keep the printed head (SEQ:HASH) somewhere the catalog's writers cannot reach: a chain is
    rewritable by whoever can write the catalog, and --expect-head detects that.
    """
    from llmforge.auth.audit import verify as verify_chain
    from llmforge.auth.audit import verify_file

    result = verify_file(file, expect_head) if file else verify_chain(open_project(project), expect_head)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        stdout.print(f"audit log intact: {result.count} records; head {result.head or 'none (empty log)'}",
                     highlight=False)
    if not result.ok:
        if not as_json:
            stderr.print(f"error: {result.reason}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)


@audit_app.command("import")
def import_(files: Annotated[list[Path], typer.Argument(
                help="Audit files of read-only replicas (`serve --audit-file`).", show_default=False)],
            replica: Annotated[str | None, typer.Option(
                help="The replica's name in the copied records (default: each file's name without its "
                "extension). Only with one file.")] = None,
            expect_head: Annotated[str | None, typer.Option(
                "--expect-head", metavar="SEQ:HASH",
                help="A head of the file printed by an earlier verify: refuse the file unless it holds it.")] = None,
            project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Copy replicas' audit records into this project's chain (only what earlier imports did not).

    Each file must verify first; a file that does not, or that no longer holds what an earlier
    import copied, is refused whole (exit 1) and the files after it are not read. Acts as the
    local operator, and records an audit.import with the file's verified head.
    """
    from llmforge.auth.audit import import_file

    if replica and len(files) > 1:
        raise typer.BadParameter("--replica names one file's replica; give one file with it")
    target = open_project(project)
    results = []
    for file in files:
        result = import_file(target, file, replica, expect_head)
        results.append(result.to_dict())
        if not as_json:
            stdout.print(f"{escape(result.replica)}: imported {result.imported} records "
                         f"({result.already} were already here); file head {result.file_head or 'none'}",
                         highlight=False)
    if as_json:   # FILES is required: there is a last result
        print_json({"imports": results, "head": results[-1]["head"]})
    else:
        stdout.print(f"audit log head {results[-1]['head']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
