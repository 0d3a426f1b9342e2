"""``GET /v1/jobs/{id}`` and ``POST /v1/jobs/{id}/resume``: background jobs (uploads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from llmforge.serve.auth import Caller, require
from llmforge.serve.jobs import get_job
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}")
def job(job_id: str, project: ServedProject, _caller: Caller = Depends(require("jobs:read"))) -> dict[str, Any]:
    return get_job(project, job_id)


@router.post("/v1/jobs/{job_id}/resume")
def resume_job(job_id: str, request: Request,
               _caller: Caller = Depends(require("documents:write"))) -> dict[str, Any]:
    return request.app.state.jobs.resume(job_id)
