"""``llmforge config show|get|set``: read and change settings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.settings import SETTINGS, get_setting, write_setting

config_app = typer.Typer(help="Show and change project settings.", no_args_is_help=True)


@config_app.command("show")
def show(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every setting with its value, where the value came from, and its meaning."""
    settings = open_project(project).settings
    rows = [{"name": s.name, "value": settings[s.name], "source": settings.source(s.name),
             "default": s.default, "env": s.env_var, "help": s.help} for s in SETTINGS]

    def render() -> None:
        table = Table("setting", "value", "source", "help")
        for row in rows:
            table.add_row(row["name"], str(row["value"]), row["source"], row["help"])
        stdout.print(table)

    emit(rows, as_json, render)


@config_app.command("get")
def get(name: Annotated[str, typer.Argument(help="Setting name, e.g. catalog.lock_timeout.")],
        project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Print one setting's value."""
    get_setting(name)
    settings = open_project(project).settings
    value = settings[name]
    emit({"name": name, "value": value, "source": settings.source(name)}, as_json,
         lambda: typer.echo(str(value).lower() if isinstance(value, bool) else value))


@config_app.command("set")
def set_(name: Annotated[str, typer.Argument(help="Setting name.")],
         value: Annotated[str, typer.Argument(help="New value.")],
         project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Store a setting in llmforge.toml (an LLMFORGE_* variable still overrides it)."""
    from llmforge.auth.audit import record_local

    opened = open_project(project)
    opened.require_writable("config set")
    stored = write_setting(opened.settings_path, name, value)
    record_local(opened, "config.set", name, {"value": stored})
    setting = get_setting(name)
    emit({"name": name, "value": stored}, as_json,
         lambda: stdout.print(f"{name} = {stored!r}" + (
             f"  (note: {setting.env_var} is set and overrides it)"
             if opened.reload_settings().source(name) == setting.env_var else ""), highlight=False))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
