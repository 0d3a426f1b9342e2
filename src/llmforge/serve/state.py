"""What the routers share. :func:`llmforge.serve.app.create_app` keeps the served project and its
workers (metrics, usage recorder, job runner) on ``app.state``; routes read them from the request
(the project through :data:`ServedProject`), so a router module is written without an app in hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from llmforge.project import Project

MB = 1_000_000


def served_project(request: Request) -> Project:
    """The project this app serves (a FastAPI dependency)."""
    return request.app.state.project


ServedProject = Annotated[Project, Depends(served_project)]


def max_upload_bytes(project: Project) -> int:
    """``serve.max_upload_mb`` in bytes: the limit of a request body and of each uploaded file."""
    return int(float(project.settings["serve.max_upload_mb"]) * MB)


def account_tokens(request: Request, model: str, prompt: int, completion: int) -> None:
    """Record an answer's tokens: on the request for its usage record, and in the metrics."""
    request.state.model, request.state.prompt_tokens, request.state.completion_tokens = model, prompt, completion
    request.app.state.metrics.add_tokens(model, "prompt", prompt)
    request.app.state.metrics.add_tokens(model, "completion", completion)
