"""Documents over HTTP beside the upload: ``GET /v1/documents/{id}`` (pages and their text),
``DELETE /v1/documents/{id}``, ``POST /v1/structure`` (a structuring run, as a job),
``GET /v1/documents/{id}/pages/{page_no}`` (one page, a cited passage marked) and
``GET /v1/documents/{id}/original`` (the original file, as a download)."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from llmforge import jobs as store
from llmforge.documents import delete_document, original_file, show_document, show_page
from llmforge.serve.auth import Caller, require
from llmforge.serve.jobs import safe_filename
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


@router.get("/v1/documents/{document_id}/pages/{page_no}")
def page(document_id: str, project: ServedProject, page_no: int = Path(ge=1, le=1_000_000),
         chunk: str | None = Query(None, max_length=200, description="A citation's chunk_id: its passage is "
                                   "marked in `segments`."),
         _caller: Caller = Depends(require("documents:read"))) -> dict[str, Any]:
    return without_paths(show_page(project, document_id, page_no, chunk))


@router.get("/v1/documents/{document_id}/original", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The original file."}})
def original(document_id: str, project: ServedProject,
             _caller: Caller = Depends(require("documents:read"))) -> StreamingResponse:
    found = original_file(project, document_id)
    headers = {"Content-Disposition": attachment(found.name), "X-Content-Type-Options": "nosniff",
               "Cache-Control": "no-store"}
    if found.size:
        headers["Content-Length"] = str(found.size)
    return StreamingResponse(found.chunks, media_type=found.mime, headers=headers)


_UNSAFE_ASCII = re.compile(r'[^A-Za-z0-9._ -]+')


def attachment(name: str) -> str:
    """A Content-Disposition that saves ``name`` (a base name) under a harmless file name: ASCII
    for old clients, the UTF-8 name (Arabic too) percent-encoded for the others."""
    name = safe_filename(name)
    stem, suffix = PurePath(name).stem, PurePath(name).suffix
    fallback = (_UNSAFE_ASCII.sub("_", stem).strip(" ._") or "document") + _UNSAFE_ASCII.sub("", suffix)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
