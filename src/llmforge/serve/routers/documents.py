"""Documents over HTTP beside the upload: ``GET /v1/documents/{id}`` (pages and their text),
``DELETE /v1/documents/{id}`` and ``POST /v1/structure`` (a structuring run, as a job)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from llmforge import jobs as store
from llmforge.documents import delete_document, show_document
from llmforge.serve.auth import Caller, require
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["knowledge base"])
LOCK_WAIT_SECONDS = 30.0   # a delete waits this long for a writing job or CLI command, then 503


class StructureRequest(BaseModel):
    reembed: bool = False


@router.get("/v1/documents/{document_id}")
def document(document_id: str, project: ServedProject,
             _caller: Caller = Depends(require("documents:read"))) -> dict[str, Any]:
    return without_paths(show_document(project, document_id))


@router.delete("/v1/documents/{document_id}")
def delete(document_id: str, project: ServedProject,
           _caller: Caller = Depends(require("documents:write"))) -> dict[str, Any]:
    return without_paths(delete_document(project, document_id, wait=LOCK_WAIT_SECONDS))


@router.post("/v1/structure", status_code=202)
def structure(request: Request, body: StructureRequest | None = None,
              _caller: Caller = Depends(require("structure:write"))) -> dict[str, Any]:
    job = request.app.state.jobs.submit(store.STRUCTURE.name, {"reembed": bool(body and body.reembed)})
    return {"job": job["id"], "status_url": f"/v1/jobs/{job['id']}"}
