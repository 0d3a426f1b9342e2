"""The knowledge base: ``POST /v1/search``, ``POST /v1/ask`` (whole, or streamed as server-sent
events with ``"stream": true``), ``GET /v1/documents`` and ``POST /v1/documents`` (multipart
upload → a background ingest + structure job)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from llmforge.documents import list_documents
from llmforge.errors import LlmforgeError, UsageError
from llmforge.inference.agents import agent_settings
from llmforge.inference.rag import ask, ask_stream
from llmforge.inference.runtime import served_runtime
from llmforge.serve.auth import Caller, check_agent, require
from llmforge.serve.local import is_local_operator
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import MB, ServedProject, account_tokens, check_model_choice, generation, max_upload_bytes
from llmforge.settings import QUERY_LANGUAGES, SEARCH_MODES
from llmforge.structure.search import search

router = APIRouter(tags=["knowledge base"])
log = logging.getLogger(__name__)


class SearchRequest(BaseModel):
    query: str = Field(description="What to look for, in Arabic or English.")
    k: int | None = Field(None, ge=1, le=100, description="Results (default: setting search.k).")
    # Literal[a tuple] is Literal of its items at run time; type checkers want them written out.
    mode: Literal[SEARCH_MODES] | None = None  # type: ignore[valid-type]
    lang: Literal[QUERY_LANGUAGES] = "auto"  # type: ignore[valid-type]


class AskRequest(BaseModel):
    question: str = Field(description="A question about the documents, in Arabic or English.")
    agent: str | None = Field(None, description="Agent name (default: the built-in default agent).")
    k: int | None = Field(None, ge=1, le=50)
    model: str | None = Field(None, description="A language model listed by GET /v1/models (default: the "
                              "agent's, else serve.model).")
    stream: bool = Field(False, description="Answer as server-sent events: {type: delta, text} as the model "
                         "writes, {type: restart} when it is asked once more, then {type: answer, ...} with the "
                         "checked answer, citations (with their passage text), refused/reason and timings.")


@router.post("/v1/search")
def search_route(body: SearchRequest, project: ServedProject,
                 caller: Caller = Depends(require("search"))) -> dict[str, Any]:
    return _shown(caller, search(project, body.query, k=body.k, mode=body.mode, lang=body.lang).to_dict())


@router.post("/v1/ask", responses={200: {"content": {"text/event-stream": {}},
                                         "description": "The answer; server-sent events with stream."}})
def ask_route(body: AskRequest, request: Request, project: ServedProject,
              caller: Caller = Depends(require("ask"))) -> dict[str, Any]:
    check_agent(caller, body.agent or "default")
    if body.model:
        check_model_choice(caller, body.model)
    agent_id, settings = agent_settings(project, body.agent, model=body.model, k=body.k)
    runtime = served_runtime(project, settings.model, agent=None if body.model else agent_id)
    if body.stream:
        return _streamed_answer(request, caller, agent_id,  # type: ignore[return-value]
                                lambda: ask_stream(project, body.question, settings, runtime))
    with generation(request, caller) as charge:
        answer = ask(project, body.question, settings, runtime)
        charge(answer.completion_tokens)
    account_tokens(request, agent_id, answer.prompt_tokens, answer.completion_tokens)
    return _shown(caller, {**answer.to_dict(), "agent": agent_id})


def _shown(caller: Caller, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as ``caller`` may see it: without server paths, but for the project's owner on
    the local socket, who gets what the same command prints at the shell."""
    return record if is_local_operator(caller) else without_paths(record)


@router.get("/v1/documents")
def documents(project: ServedProject, include_all: bool = False,
              _caller: Caller = Depends(require("documents:read"))) -> dict[str, Any]:
    return {"documents": without_paths(list_documents(project, include_all=include_all))}


@router.post("/v1/documents", status_code=202)
async def upload(request: Request, project: ServedProject, files: list[UploadFile] = File(...),
                 _caller: Caller = Depends(require("documents:write"))) -> dict[str, Any]:
    limit = max_upload_bytes(project)
    received = []
    for upload_file in files:
        data = await upload_file.read(limit + 1)
        if len(data) > limit:
            raise UsageError(f"{upload_file.filename} is over {limit // MB} MB (serve.max_upload_mb)")
        received.append((upload_file.filename or "upload", data))
    job_id, stored = request.app.state.jobs.submit_upload(received)
    return {"job": job_id, "status_url": f"/v1/jobs/{job_id}", "files": stored}


def _streamed_answer(request: Request, caller: Caller, agent_id: str,
                     start: Callable[[], Iterator[dict[str, Any]]]) -> StreamingResponse:
    """The answer's events as server-sent events, within the caller's generation limits: its slot
    is held until the stream ends or breaks, and what was generated is charged either way.
    Retrieval and the first token happen before the response starts, so their errors keep their
    status codes; a later error is the stream's last event, ``{"type": "error", "error": ...}``."""
    slot = ExitStack()
    charge = slot.enter_context(generation(request, caller))
    try:
        events = start()
        first = next(events)
    except BaseException:
        slot.close()
        raise

    def body() -> Iterator[str]:
        generated, charged = 0, False
        with slot:
            try:
                for event in itertools.chain([first], events):
                    generated += event["type"] == "delta"
                    if event["type"] == "answer":
                        charge(event["completion_tokens"])
                        charged = True
                        account_tokens(request, agent_id, event["prompt_tokens"], event["completion_tokens"])
                        event = _shown(caller, {**event, "agent": agent_id})
                    yield _sse(event)
            except LlmforgeError as exc:
                yield _sse({"type": "error", "error": {"type": type(exc).__name__, "message": str(exc)}})
            except Exception as exc:  # noqa: BLE001 — the response has started: say so in the stream
                log.error("internal error in a streamed answer", exc_info=exc)
                yield _sse({"type": "error", "error": {"type": "internal_error", "message": "internal error "
                                                       f"({type(exc).__name__}); the server log has the details"}})
            finally:
                if not charged:
                    charge(generated)

    request.state.model = agent_id
    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event, ensure_ascii=False, default=str)}\n\n"
