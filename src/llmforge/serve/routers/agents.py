"""Agents over HTTP: ``GET /v1/agents``, ``GET /v1/agents/{name}``, ``POST /v1/agents``,
``PATCH /v1/agents/{name}``, ``DELETE /v1/agents/{name}`` — the library calls `llmforge agents` makes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from llmforge.inference.agents import create_agent, delete_agent, get_agent, list_agents, update_agent
from llmforge.serve.auth import Caller, check_agent, require
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["agents"])


@router.get("/v1/agents")
def agents(project: ServedProject, caller: Caller = Depends(require("agents:read"))) -> dict[str, Any]:
    return {"agents": [without_paths(agent) for agent in list_agents(project) if caller.may_use_agent(agent["name"])]}


@router.get("/v1/agents/{name}")
def agent(name: str, project: ServedProject, version: int | None = None,
          caller: Caller = Depends(require("agents:read"))) -> dict[str, Any]:
    check_agent(caller, name)
    return without_paths(get_agent(project, name, version))


@router.post("/v1/agents", status_code=201)
def create(project: ServedProject, name: str = Body(...), config: dict[str, Any] = Body(default_factory=dict),
           _caller: Caller = Depends(require("agents:write"))) -> dict[str, Any]:
    return without_paths(create_agent(project, name, config))


@router.patch("/v1/agents/{name}")
def update(name: str, project: ServedProject, changes: dict[str, Any] = Body(...),
           _caller: Caller = Depends(require("agents:write"))) -> dict[str, Any]:
    return without_paths(update_agent(project, name, changes))


@router.delete("/v1/agents/{name}")
def delete(name: str, project: ServedProject, _caller: Caller = Depends(require("agents:write"))) -> dict[str, Any]:
    return {"name": name, "versions_deleted": delete_agent(project, name)}
