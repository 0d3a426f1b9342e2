"""``GET /healthz`` (no auth), ``GET /metrics`` (Prometheus text; anonymous only with
``serve.metrics_anonymous``) and ``GET /v1/usage``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from llmforge._version import __version__
from llmforge.serve.auth import Caller, require
from llmforge.serve.state import ServedProject
from llmforge.serve.usage import usage_summary

router = APIRouter(tags=["service"])


@router.get("/healthz")
def healthz(project: ServedProject) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "project": project.root.name}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics_text(request: Request,
                 _caller: Caller = Depends(require("metrics:read", anonymous_setting="serve.metrics_anonymous"))) -> str:
    state = request.app.state
    state.metrics.queue_depth = state.jobs.depth
    return state.metrics.render()


@router.get("/v1/usage")
def usage_route(request: Request, project: ServedProject, since: datetime | None = None, by: str = "day",
                caller: Caller = Depends(require("usage:read"))) -> dict[str, Any]:
    """Every caller's usage for ``usage:read:all``; otherwise the caller's own (an analyst's)."""
    request.app.state.usage.flush()   # the records of the last seconds are still in the buffer
    user = None if caller.can("usage:read:all") else caller.user
    return {"by": by, "user": user, "rows": usage_summary(project, since, by, user=user)}
