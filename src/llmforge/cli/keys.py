"""``llmforge keys create|list|revoke|rotate|rotate-signing``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, emit, note, open_project, stdout
from llmforge.cli.users import RoleChoice, audit_local

keys_app = typer.Typer(help="API keys for scripts and services (shown once, stored only as a hash), and the "
                       "keys that sign access tokens.", no_args_is_help=True)
KeyRef = Annotated[str, typer.Argument(help="The key's id or prefix (as `llmforge keys list` shows it).")]


def _show_secret(secret: str, record: dict[str, Any], as_json: bool) -> None:
    """Print a new key's secret, the one time it can be seen."""
    def render() -> None:
        stdout.print(secret, highlight=False, markup=False)
        note(f"API key {record['prefix']} ({record['name']}, {record['role']}): store it now, it cannot be "
             "shown again")

    emit({"key": secret, **record}, as_json, render)


def _scope(record: dict[str, Any]) -> dict[str, Any]:
    """What an audit record says about a key: never its secret."""
    return {k: record[k] for k in ("name", "owner", "role", "permissions", "agents", "expires")}


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists).", show_default=False)],
    role: Annotated[RoleChoice, typer.Option(help="The key's role (see `llmforge users roles`).",
                                             show_default=False)],
    owner: Annotated[str, typer.Option(help="The user the key acts for; the key never holds more than the "
                                       "user's role ('local': the operator, no user above it).")] = "local",
    expires: Annotated[float | None, typer.Option(help="Days until the key expires (default: never).",
                                                  show_default=False)] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Limit the key to this agent (repeat for more; "
                                                    "default: any).", show_default=False)] = None,
    permission: Annotated[list[str] | None, typer.Option(help="Limit the key to this permission of its role "
                                                         "(repeat for more; default: all of the role's).",
                                                         show_default=False)] = None,
    project: ProjectOption = None, as_json: JsonOption = False,
) -> None:
    """Create an API key and print it, once."""
    from llmforge.auth.keys import create_key

    opened = open_project(project)
    secret, record = create_key(opened, name=name, role=role.value, owner=owner, expires_days=expires,
                                agents=agent or (), permissions=permission or None)
    audit_local(opened, "keys.create", record["prefix"], _scope(record))
    _show_secret(secret, record, as_json)


def _day(moment: str | None, empty: str = "-") -> str:
    return moment[:10] if moment else empty


def _state(key: dict[str, Any]) -> str:
    if key["revoked"]:
        return "revoked"
    if key["expires"] and datetime.fromisoformat(key["expires"]) <= datetime.now(UTC):
        return "expired"
    return "active"


@keys_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every API key, revoked ones included (never a secret)."""
    from llmforge.auth.keys import list_keys

    keys = list_keys(open_project(project))

    def render() -> None:
        if not keys:
            stdout.print("no API keys yet (create one with `llmforge keys create --name NAME --role ROLE`)")
            return
        table = Table(box=None)
        for column in ("prefix", "name", "role", "owner", "created", "expires", "last used", "state"):
            table.add_column(column, no_wrap=column != "name")
        for key in keys:
            table.add_row(key["prefix"], escape(key["name"]), key["role"], escape(key["owner"]), _day(key["created"]),
                          _day(key["expires"], "never"), _day(key["last_used"], "never"), _state(key))
        stdout.print(table)

    emit(keys, as_json, render)


@keys_app.command("revoke")
def revoke(key: KeyRef, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Revoke an API key for good."""
    from llmforge.auth.keys import revoke_key

    opened = open_project(project)
    record = revoke_key(opened, key)
    audit_local(opened, "keys.revoke", record["prefix"])
    emit(record, as_json, lambda: stdout.print(f"revoked API key {record['prefix']} ({escape(record['name'])})"))


@keys_app.command("rotate")
def rotate(key: KeyRef, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Replace an API key by a new secret with the same scope; the old one stops working now."""
    from llmforge.auth.keys import get_key, rotate_key

    opened = open_project(project)
    secret, record = rotate_key(opened, key)
    old_prefix = get_key(opened, record["rotated_from"])["prefix"]
    audit_local(opened, "keys.rotate", record["prefix"], {**_scope(record), "rotated_from": old_prefix})
    _show_secret(secret, record, as_json)


@keys_app.command("rotate-signing")
def rotate_signing(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Sign access tokens with a new key; tokens signed with the old one stay valid until they expire."""
    from llmforge.auth.tokens import rotate_signing_key

    opened = open_project(project)
    kid = rotate_signing_key(opened)
    audit_local(opened, "keys.rotate_signing", kid)
    emit({"kid": kid}, as_json, lambda: stdout.print(f"access tokens are now signed with key {kid}"))


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
