"""Datasets and training over HTTP, over the library calls `llmforge train data` and `llmforge train`
make: ``GET /v1/datasets``, ``POST /v1/datasets`` (a job), ``POST /v1/training/jobs`` (a detached
training process), ``GET /v1/training/jobs[/{id}]``, ``GET /v1/training/jobs/{id}/logs``,
``POST /v1/training/jobs/{id}/cancel`` and ``.../resume``.

HTTP callers name packaged bases and registered versions only, never files: a path would let any
operator-role caller make the server read what it likes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from llmforge import jobs as store
from llmforge.errors import UsageError
from llmforge.serve.auth import Caller, require
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["training"])
LOG_TAIL_MAX = 2000


class DatasetRequest(BaseModel):
    name: str = Field("default", description="Dataset name (a rebuild replaces it once complete).")
    synthesize_qa: int = Field(0, ge=0, le=5000, description="Question-answer pairs to generate from the corpus.")
    eval_fraction: float | None = Field(None, gt=0, lt=1)
    seed: int | None = None


class TrainingRequest(BaseModel):
    name: str = Field("assistant", description="Model name in the repository.")
    dataset: str = "default"
    base: str | None = Field(None, description="A packaged base model (default: setting train.base).")
    backend: str | None = Field(None, description="auto, unsloth or peft (default: setting train.backend).")
    parent: str | None = Field(None, description="Continue from this model version (NAME@vN).")
    epochs: float | None = Field(None, gt=0)
    max_steps: int | None = Field(None, ge=1)
    lora_r: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0, lt=1)
    seq_len: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    grad_accum: int | None = Field(None, ge=1)
    checkpoint_steps: int | None = Field(None, ge=1)


@router.get("/v1/datasets")
def datasets(project: ServedProject, _caller: Caller = Depends(require("datasets:read"))) -> dict[str, Any]:
    from llmforge.train.data import list_datasets

    return {"datasets": [without_paths(info.to_dict()) for info in list_datasets(project)]}


@router.post("/v1/datasets", status_code=202)
def build(body: DatasetRequest, request: Request, _caller: Caller = Depends(require("datasets:write"))) -> dict[str, Any]:
    job = request.app.state.jobs.submit(store.DATASET.name, {**body.model_dump(exclude_none=True), "sources": ["corpus"]})
    return {"job": job["id"], "status_url": f"/v1/jobs/{job['id']}"}


@router.post("/v1/training/jobs", status_code=202)
def start(body: TrainingRequest, project: ServedProject,
          _caller: Caller = Depends(require("training:write"))) -> dict[str, Any]:
    from llmforge.packaged import PACKAGED
    from llmforge.train.jobs import detach, submit

    if body.base is not None and body.base not in PACKAGED:
        raise UsageError(f"base must be a packaged model ({', '.join(PACKAGED)}); other bases are set by the "
                         "operator (setting train.base)")
    job = submit(project, **body.model_dump(exclude_none=True))
    return _public(detach(project, job["id"]))


@router.get("/v1/training/jobs")
def training_jobs(project: ServedProject, limit: int = Query(20, ge=1, le=500),
                  _caller: Caller = Depends(require("training:read"))) -> dict[str, Any]:
    return {"jobs": [_public(job) for job in store.list_jobs(project, store.TRAIN.name, limit)]}


@router.get("/v1/training/jobs/{job_id}")
def training_job(job_id: str, project: ServedProject,
                 _caller: Caller = Depends(require("training:read"))) -> dict[str, Any]:
    return _public(store.get_job(project, job_id, store.TRAIN.name))


@router.get("/v1/training/jobs/{job_id}/logs")
def logs(job_id: str, project: ServedProject, tail: int = Query(200, ge=1, le=LOG_TAIL_MAX),
         _caller: Caller = Depends(require("training:read"))) -> dict[str, Any]:
    from llmforge.train.jobs import log_path

    store.get_job(project, job_id, store.TRAIN.name)   # 404 for an unknown job, before touching files
    path = log_path(project, job_id)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
    return {"job": job_id, "lines": lines[-tail:]}


@router.post("/v1/training/jobs/{job_id}/cancel")
def cancel(job_id: str, project: ServedProject, _caller: Caller = Depends(require("training:write"))) -> dict[str, Any]:
    from llmforge.train.jobs import cancel as cancel_job

    return _public(cancel_job(project, job_id))


@router.post("/v1/training/jobs/{job_id}/resume", status_code=202)
def resume(job_id: str, project: ServedProject, _caller: Caller = Depends(require("training:write"))) -> dict[str, Any]:
    from llmforge.train.jobs import detach, prepare_resume

    prepare_resume(project, job_id)
    return _public(detach(project, job_id))


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return without_paths({**job, "status_url": f"/v1/training/jobs/{job['id']}"})
