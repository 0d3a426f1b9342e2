"""``llmforge train data build|list|show``: training datasets (see :mod:`llmforge.train.data`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, progress_bar, stdout

if TYPE_CHECKING:
    from llmforge.train.data import DatasetInfo

data_app = typer.Typer(help="Training datasets: corpus text, your own examples and synthetic QA pairs, "
                            "split into train and eval by document.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="Dataset name.")]
NameOption = Annotated[str, typer.Option("--name", help="Dataset name (letters, digits, '-', '_', '.'); "
                                         "an existing dataset of that name is replaced.")]
Sources = Annotated[list[str] | None, typer.Option(
    "--from", help="'corpus' (the structured chunks) or a .jsonl file of chat or instruction examples; "
    "repeat to combine (default: corpus).", show_default=False)]
SynthesizeQa = Annotated[int, typer.Option("--synthesize-qa", min=0, help="Ask the local model (setting "
                                           "serve.model) for this many question-answer pairs about chunks.")]
EvalFraction = Annotated[float | None, typer.Option(min=0.0, max=1.0, show_default=False,
                                                    help="Share of documents held out for evaluation "
                                                    "(default: setting train.eval_fraction).")]
Seed = Annotated[int | None, typer.Option(help="Seed of the split and the QA sample (default: setting train.seed).",
                                          show_default=False)]


def _show(info: DatasetInfo) -> None:
    held = f" ({len(info.eval_documents)} held out for eval)" if info.documents else ""
    lines = [
        ("rows", f"{info.train_rows} train, {info.eval_rows} eval ({', '.join(info.kinds)})"),
        ("documents", f"{len(info.documents)}{held}"),
        ("sources", ", ".join(info.sources)),
        ("split", f"eval fraction {info.eval_fraction:g}, seed {info.seed}"),
        ("sha256", info.sha256),
        ("created", info.created_at),
        ("path", str(info.path)),
    ]
    if info.qa_pairs or info.qa_discarded:
        lines.insert(3, ("synthetic", f"{info.qa_pairs} QA pairs kept, {info.qa_discarded} discarded"))
    stdout.print(f"[bold]dataset {escape(info.name)}[/]")
    for label, value in lines:
        stdout.print(f"  {label:<10} {escape(value)}", highlight=False)
    for text in info.notes:
        stdout.print(f"  [yellow]note[/]       {escape(text)}", highlight=False)


@data_app.command("build")
def build(sources: Sources = None, name: NameOption = "default", synthesize_qa: SynthesizeQa = 0,
          eval_fraction: EvalFraction = None, seed: Seed = None, project: ProjectOption = None,
          as_json: JsonOption = False) -> None:
    """Build a dataset from the corpus and/or example files, split by document."""
    from llmforge.train.data import build_dataset

    opened = open_project(project)
    with progress_bar("synthesising QA pairs" if synthesize_qa else "building dataset",
                      synthesize_qa or None) as advance:
        info = build_dataset(opened, name=name, sources=tuple(sources or ("corpus",)), synthesize_qa=synthesize_qa,
                             eval_fraction=eval_fraction, seed=seed, progress=lambda done, total: advance())
    emit(info.to_dict(), as_json, lambda: _show(info))


@data_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every dataset of the project."""
    from llmforge.train.data import list_datasets

    infos = list_datasets(open_project(project))

    def render() -> None:
        if not infos:
            stdout.print("no datasets yet; build one with `llmforge train data build`")
            return
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("name", "train", "eval", "kinds", "documents", "created"):
            table.add_column(column, justify="right" if column in ("train", "eval", "documents") else "left")
        for info in infos:
            table.add_row(escape(info.name), str(info.train_rows), str(info.eval_rows), ", ".join(info.kinds),
                          str(len(info.documents)), info.created_at)
        stdout.print(table)

    emit([info.to_dict() for info in infos], as_json, render)


@data_app.command("show")
def show(name: Name, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """What a dataset holds and how it was built."""
    from llmforge.train.data import load_dataset_info

    info = load_dataset_info(open_project(project), name)
    emit(info.to_dict(), as_json, lambda: _show(info))


def register(train_app: typer.Typer) -> None:
    """Mount as ``llmforge train data``."""
    train_app.add_typer(data_app, name="data")
