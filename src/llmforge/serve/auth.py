"""Who may call what: every route names the permission it needs through :func:`require`.

A route's dependency ``require("search")`` authenticates the ``Authorization: Bearer`` header (an
API key or an access token, :mod:`llmforge.auth.identity`), checks the permission, applies the
caller's rate limits, and returns the :class:`~llmforge.auth.identity.Caller`; the request keeps
it (``request.state.caller``) for usage records and the audit log. ``/healthz`` is the only route
without it, and ``/metrics`` goes without only when ``serve.metrics_anonymous`` says so.

Failures: no or bad credentials → 401 (``AuthError``), a missing permission or an agent outside
the key's scope → 403 (``PermissionDenied``), over a rate → 429 (``RateLimited``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from llmforge.auth.identity import Caller, authenticate_bearer
from llmforge.auth.ratelimit import caller_keys
from llmforge.auth.roles import PERMISSIONS
from llmforge.errors import AuthError, LlmforgeError, PermissionDenied
from llmforge.serve.errors import error_body, error_headers, status_of

__all__ = ["AUTHENTICATED", "Caller", "PERMISSIONS", "authenticated", "caller_of", "check_agent", "client_address",
           "require"]

ANONYMOUS = Caller("anonymous", None, "anonymous", frozenset(), frozenset(), "key")
AUTHENTICATED = "authenticated"   # the pseudo-permission of routes open to every authenticated caller


def require(permission: str, *, anonymous_setting: str | None = None) -> Callable[[Request], Caller]:
    """A FastAPI dependency: the authenticated caller, who must hold ``permission``.

    Args:
        anonymous_setting: a boolean setting that, when true, lets callers without credentials in.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def dependency(request: Request) -> Caller:
        project = request.app.state.project
        if anonymous_setting and not request.headers.get("authorization") and project.settings[anonymous_setting]:
            request.state.caller = ANONYMOUS
            return ANONYMOUS
        return _authenticate(request, permission)

    dependency.permission = permission  # type: ignore[attr-defined]  # read by tests and docs
    return dependency


def authenticated() -> Callable[[Request], Caller]:
    """A dependency for routes any authenticated caller may use (``GET /v1/auth/me``)."""
    def dependency(request: Request) -> Caller:
        return _authenticate(request, None)

    dependency.permission = AUTHENTICATED  # type: ignore[attr-defined]
    return dependency


def _authenticate(request: Request, permission: str | None) -> Caller:
    """The caller the request's bearer proves (already, when :class:`AuthenticateFirst` ran),
    holding ``permission``, within its rate limits."""
    caller = getattr(request.state, "caller", None) or verify_request(request)
    request.state.caller = caller
    if permission is not None and not caller.can(permission):
        raise PermissionDenied(f"this route needs the permission {permission!r}, which {_who(caller)} does not have")
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is not None:
        limiter.check(caller_keys(key_prefix=caller.key_prefix, user=caller.user))
    return caller


def verify_request(request: Request) -> Caller:
    """Authenticate the request's ``Authorization`` header.

    Failed credentials are charged to the client address, never to the key or user they named.
    An address that spent its budget on failures is refused before any catalog read, unless its
    credential is one this server verified recently: so a flood of bad keys cannot lock out the
    valid callers that share its address (a NAT, a proxy).

    Raises:
        AuthError: the credentials do not verify (401).
        RateLimited: the address spent its budget on failed credentials (429).
    """
    project, limiter = request.app.state.project, getattr(request.app.state, "limiter", None)
    header, client = request.headers.get("authorization"), client_address(request)
    check = (lambda: limiter.check_address(client)) if limiter is not None else None
    try:
        return authenticate_bearer(project, header, unknown=check)
    except AuthError:
        if limiter is not None:
            limiter.charge_failure(client)
        raise


class AuthenticateFirst:
    """ASGI middleware: an API request is authenticated before its body is read, so a caller
    without valid credentials cannot make the server parse a large upload or JSON body first.
    Routes still check their permission (:func:`require`); sign-in routes, ``/healthz``, the docs
    and the web page's files are not under it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_credentials(scope["path"]) or scope.get("state", {}).get("caller"):
            await self.app(scope, receive, send)   # the owner's local socket proved its caller already
            return
        request = Request(scope)
        try:
            caller = await run_in_threadpool(verify_request, request)   # catalog reads block
        except LlmforgeError as exc:
            response = JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status_of(exc),
                                    headers=error_headers(exc))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


SIGN_IN = frozenset({"/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout"})


def needs_credentials(path: str) -> bool:
    """Every ``/v1/`` path but signing in: known routes and unknown ones alike (an unknown path
    answers 401 to a stranger, so it cannot map the API)."""
    return path.startswith("/v1/") and path not in SIGN_IN


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller_of(request: Request) -> Caller | None:
    """The caller a route's :func:`require` authenticated, if any (for accounting)."""
    return getattr(request.state, "caller", None)


def check_agent(caller: Caller, agent: str) -> None:
    """Refuse an agent outside the caller's key scope (an object-level check, beside the route's)."""
    if not caller.may_use_agent(agent):
        raise PermissionDenied(f"{_who(caller)} may not use agent {agent.removeprefix('agent:')!r}")


def _who(caller: Caller) -> str:
    return f"key {caller.key_prefix} ({caller.role})" if caller.key_prefix else f"user {caller.user} ({caller.role})"
