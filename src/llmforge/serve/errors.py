"""The HTTP face of the error tree: one JSON shape, ``{"error": {"type": ..., "message": ...}}``,
and the status code that fits each :class:`~llmforge.errors.LlmforgeError` class (400 bad input,
401 no or bad credentials, 403 not permitted, 404 not found, 409 training conflict, 413 too large,
422 invalid body, 429 over a rate limit, 503 busy, or a write to a read-only replica)."""

from __future__ import annotations

import errno
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmforge.errors import (AuthError, BusyError, CatalogLockedError, IngestError, LlmforgeError, LockError,
                             ModelUnavailableError, NotFoundError, PermissionDenied, RateLimited, ReadOnlyProjectError,
                             TrainError, UsageError)

log = logging.getLogger(__name__)
READ_ONLY_MESSAGE = "the project is read-only here (a read-only replica): send writes to the writable server"
STATUS = {UsageError: 400, AuthError: 401, PermissionDenied: 403, NotFoundError: 404, IngestError: 422,
          TrainError: 409, RateLimited: 429, LockError: 503, CatalogLockedError: 503, BusyError: 503,
          ModelUnavailableError: 503, ReadOnlyProjectError: 503}


def status_of(exc: LlmforgeError) -> int:
    """The HTTP status of a library error (500 for a class the table does not know)."""
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)


def error_headers(exc: LlmforgeError) -> dict[str, str] | None:
    """When to come back (busy, rate-limited) and how to authenticate (401)."""
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, BusyError):
        return {"Retry-After": "30"}
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": 'Bearer realm="llmforge"'}
    return None


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The one shape of every error the API answers."""
    return {"error": {"type": kind, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Turn library errors, invalid bodies, unknown routes and crashes into :func:`error_body`."""
    @app.exception_handler(LlmforgeError)
    async def llmforge_error(_request: Request, exc: LlmforgeError) -> JSONResponse:
        status = status_of(exc)
        return JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status, headers=error_headers(exc))

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
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, OSError) and exc.errno == errno.EROFS:   # a write no read-only check caught
            log.warning("%s %s wrote to a read-only project: %s", request.method, request.url.path, exc)
            return JSONResponse(error_body(ReadOnlyProjectError.__name__, READ_ONLY_MESSAGE), status_code=503)
        # The text of an unexpected error can hold paths and internals: it goes to the log only.
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", f"internal error ({type(exc).__name__}); "
                                       "the server log has the details"), status_code=500)
