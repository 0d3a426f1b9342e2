"""``llmforge tls init|show``: the certificate authority and server certificate for HTTPS."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.tls import CA_DAYS, DEFAULT_DAYS, init_tls, tls_status

tls_app = typer.Typer(help="TLS material for `llmforge serve --tls` (secrets/tls/).", no_args_is_help=True)


@tls_app.command("init")
def init(
    names: Annotated[list[str] | None, typer.Option("--name", help="A DNS name clients use for this server "
                                                    "(repeatable; localhost is always included).")] = None,
    ips: Annotated[list[str] | None, typer.Option("--ip", help="An IP address clients use for this server "
                                                  "(repeatable; 127.0.0.1 and ::1 are always included).")] = None,
    days: Annotated[int, typer.Option(min=1, max=CA_DAYS, help="Validity of the server certificate.")] = DEFAULT_DAYS,
    force: Annotated[bool, typer.Option("--force", help="Replace the server certificate and key, signed by the "
                                        "existing CA (clients keep trusting ca.pem); without --name/--ip "
                                        "it keeps the old certificate's names.")] = False,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a local CA and a server certificate it signs (ECDSA P-256; keys 0600)."""
    status = init_tls(open_project(project), names or [], ips or [], days, force)

    def render() -> None:
        _print_status(status)
        stdout.print(f"Give clients {escape(status['files']['ca.pem']['path'])} to trust; "
                     "serve with `llmforge serve --tls`.", highlight=False)

    emit(status, as_json, render)


@tls_app.command("show")
def show(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """The TLS files, certificate fingerprints, names and expiry (never the keys)."""
    status = tls_status(open_project(project))
    emit(status, as_json, lambda: _print_status(status))


def _print_status(status: dict[str, Any]) -> None:
    for name, file in status["files"].items():
        stdout.print(f"{name:<11} {escape(file['path']) if file['present'] else '[yellow]missing[/]'}")
    for label in ("ca", "server"):
        cert = status[label]
        if cert:
            stdout.print(f"{label:<7} sha256 {cert['sha256']}\n        expires {cert['expires']} "
                         f"({cert['days_left']} days)" + (f"\n        names {', '.join(cert['names'])}"
                                                           if cert["names"] else ""), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(tls_app, name="tls")
