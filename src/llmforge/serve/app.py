"""The HTTP API: a FastAPI app over the same library calls as the CLI.

Routes (each names its permission through :func:`llmforge.serve.auth.require`):

* ``GET /healthz`` (no auth), ``GET /metrics`` (Prometheus text), ``GET /docs`` and
  ``/openapi.json`` (Swagger UI served from the local ``swagger-ui-bundle`` package: no CDN);
* ``POST /v1/search``; ``POST /v1/embeddings`` and ``GET /v1/models`` (OpenAI-compatible);
* ``GET /v1/documents``, ``POST /v1/documents`` (multipart upload → a background ingest +
  structure job), ``GET /v1/jobs/{id}``; ``GET /v1/usage``.

Errors are JSON of one shape, ``{"error": {"type": ..., "message": ...}}``, with the status code
that fits (400 bad input, 404 not found, 413 too large, 422 invalid body, 503 busy).
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmforge._version import __version__
from llmforge.errors import (BusyError, CatalogLockedError, IngestError, LlmforgeError, LockError, NotFoundError, TrainError,
                             UsageError)
from llmforge.project import Project
from llmforge.serve.auth import require
from llmforge.serve.jobs import JobRunner, get_job, interrupt_stale_jobs
from llmforge.serve.metrics import Metrics
from llmforge.serve.usage import UsageRecorder, usage_summary

MB = 1_000_000
_STATUS = {UsageError: 400, NotFoundError: 404, IngestError: 422, TrainError: 409, LockError: 503,
           CatalogLockedError: 503, BusyError: 503}


class SearchRequest(BaseModel):
    query: str = Field(description="What to look for, in Arabic or English.")
    k: int | None = Field(None, ge=1, le=100, description="Results (default: setting search.k).")
    mode: Literal["hybrid", "vector", "keyword"] | None = None
    lang: Literal["auto", "ara", "eng"] = "auto"


class AskRequest(BaseModel):
    question: str = Field(description="A question about the documents, in Arabic or English.")
    agent: str | None = Field(None, description="Agent name (default: the built-in default agent).")
    k: int | None = Field(None, ge=1, le=50)
    model: str | None = Field(None, description="Language model (default: the agent's, else serve.model).")


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class _Sampling(BaseModel):
    """Generation parameters shared by chat and plain completions (OpenAI names)."""

    max_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False

    def stop_list(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop


class ChatRequest(_Sampling):
    model: str | None = Field(None, description="A language model, or 'agent:NAME' for answers from "
                              "the documents with citations.")
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionRequest(_Sampling):
    model: str | None = None
    prompt: str


class EmbeddingsRequest(BaseModel):
    input: str | list[str] = Field(description="A text or a list of texts.")
    model: str | None = Field(None, description="Ignored but echoed: the index's embedder is used.")
    encoding_format: Literal["float", "base64"] = "float"


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LlmforgeError)
    async def llmforge_error(_request: Request, exc: LlmforgeError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
        headers = {"Retry-After": "30"} if isinstance(exc, BusyError) else None
        return JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(error_body("invalid_request", f"{where}: {first.get('msg', 'invalid')}"),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body("http_error", str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal_error", f"{type(exc).__name__}: {exc}"), status_code=500)


def create_app(project: Project) -> FastAPI:
    """The app for one project; background workers start and stop with the app's lifespan."""
    metrics = Metrics()
    usage = UsageRecorder(project)
    jobs = JobRunner(project)
    max_body = int(float(project.settings["serve.max_upload_mb"]) * MB)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        interrupt_stale_jobs(project)
        usage.start()
        jobs.start()
        yield
        jobs.stop()
        usage.close()

    app = FastAPI(title="llmforge", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.project, app.state.metrics, app.state.usage, app.state.jobs = project, metrics, usage, jobs
    _install_error_handlers(app)
    _mount_docs(app)

    @app.middleware("http")
    async def account(request: Request, call_next):  # noqa: ANN001, ANN202
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body:
            return JSONResponse(error_body("too_large", f"request body over {max_body // MB} MB "
                                           "(serve.max_upload_mb)"), status_code=413)
        started = time.perf_counter()
        metrics.in_flight += 1
        try:
            response = await call_next(request)
        finally:
            metrics.in_flight -= 1
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        seconds = time.perf_counter() - started
        metrics.observe(request.method, path, response.status_code, seconds)
        if path not in ("/healthz", "/metrics"):
            usage.record(getattr(request.state, "caller", "anonymous"), request.method, path,
                         response.status_code, seconds * 1000, getattr(request.state, "model", None),
                         getattr(request.state, "prompt_tokens", 0), getattr(request.state, "completion_tokens", 0))
        return response

    _add_routes(app, project)
    return app


def _mount_docs(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="llmforge API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")


def _add_routes(app: FastAPI, project: Project) -> None:
    from llmforge.documents import list_documents
    from llmforge.structure.embedders import cached_embedder
    from llmforge.structure.search import search

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "project": project.root.name}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def metrics_text(request: Request, _caller: Any = Depends(require("metrics:read"))) -> str:
        app.state.metrics.queue_depth = app.state.jobs.depth
        return app.state.metrics.render()

    @app.post("/v1/search", tags=["knowledge base"])
    def search_route(body: SearchRequest, _caller: Any = Depends(require("search"))) -> dict[str, Any]:
        return search(project, body.query, k=body.k, mode=body.mode, lang=body.lang).to_dict()

    @app.post("/v1/embeddings", tags=["openai"])
    def embeddings(body: EmbeddingsRequest, request: Request,
                   _caller: Any = Depends(require("embed"))) -> dict[str, Any]:
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts or len(texts) > 2048:
            raise UsageError("input must hold 1 to 2048 texts")
        embedder = cached_embedder(str(project.settings["structure.embedder"]))
        vectors = embedder.embed(texts)
        tokens = sum(embedder.count_tokens(text) for text in texts)
        request.state.model, request.state.prompt_tokens = embedder.name, tokens
        app.state.metrics.add_tokens(embedder.name, "prompt", tokens)
        def encode(vector: Any) -> Any:  # base64 of little-endian float32, as the OpenAI client expects
            return base64.b64encode(vector.astype("<f4").tobytes()).decode() \
                if body.encoding_format == "base64" else vector.tolist()

        return {"object": "list", "model": embedder.name,
                "data": [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.get("/v1/models", tags=["openai"])
    def models(_caller: Any = Depends(require("models:read"))) -> dict[str, Any]:
        from llmforge.packaged import PACKAGED
        from llmforge.registry import list_versions

        from llmforge.inference.agents import list_agents

        trained = [ref for v in list_versions(project) if v.promoted for ref in (v.name, v.ref)]
        names = [str(project.settings["serve.model"]), *PACKAGED, *trained, "agent:default",
                 *(f"agent:{a['name']}" for a in list_agents(project)), str(project.settings["structure.embedder"])]
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "llmforge"}
                                           for name in dict.fromkeys(names)]}

    @app.post("/v1/ask", tags=["knowledge base"])
    def ask_route(body: AskRequest, request: Request, _caller: Any = Depends(require("ask"))) -> dict[str, Any]:
        from dataclasses import replace

        from llmforge.inference.agents import agent_settings
        from llmforge.inference.rag import ask

        agent_id, settings = agent_settings(project, body.agent)
        settings = replace(settings, **{k: v for k, v in (("model", body.model), ("k", body.k)) if v is not None})
        answer = ask(project, body.question, settings)
        _account_tokens(request, agent_id, answer.prompt_tokens, answer.completion_tokens)
        return {**answer.to_dict(), "agent": agent_id}

    @app.post("/v1/chat/completions", tags=["openai"])
    def chat(body: ChatRequest, request: Request, _caller: Any = Depends(require("chat"))) -> Any:
        messages = [m.model_dump() for m in body.messages]
        if body.model and body.model.startswith("agent:"):
            return _agent_reply(body, messages, request)
        from llmforge.inference.runtime import get_runtime

        runtime = get_runtime(project, body.model)
        reply = runtime.chat(messages, max_tokens=body.max_tokens or 512, temperature=body.temperature,
                             top_p=body.top_p, stop=body.stop_list(), stream=body.stream)
        if body.stream:
            return _sse(reply, request, runtime.name)
        _account_tokens(request, runtime.name, reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"])
        return {**reply, "model": runtime.name}

    @app.post("/v1/completions", tags=["openai"])
    def completions(body: CompletionRequest, request: Request, _caller: Any = Depends(require("chat"))) -> Any:
        from llmforge.inference.runtime import get_runtime

        runtime = get_runtime(project, body.model)
        reply = runtime.complete(body.prompt, max_tokens=body.max_tokens or 256, temperature=body.temperature,
                                 top_p=body.top_p, stop=body.stop_list(), stream=body.stream)
        if body.stream:
            return _sse(reply, request, runtime.name)
        _account_tokens(request, runtime.name, reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"])
        return {**reply, "model": runtime.name}

    def _agent_reply(body: ChatRequest, messages: list[dict[str, str]], request: Request) -> Any:
        from dataclasses import replace

        from llmforge.inference.agents import agent_settings
        from llmforge.inference.rag import ask

        agent_id, settings = agent_settings(project, body.model)
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        system = "\n".join(m["content"] for m in messages if m["role"] == "system") or None
        overrides = {"system_prompt": system, "max_tokens": body.max_tokens}
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        answer = ask(project, question, settings)
        _account_tokens(request, agent_id, answer.prompt_tokens, answer.completion_tokens)
        created = int(time.time())
        message = {"role": "assistant", "content": answer.answer}
        citations = [c.__dict__ for c in answer.citations]
        if body.stream:
            chunk = {"id": f"chatcmpl-{created}", "object": "chat.completion.chunk", "created": created,
                     "model": body.model, "choices": [{"index": 0, "delta": message, "finish_reason": "stop"}],
                     "citations": citations}
            return _sse(iter([chunk]), request, body.model or "agent:default")
        return {"id": f"chatcmpl-{created}", "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                          "total_tokens": answer.prompt_tokens + answer.completion_tokens},
                "citations": citations, "refused": answer.refused}

    def _account_tokens(request: Request, model: str, prompt: int, completion: int) -> None:
        request.state.model, request.state.prompt_tokens, request.state.completion_tokens = model, prompt, completion
        app.state.metrics.add_tokens(model, "prompt", prompt)
        app.state.metrics.add_tokens(model, "completion", completion)

    def _sse(chunks: Any, request: Request, model: str) -> StreamingResponse:
        def events() -> Any:
            count = 0
            for chunk in chunks:
                count += 1
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            app.state.metrics.add_tokens(model, "completion", count)
            yield "data: [DONE]\n\n"

        request.state.model = model
        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/documents", tags=["knowledge base"])
    def documents(include_all: bool = False, _caller: Any = Depends(require("documents:read"))) -> dict[str, Any]:
        return {"documents": list_documents(project, include_all=include_all)}

    @app.post("/v1/documents", tags=["knowledge base"], status_code=202)
    async def upload(request: Request, files: list[UploadFile] = File(...),
                     _caller: Any = Depends(require("documents:write"))) -> dict[str, Any]:
        limit = int(float(project.settings["serve.max_upload_mb"]) * MB)
        received = []
        for upload_file in files:
            data = await upload_file.read(limit + 1)
            if len(data) > limit:
                raise UsageError(f"{upload_file.filename} is over {limit // MB} MB (serve.max_upload_mb)")
            received.append((upload_file.filename or "upload", data))
        job_id, stored = app.state.jobs.submit_upload(received)
        return {"job": job_id, "status_url": f"/v1/jobs/{job_id}", "files": stored}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    def job(job_id: str, _caller: Any = Depends(require("jobs:read"))) -> dict[str, Any]:
        return get_job(project, job_id)

    @app.post("/v1/jobs/{job_id}/resume", tags=["jobs"])
    def resume_job(job_id: str, _caller: Any = Depends(require("documents:write"))) -> dict[str, Any]:
        return app.state.jobs.resume(job_id)

    @app.get("/v1/usage", tags=["service"])
    def usage_route(since: datetime | None = None, by: str = "day",
                    _caller: Any = Depends(require("usage:read"))) -> dict[str, Any]:
        app.state.usage.flush()
        return {"by": by, "rows": usage_summary(project, since, by)}
