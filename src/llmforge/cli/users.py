"""``llmforge users add|list|disable|enable|set-role|passwd|roles``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmforge.auth.roles import PERMISSION_TABLE, ROLE_NAMES, ROLES
from llmforge.cli._common import JsonOption, ProjectOption, choice_enum, emit, open_project, stdout
from llmforge.errors import UsageError
from llmforge.project import Project

users_app = typer.Typer(help="Users who log in to the HTTP API, and the roles that say what they may do.",
                        no_args_is_help=True)
RoleChoice = choice_enum("RoleChoice", ROLE_NAMES)
Name = Annotated[str, typer.Argument(help="User name (1-64 letters, digits, '_', '.' or '-').")]
RoleArgument = Annotated[RoleChoice, typer.Argument(help="The new role.", show_default=False)]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input (for scripts) "
    "instead of asking twice.")]


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: standard input is empty")
        return line.removesuffix("\n").removesuffix("\r")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def audit_local(project: Project, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    """Record a security-relevant action of the operator at the shell (never a secret in details)."""
    from llmforge.auth import audit

    audit.record(project, action=action, actor="local", client="cli", target=target, details=details)


def when(moment: str | None, empty: str = "-") -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM`` for tables."""
    return moment[:16].replace("T", " ") if moment else empty


def _state(user: dict[str, Any]) -> str:
    if user["disabled"]:
        return "disabled"
    locked = user["locked_until"]
    if locked and datetime.fromisoformat(locked) > datetime.now(UTC):
        return f"locked until {when(locked)}"
    return "enabled"


def _show(user: dict[str, Any]) -> None:
    stdout.print(f"{escape(user['name'])}  {user['role']}  {_state(user)}", highlight=False)


@users_app.command("add")
def add(name: Name, role: Annotated[RoleChoice, typer.Option(help="What the user may do (see `llmforge users "
                                                                   "roles`).", show_default=False)],
        password_stdin: PasswordStdin = False, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Add a user (the password is asked twice, or read with --password-stdin)."""
    from llmforge.auth.users import add_user

    opened = open_project(project)
    user = add_user(opened, name, role.value, read_password(password_stdin))
    audit_local(opened, "users.add", name, {"role": role.value})
    emit(user, as_json, lambda: _show(user))


@users_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every user, with role and state."""
    from llmforge.auth.users import list_users

    users = list_users(open_project(project))

    def render() -> None:
        if not users:
            stdout.print("no users yet (add one with `llmforge users add NAME --role ROLE`)")
            return
        table = Table(box=None)
        for column in ("name", "role", "state", "created", "password changed"):
            table.add_column(column, no_wrap=True)
        for user in users:
            table.add_row(escape(user["name"]), user["role"], _state(user), when(user["created"]),
                          when(user["password_changed"]))
        stdout.print(table)

    emit(users, as_json, render)


def _set_disabled(name: str, disabled: bool, project: ProjectOption, as_json: bool) -> None:
    from llmforge.auth.users import set_disabled

    opened = open_project(project)
    user = set_disabled(opened, name, disabled)
    audit_local(opened, "users.disable" if disabled else "users.enable", name)
    emit(user, as_json, lambda: _show(user))


@users_app.command("disable")
def disable(name: Name, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Disable a user: logins, sessions and the user's API keys stop working."""
    _set_disabled(name, True, project, as_json)


@users_app.command("enable")
def enable(name: Name, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Enable a disabled user again (their API keys work again; sessions need a new login)."""
    _set_disabled(name, False, project, as_json)


@users_app.command("set-role")
def set_role_(name: Name, role: RoleArgument, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Change a user's role; it applies to the user's tokens and keys at their next request."""
    from llmforge.auth.users import set_role

    opened = open_project(project)
    user = set_role(opened, name, role.value)
    audit_local(opened, "users.set_role", name, {"role": role.value})
    emit(user, as_json, lambda: _show(user))


@users_app.command("passwd")
def passwd(name: Name, password_stdin: PasswordStdin = False, project: ProjectOption = None,
           as_json: JsonOption = False) -> None:
    """Set a user's password (also lifts a lockout and ends the user's sessions)."""
    from llmforge.auth.users import set_password

    opened = open_project(project)
    user = set_password(opened, name, read_password(password_stdin))
    audit_local(opened, "users.passwd", name)
    emit(user, as_json, lambda: stdout.print(f"password of {escape(name)} changed"))


@users_app.command("roles")
def roles(as_json: JsonOption = False) -> None:
    """The roles and the permissions each grants."""
    data = {"roles": [{"name": r.name, "description": r.description, "permissions": sorted(r.permissions)}
                      for r in ROLES],
            "permissions": [{"name": p.name, "description": p.description} for p in PERMISSION_TABLE]}

    def render() -> None:
        table = Table("permission", *ROLE_NAMES, "allows", box=None)
        for permission in PERMISSION_TABLE:
            marks = ["x" if permission.name in r.permissions else "" for r in ROLES]
            table.add_row(permission.name, *marks, permission.description)
        for role in ROLES:
            stdout.print(f"[bold]{role.name}[/]: {escape(role.description)}")
        stdout.print(table)

    emit(data, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
