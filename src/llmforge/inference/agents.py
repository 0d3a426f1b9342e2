"""Agents: named, versioned answer configurations (model, prompt, retrieval, generation).

Every change makes a new version, so an answer can always be traced to the exact configuration
that produced it; the latest version is the one used. Each agent is also a model id,
``agent:NAME``, in the OpenAI-compatible API.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from llmforge.errors import NotFoundError, UsageError
from llmforge.project import Project
from llmforge.inference.rag import AgentSettings
from llmforge.settings import SEARCH_MODES

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELDS = {f.name for f in dataclasses.fields(AgentSettings)}
DEFAULT = "default"


def _validate(name: str, config: dict[str, Any]) -> dict[str, Any]:
    if not _NAME.match(name):
        raise UsageError(f"agent names are 1-64 lower-case letters, digits, '-' or '_': {name!r}")
    unknown = set(config) - FIELDS
    if unknown:
        raise UsageError(f"unknown agent settings: {', '.join(sorted(unknown))} (known: {', '.join(sorted(FIELDS))})")
    return _checked_values(config)


def _checked_values(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without its None values, once each value is checked: stored agents and the
    overrides of one request obey the same bounds."""
    clean = {key: value for key, value in config.items() if value is not None}
    if "mode" in clean and clean["mode"] not in SEARCH_MODES:
        raise UsageError(f"mode must be one of {', '.join(SEARCH_MODES)}")
    for key, low, high in (("k", 1, 50), ("max_tokens", 1, 4096), ("temperature", 0.0, 2.0), ("min_score", 0.0, 1.0)):
        value = clean.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise UsageError(f"{key} must be between {low} and {high}")
    return clean


def create_agent(project: Project, name: str, config: dict[str, Any]) -> dict[str, Any]:
    clean = _validate(name, config)
    with project.catalog() as conn:
        if conn.execute("SELECT 1 FROM agents WHERE name = ?", [name]).fetchone():
            raise UsageError(f"agent {name!r} exists; change it with `llmforge agents update {name}`")
        conn.execute("INSERT INTO agents (name, version, config) VALUES (?, 1, ?)", [name, json.dumps(clean)])
    return get_agent(project, name)


def update_agent(project: Project, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_agent(project, name)
    merged = _validate(name, {**current["config"], **{k: v for k, v in changes.items() if v is not None}})
    with project.catalog() as conn:
        conn.execute("INSERT INTO agents (name, version, config) VALUES (?, ?, ?)",
                     [name, current["version"] + 1, json.dumps(merged)])
    return get_agent(project, name)


def get_agent(project: Project, name: str, version: int | None = None) -> dict[str, Any]:
    with project.catalog() as conn:
        row = conn.execute("SELECT name, version, config, created_at FROM agents WHERE name = ? AND "
                           "(? IS NULL OR version = ?) ORDER BY version DESC LIMIT 1", [name, version, version]).fetchone()
    if row is None:
        if name == DEFAULT and version is None:
            return {"name": DEFAULT, "version": 0, "config": {}, "created_at": None}
        raise NotFoundError(f"no agent {name!r}" + (f" version {version}" if version else "") +
                            " (see `llmforge agents list`)")
    return {"name": row[0], "version": row[1], "config": json.loads(row[2]), "created_at": row[3]}


def list_agents(project: Project) -> list[dict[str, Any]]:
    with project.catalog() as conn:
        rows = conn.execute("SELECT name, max(version) FROM agents GROUP BY name ORDER BY name").fetchall()
    return [get_agent(project, name) for name, _ in rows]


def delete_agent(project: Project, name: str) -> int:
    get_agent(project, name)
    with project.catalog() as conn:
        return conn.execute("DELETE FROM agents WHERE name = ?", [name]).fetchone()[0]


def agent_settings(project: Project, name: str | None, *, model: str | None = None, k: int | None = None,
                   system_prompt: str | None = None, max_tokens: int | None = None) -> tuple[str, AgentSettings]:
    """``(agent:NAME@version, settings)`` for an agent name (``agent:`` prefix allowed; None: the
    default agent), with the overrides of one question applied (None keeps the agent's value).

    The overrides live here, not in each caller, so the CLI's ``ask``, ``/v1/ask`` and the
    ``agent:NAME`` chat model apply and check them the same way. The id names the stored version
    the overrides were applied to.

    Raises:
        NotFoundError: no such agent.
        UsageError: an override out of the bounds a stored agent must keep.
    """
    name = (name or DEFAULT).removeprefix("agent:")
    agent = get_agent(project, name)
    overrides = _checked_values({"model": model, "k": k, "system_prompt": system_prompt, "max_tokens": max_tokens})
    return f"agent:{agent['name']}@{agent['version']}", AgentSettings(**{**agent["config"], **overrides})
