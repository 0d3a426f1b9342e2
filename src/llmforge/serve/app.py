"""The HTTP API: a FastAPI app over the same library calls as the CLI.

Routes live in :mod:`llmforge.serve.routers`, one module per group, each route naming its
permission through :func:`llmforge.serve.auth.require`:

* ``service``: ``GET /healthz`` (no auth), ``GET /metrics`` (Prometheus text), ``GET /v1/usage``;
* ``knowledge``: ``POST /v1/search``, ``POST /v1/ask``, ``GET /v1/documents``, ``POST /v1/documents``
  (multipart upload → a background ingest + structure job);
* ``openai``: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/embeddings``,
  ``GET /v1/models`` (OpenAI-compatible);
* ``jobs``: ``GET /v1/jobs/{id}``, ``POST /v1/jobs/{id}/resume``.

``GET /docs`` and ``/openapi.json`` serve Swagger UI from the local ``swagger-ui-py`` package
(no CDN); ``GET /`` serves the web page (router ``web``, setting ``serve.web``). Every response
carries the security headers of :mod:`llmforge.serve.headers`. Errors are JSON of one shape
(:mod:`llmforge.serve.errors`). Until authentication is configured, a request from a non-loopback
client gets 403 unless the app was built with ``allow_remote`` (:mod:`llmforge.serve.loopback`).
On a read-only project (a replica serving a snapshot) the app answers reads, refuses writes with
503, and appends its audit records to the file it was given (``audit_file``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from llmforge._version import __version__
from llmforge.auth.audit import AuditRecorder, server_audit_file
from llmforge.auth.ratelimit import RateLimiter
from llmforge.project import Project
from llmforge.serve.auth import AuthenticateFirst, caller_of, client_address
from llmforge.serve.errors import error_body, install_error_handlers
from llmforge.serve.headers import SecurityHeaders, inline_script_policy
from llmforge.serve.jobs import JobRunner, interrupt_stale_jobs
from llmforge.serve.loopback import LoopbackOnly
from llmforge.serve.metrics import Metrics
from llmforge.serve.openapi import install_openapi
from llmforge.serve.routers import (admin, agents, documents, jobs, knowledge, models, openai, service, session,
                                    training, web)
from llmforge.serve.state import MB, max_upload_bytes
from llmforge.serve.usage import UsageRecorder

ROUTERS = (service.router, session.router, knowledge.router, documents.router, openai.router, agents.router,
           models.router, training.router, jobs.router, admin.router)


def create_app(project: Project, *, allow_remote: bool = False, audit_file: Path | None = None) -> FastAPI:
    """The app for one project; background workers start and stop with the app's lifespan.

    Args:
        allow_remote: answer clients that are not on this machine too (no authentication yet).
        audit_file: for a read-only project (a replica), required: the file its audit records are
            appended to. Such an app answers reads; writes get 503, and it keeps no usage rows.

    Raises:
        UsageError: a read-only project without ``audit_file``, or ``audit_file`` with a writable one.
    """
    metrics = Metrics()
    usage = UsageRecorder(project)
    audit = AuditRecorder(project, server_audit_file(project, audit_file))
    jobs_runner = JobRunner(project)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        interrupt_stale_jobs(project)
        usage.start()
        audit.start()
        audit.record(action="serve.start", actor="local", client="cli", target=getattr(app.state, "url", None))
        jobs_runner.start()
        yield
        jobs_runner.stop()
        usage.close()
        audit.record(action="serve.stop", actor="local", client="cli", target=getattr(app.state, "url", None))
        audit.close()

    app = FastAPI(title="llmforge", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.project, app.state.metrics, app.state.usage, app.state.jobs = project, metrics, usage, jobs_runner
    app.state.audit, app.state.limiter = audit, RateLimiter(project.settings)
    install_error_handlers(app)
    install_openapi(app)
    docs_page = _mount_docs(app)
    app.add_middleware(AuthenticateFirst)   # inside accounting: a refused request is still counted
    _install_accounting(app, max_upload_bytes(project))
    if not allow_remote:
        app.add_middleware(LoopbackOnly)   # a refused request reaches nothing
    app.add_middleware(SecurityHeaders, policies={"/docs": inline_script_policy(docs_page)})   # outermost
    for router in ROUTERS:
        app.include_router(router)
    if project.settings["serve.web"]:
        app.include_router(web.router)
    return app


UNRECORDED = ("/healthz", "/metrics")   # probes and scrapes: in the metrics, not in usage or audit
UNRECORDED_PREFIXES = ("/web/", "/static/")   # the page's and the docs' files, anonymous and many


def _install_accounting(app: FastAPI, max_body: int) -> None:
    """Refuse an over-long body up front; count every request in the metrics and usage records."""
    metrics, usage = app.state.metrics, app.state.usage

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
        if path in UNRECORDED or path.startswith(UNRECORDED_PREFIXES):
            return response
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            _record(request, path, response.status_code, started)
            return response
        body = response.body_iterator   # a stream: its tokens are known once it has been sent

        async def recorded_when_sent() -> AsyncIterator[bytes]:
            try:
                async for chunk in body:
                    yield chunk
            finally:
                _record(request, path, response.status_code, started)

        response.body_iterator = recorded_when_sent()
        return response

    def _record(request: Request, path: str, status: int, started: float) -> None:
        """The request's usage row (its tokens, as the route counted them) and its audit record."""
        seconds, caller, state = time.perf_counter() - started, caller_of(request), request.state
        usage.record(caller.user if caller else "anonymous", request.method, path, status, seconds * 1000,
                     getattr(state, "model", None), getattr(state, "prompt_tokens", 0),
                     getattr(state, "completion_tokens", 0), caller.key_prefix if caller else None)
        app.state.audit.record(action=f"http {request.method} {path}", actor=caller.user if caller else None,
                               key_prefix=caller.key_prefix if caller else None, client=client_address(request),
                               status=status, latency_ms=round(seconds * 1000, 2))


def _mount_docs(app: FastAPI) -> str:
    """Serve Swagger UI from the local package; returns its page (for its inline script's hash)."""
    import swagger_ui   # swagger-ui-py: Swagger UI 5, which renders OpenAPI 3.1 (FastAPI's); 4.x could not

    app.mount("/static/swagger", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="swagger")
    page = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="llmforge API",
                                     swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                     swagger_css_url="/static/swagger/swagger-ui.css",
                                     swagger_favicon_url="/static/swagger/favicon-32x32.png").body).decode("utf-8")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return HTMLResponse(page)

    return page
