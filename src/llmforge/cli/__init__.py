"""The ``llmforge`` command: a Typer app; one module per command group."""

from __future__ import annotations

import atexit
import errno
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmforge import offline
from llmforge._version import __version__
from llmforge.cli import _common
from llmforge.cli._common import OPTIONS, stderr
from llmforge.errors import LlmforgeError

app = typer.Typer(
    name="llmforge",
    help="Offline documents → knowledge base → fine-tuned local model → secure QA service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmforge {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", help="Project directory (default: $LLMFORGE_PROJECT, or the nearest "
        "parent directory holding llmforge.toml).", show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    OPTIONS.project = project
    OPTIONS.verbose = verbose
    OPTIONS.quiet = quiet
    OPTIONS.debug = debug or os.environ.get("LLMFORGE_DEBUG") == "1"
    _common.configure_console_logging()
    _common.full_width_unless_terminal()


def _register() -> None:
    from llmforge.cli import (agents, audit, config, doctor, documents, ingest, init, models, serve, status,
                              structure, tls, train)
    from llmforge.cli import cluster, keys, snapshot, users

    for module in (init, ingest, documents, structure, train, models, serve, agents, status, config, doctor, tls,
                   audit, users, keys, snapshot, cluster):
        module.register(app)


_register()


GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--debug"})


def hoist_global_flags(argv: list[str]) -> list[str]:
    """``argv`` with the global flags moved before the subcommand, so that ``llmforge init kb -q``
    works like ``llmforge -q init kb`` (``--project/-p`` is declared on both sides already).
    Nothing after ``--`` moves."""
    flags, rest = [], []
    for index, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[index:])
            break
        (flags if arg in GLOBAL_FLAGS else rest).append(arg)
    return flags + rest


def main() -> None:
    """Console entry point: run the app, turning llmforge errors into one line and an exit code
    (with ``--json``, also a JSON error object on stdout, so a pipe into a JSON reader still parses)."""
    # The process ends with the command, and Python's last garbage collections over what a search
    # leaves (lancedb, pyarrow, the embedder) took 0.2-0.4 s to free what the OS frees anyway:
    # they skip frozen objects. atexit runs this after every handler registered later.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    offline.set_offline_env()
    if os.environ.get("LLMFORGE_OFFLINE_REFUSE_NETWORK", "1").lower() not in ("0", "false", "no", "off"):
        offline.refuse_outbound_connections()
    argv = hoist_global_flags(sys.argv[1:])
    wants_json = "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
    try:
        app(args=argv, prog_name="llmforge")
    except KeyboardInterrupt:
        stderr.print("interrupted", highlight=False)
        sys.exit(130)
    except LlmforgeError as exc:
        if OPTIONS.debug:
            raise
        logging.getLogger("llmforge").info("command failed: %s", exc, exc_info=True,
                                            extra=_common.FILE_ONLY)
        _fail(str(exc), type(exc).__name__, exc.exit_code, wants_json)
    except Exception as exc:  # noqa: BLE001 — the last line of defence before a traceback
        if OPTIONS.debug:
            raise
        if isinstance(exc, OSError) and exc.errno == errno.EROFS:
            # a write that no read-only check caught (ReadOnlyProjectError is the usual way)
            _fail(f"cannot write {exc.filename}: read-only file system (a read-only mount or snapshot); "
                  "run this where the project is writable", "ReadOnlyProjectError", 1, wants_json)
        logging.getLogger("llmforge").error("unexpected failure", exc_info=True,
                                             extra=_common.FILE_ONLY)
        _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", "unexpected", 1,
              wants_json)


def _fail(message: str, kind: str, code: int, as_json: bool) -> None:
    """The one line on stderr, the JSON error on stdout for ``--json``, and the exit code."""
    if as_json:
        _common.print_json({"error": {"message": message, "type": kind, "code": code}})
    stderr.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)
