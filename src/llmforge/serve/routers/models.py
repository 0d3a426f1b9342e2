"""The model repository over HTTP: ``GET /v1/model-versions``, ``GET /v1/model-versions/{ref}``,
``POST /v1/model-versions/{ref}/promote`` and ``POST /v1/model-versions/{ref}/export`` (a job)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from llmforge import registry
from llmforge.serve.auth import Caller, require
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import ServedProject
from llmforge.train.export import EXPORT_KINDS, MERGED_TYPES

router = APIRouter(tags=["models"])


class ExportRequest(BaseModel):
    kind: Literal[EXPORT_KINDS] = "adapter"  # type: ignore[valid-type]
    quantization: Literal[MERGED_TYPES] | None = None  # type: ignore[valid-type]


class PromoteRequest(BaseModel):
    force: bool = False


@router.get("/v1/model-versions")
def versions(project: ServedProject, name: str | None = None,
             _caller: Caller = Depends(require("models:read"))) -> dict[str, Any]:
    return {"versions": [without_paths(v.to_dict()) for v in registry.list_versions(project, name)]}


@router.get("/v1/model-versions/{ref}")
def version(ref: str, project: ServedProject, _caller: Caller = Depends(require("models:read"))) -> dict[str, Any]:
    found = registry.get_version(project, ref)
    return without_paths({**found.to_dict(), "manifest": found.manifest, "lineage": registry.lineage(project, ref)})


@router.post("/v1/model-versions/{ref}/promote")
def promote(ref: str, project: ServedProject, body: PromoteRequest | None = None,
            _caller: Caller = Depends(require("models:write"))) -> dict[str, Any]:
    return without_paths(registry.promote(project, ref, force=bool(body and body.force)).to_dict())


@router.post("/v1/model-versions/{ref}/export", status_code=202)
def export(ref: str, request: Request, project: ServedProject, body: ExportRequest | None = None,
           _caller: Caller = Depends(require("models:write"))) -> dict[str, Any]:
    from llmforge.train.export import check_export

    body = body or ExportRequest()
    check_export(body.kind, body.quantization)   # refuse a bad pair now, not in the job
    version = registry.get_version(project, ref)
    job = request.app.state.jobs.submit("export", {"ref": version.ref, "kind": body.kind,
                                                   "quantization": body.quantization})
    return {"job": job["id"], "status_url": f"/v1/jobs/{job['id']}"}
