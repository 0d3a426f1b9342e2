"""``llmforge models list|show|lineage|promote|delete|export``: the model repository."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.errors import UsageError

models_app = typer.Typer(help="Fine-tuned model versions: list, inspect, promote, export, delete.",
                         no_args_is_help=True)
Ref = Annotated[str, typer.Argument(help="NAME (its promoted, else latest, version) or NAME@vN.")]
Force = Annotated[bool, typer.Option("--force", help="Skip the safety checks (see the command's help).")]


def _ppl(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _row(version: dict[str, Any]) -> list[str]:
    manifest = version["manifest"]
    return [version["ref"], "*" if version["promoted"] else "", str(manifest.get("created_at") or "-")[:16],
            str((manifest.get("base") or {}).get("spec") or "-"),
            str((manifest.get("dataset") or {}).get("name") or "-"),
            str(manifest.get("backend") or "-"), _ppl((manifest.get("metrics") or {}).get("eval_perplexity")),
            ", ".join(sorted(key for key, value in (manifest.get("exports") or {}).items() if value)) or "-"]


@models_app.command("list")
def list_(name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
          project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every version in the repository (* marks the promoted one)."""
    from llmforge.registry import list_versions

    versions = [v.to_dict() for v in list_versions(open_project(project), name)]

    def render() -> None:
        if not versions:
            stdout.print("no model versions yet (a training run registers one)")
            return
        table = Table("ref", "promoted", "created", "base", "dataset", "backend", "eval ppl", "exports")
        for version in versions:
            table.add_row(*map(escape, _row(version)))
        stdout.print(table)

    emit(versions, as_json, render)


def _render_lineage(lineage: dict[str, Any]) -> None:
    for step in lineage["chain"]:
        dataset = step["dataset"]
        stdout.print(f"  {escape(step['ref'])}  dataset {escape(str(dataset['name']))} "
                     f"(documents: {dataset['documents']})  eval ppl {_ppl(step['eval_perplexity'])}", highlight=False)
    if lineage["missing_parent"]:
        stdout.print(f"  {escape(lineage['missing_parent'])}  (deleted)", highlight=False)
    base = lineage["base"]
    stdout.print(f"  base {escape(str(base.get('spec')))}  sha256 {str(base.get('sha256'))[:16]}", highlight=False)
    stdout.print(f"documents ({len(lineage['documents'])}):")
    for doc in lineage["documents"]:
        where = doc["source_path"] or "(no longer in the catalog)"
        stdout.print(f"  {escape(doc['id'])}  {escape(where)}", highlight=False)


@models_app.command("show")
def show(ref: Ref, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """A version's manifest, lineage and file verification."""
    from llmforge.registry import get_version, lineage, verify_files

    opened = open_project(project)
    version = get_version(opened, ref)
    result = {**version.to_dict(), "lineage": lineage(opened, version.ref), "problems": verify_files(version)}

    def render() -> None:
        manifest = version.manifest
        stdout.print(f"[bold]{escape(version.ref)}[/]" + (" (promoted)" if version.promoted else ""))
        for key in ("created_at", "job_id", "backend", "base", "dataset", "hyperparameters", "metrics", "exports"):
            value = manifest.get(key)
            if key == "dataset" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k != "documents"}
            stdout.print(f"  {key:<16} {escape(json.dumps(value, ensure_ascii=False))}", highlight=False)
        stdout.print("lineage:")
        _render_lineage(result["lineage"])
        files = len(manifest.get("files") or {})
        stdout.print(f"files: {files} verified" if not result["problems"] else "files: PROBLEMS")
        for problem in result["problems"]:
            stdout.print(f"  {escape(problem)}", highlight=False)

    emit(result, as_json, render)


@models_app.command("lineage")
def lineage_(ref: Ref, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """The chain of parent versions down to the base model, and the documents trained on."""
    from llmforge.registry import lineage

    result = lineage(open_project(project), ref)

    def render() -> None:
        stdout.print(f"[bold]{escape(result['ref'])}[/]")
        _render_lineage(result)

    emit(result, as_json, render)


@models_app.command("promote")
def promote(ref: Ref, force: Force = False, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Make a version the one its bare NAME serves.

    Refused when its eval perplexity is above its parent's (or the base model's) or it is not
    evaluated, unless --force; always refused when its files fail verification.
    """
    from llmforge.auth.audit import record_local
    from llmforge.registry import promote as promote_version

    opened = open_project(project)
    version = promote_version(opened, ref, force=force)
    record_local(opened, "models.promote", version.ref, {"force": force})
    emit(version.to_dict(), as_json,
         lambda: stdout.print(f"promoted {escape(version.ref)}: `{escape(version.name)}` now serves it"))


def _confirm(ref: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"deleting {ref} needs --yes when not run from a terminal")
    if not typer.confirm(f"Delete {ref} and its files?", default=False):
        stdout.print("nothing deleted")
        raise typer.Exit(1)


@models_app.command("delete")
def delete(ref: Annotated[str, typer.Argument(help="NAME@vN: the version to delete.")], force: Force = False,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
           project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Delete a version. The promoted version, or the parent of another, only with --force."""
    from llmforge.registry import check_deletable, delete_version

    opened = open_project(project)
    checked = check_deletable(opened, ref, force=force)  # refuse before asking
    if not yes:
        _confirm(checked.ref)
    version = delete_version(opened, checked.ref, force=force)
    emit(version.to_dict(), as_json, lambda: stdout.print(f"deleted {escape(version.ref)}"))


@models_app.command("export")
def export(ref: Ref,
           kind: Annotated[str, typer.Option(help="adapter: a LoRA GGUF over the base GGUF; merged: one GGUF.")]
           = "adapter",
           quantization: Annotated[str | None, typer.Option(
               help="GGUF type of a merged export: q8_0 (default), q4_k_m, f16 or f32 (an adapter is f16).",
               show_default=False)] = None,
           project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Export a version as GGUF for llama.cpp, so `llmforge serve` can load it."""
    from llmforge.train.export import export_version

    result = export_version(open_project(project), ref, kind=kind, quantization=quantization)

    def render() -> None:
        for key, value in result.items():
            stdout.print(f"{key:<16} {escape(json.dumps(value, ensure_ascii=False, default=str))}", highlight=False)

    emit(result, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
