"""``GET /v1/jobs``, ``GET /v1/jobs/{id}`` and ``POST /v1/jobs/{id}/resume``: jobs of every kind (uploads,
training), read from the one job store, so the server and ``llmforge train status`` agree."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from llmforge.serve.auth import Caller, require
from llmforge.jobs import KINDS, get_job, list_jobs
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs")
def jobs(project: ServedProject, kind: Literal[tuple(KINDS)] | None = Query(None),  # type: ignore[valid-type]
         limit: int = Query(50, ge=1, le=500), _caller: Caller = Depends(require("jobs:read"))) -> dict[str, Any]:
    return {"jobs": list_jobs(project, kind=kind, limit=limit)}


@router.get("/v1/jobs/{job_id}")
def job(job_id: str, project: ServedProject, _caller: Caller = Depends(require("jobs:read"))) -> dict[str, Any]:
    return get_job(project, job_id)


@router.post("/v1/jobs/{job_id}/resume")
def resume_job(job_id: str, request: Request,
               _caller: Caller = Depends(require("documents:write"))) -> dict[str, Any]:
    return request.app.state.jobs.resume(job_id)
