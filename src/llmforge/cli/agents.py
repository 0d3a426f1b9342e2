"""``llmforge agents create|list|show|update|delete``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from llmforge.cli._common import JsonOption, ProjectOption, emit, open_project, stdout
from llmforge.settings import SEARCH_MODES

agents_app = typer.Typer(help="Named, versioned answer configurations (each is also model `agent:NAME`).",
                         no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="Agent name (lower-case letters, digits, '-', '_').")]
Model = Annotated[str | None, typer.Option(help="Language model (packaged name or .gguf path).")]
Prompt = Annotated[str | None, typer.Option("--system-prompt", help="Extra instructions put before the rules.")]
K = Annotated[int | None, typer.Option("-k", help="Passages to retrieve.")]
Mode = Annotated[str | None, typer.Option(help=f"Retrieval: {', '.join(SEARCH_MODES)}.")]
MinScore = Annotated[float | None, typer.Option(help="Relevance gate (vector similarity).")]
MaxTokens = Annotated[int | None, typer.Option(help="Longest answer, in tokens.")]
Temperature = Annotated[float | None, typer.Option(help="Sampling temperature (0: greedy).")]


def _config(model: str | None, system_prompt: str | None, k: int | None, mode: str | None,
            min_score: float | None, max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    return {"model": model, "system_prompt": system_prompt, "k": k, "mode": mode, "min_score": min_score,
            "max_tokens": max_tokens, "temperature": temperature}


def _show(agent: dict[str, Any]) -> None:
    stdout.print(f"[bold]agent:{escape(agent['name'])}[/] version {agent['version']}")
    for key, value in sorted(agent["config"].items()):
        stdout.print(f"  {key:<14} {escape(json.dumps(value, ensure_ascii=False))}", highlight=False)


@agents_app.command("create")
def create(name: Name, model: Model = None, system_prompt: Prompt = None, k: K = None, mode: Mode = None,
           min_score: MinScore = None, max_tokens: MaxTokens = None, temperature: Temperature = None,
           project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Create an agent (version 1)."""
    from llmforge.inference.agents import create_agent

    agent = create_agent(open_project(project), name,
                         _config(model, system_prompt, k, mode, min_score, max_tokens, temperature))
    emit(agent, as_json, lambda: _show(agent))


@agents_app.command("update")
def update(name: Name, model: Model = None, system_prompt: Prompt = None, k: K = None, mode: Mode = None,
           min_score: MinScore = None, max_tokens: MaxTokens = None, temperature: Temperature = None,
           project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Change an agent: the given settings, in a new version."""
    from llmforge.inference.agents import update_agent

    agent = update_agent(open_project(project), name,
                         _config(model, system_prompt, k, mode, min_score, max_tokens, temperature))
    emit(agent, as_json, lambda: _show(agent))


@agents_app.command("show")
def show(name: Name, version: Annotated[int | None, typer.Option(help="An earlier version.")] = None,
         project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """An agent's settings (latest version unless --version)."""
    from llmforge.inference.agents import get_agent

    agent = get_agent(open_project(project), name, version)
    emit(agent, as_json, lambda: _show(agent))


@agents_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Every agent at its latest version."""
    from llmforge.inference.agents import list_agents

    agents = list_agents(open_project(project))

    def render() -> None:
        if not agents:
            stdout.print("no agents yet (the built-in `default` agent answers until you create one)")
        for agent in agents:
            _show(agent)

    emit(agents, as_json, render)


@agents_app.command("delete")
def delete(name: Name, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Delete an agent and all its versions."""
    from llmforge.inference.agents import delete_agent

    removed = delete_agent(open_project(project), name)
    emit({"name": name, "versions_deleted": removed}, as_json,
         lambda: stdout.print(f"deleted agent {escape(name)} ({removed} versions)"))


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")
