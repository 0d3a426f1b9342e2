"""What every command shares: global options, finding the project, output, progress, logging."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from llmforge import offline
from llmforge.project import Project, find_project
from llmforge.warm import KEY_ENV, OFF, SERVER_ENV, full_width, print_json

EXIT_PARTIAL = 3


@dataclass
class GlobalOptions:
    project: Path | None = None
    debug: bool = False
    verbose: bool = False
    quiet: bool = False


OPTIONS = GlobalOptions()

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ServerOption = Annotated[str | None, typer.Option(
    "--server", envvar=SERVER_ENV, show_default=False,
    help=f"Answer through this running `llmforge serve` (its URL; the API key from ${KEY_ENV}). Default: the "
         f"project's own server when it runs, else this process; '{OFF}': always this process.")]
ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project directory (default: $LLMFORGE_PROJECT, or the "
                 "nearest parent directory holding llmforge.toml).", show_default=False),
]
WaitOption = Annotated[
    float | None,
    typer.Option("--wait", help="Seconds to wait when another command is writing to the project "
                 "(default: setting lock.wait).", show_default=False, min=0),
]


StdinOption = Annotated[bool, typer.Option("--stdin", help="Read it from standard input (a long text: "
                                            "the command line has a length limit).")]


def text_argument(value: str | None, from_stdin: bool, what: str) -> str:
    """The text of a ``what`` argument: as given, or read from standard input for ``-`` or ``--stdin``.

    Raises:
        UsageError: none given, both given, or an empty text.
    """
    from llmforge.errors import UsageError

    if from_stdin and value not in (None, "-"):
        raise UsageError(f"give the {what} as an argument or with --stdin, not both")
    if from_stdin or value == "-":
        value = sys.stdin.read()
    if value is None or not value.strip():
        raise UsageError(f"no {what} given: pass it as an argument, or '-' / --stdin to read it from standard input")
    return value.strip()


def full_width_unless_terminal() -> None:
    """Standard output's console does not cut tables without a terminal (:func:`llmforge.warm.full_width`)."""
    full_width(stdout)


def choice_enum(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of ``values`` for an option's type: Typer offers an Enum's values as the choices,
    so the choice lists declared once in :mod:`llmforge.settings` are the CLI's as well."""
    return Enum(name, [(value, value) for value in values], type=str)


def open_project(explicit: Path | None = None) -> Project:
    """The project this command works on, with logging to its log file set up."""
    project = find_project(explicit or OPTIONS.project)
    if not project.settings["offline.refuse_network"]:
        offline.allow_outbound_connections()
    _log_to_project(project)
    return project


def _log_to_project(project: Project) -> None:
    root = logging.getLogger("llmforge")
    if any(getattr(h, "llmforge_project", None) == project.root for h in root.handlers):
        return
    for old in [h for h in root.handlers if getattr(h, "llmforge_project", None)]:
        root.removeHandler(old)  # one project log per process: a script opening another moves it
        old.close()
    log_dir = project.root / "logs"
    try:
        log_dir.mkdir(exist_ok=True)
        handler = logging.FileHandler(log_dir / "llmforge.log", encoding="utf-8")
    except OSError:
        return  # a read-only project still answers queries; it just keeps no log
    handler.llmforge_project = project.root  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(str(project.settings["log.level"]).upper())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives, not the stream of the moment the
    handler was made: a redirect (or a test runner's captured stream, since closed) may replace it."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 (a text stream)
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_console_logging() -> None:
    root = logging.getLogger("llmforge")
    for old in [h for h in root.handlers if getattr(h, "llmforge_console", False)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.llmforge_console = True  # type: ignore[attr-defined]
    handler.addFilter(lambda record: not getattr(record, "file_only", False))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if OPTIONS.debug else logging.INFO if OPTIONS.verbose else logging.WARNING)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


FILE_ONLY = {"file_only": True}  # logging ``extra``: for the project log, not the terminal


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON for scripts, or call ``render`` for people."""
    if as_json:
        print_json(data)
    else:
        render()


def note(message: str) -> None:
    """A message for people on stderr (silent with --quiet)."""
    if not OPTIONS.quiet:
        stderr.print(message, highlight=False)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A Rich progress bar on stderr, hidden when stderr is not a terminal or with --quiet.

    Yields ``advance(n=1, description=None)``.
    """
    visible = stderr.is_terminal and not OPTIONS.quiet
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, disable=not visible, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=n, **({"description": description} if description else {}))

        yield advance
