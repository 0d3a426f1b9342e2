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

from llmforge.auth.identity import Caller, authenticate_bearer
from llmforge.auth.ratelimit import caller_keys
from llmforge.auth.roles import PERMISSIONS
from llmforge.errors import AuthError, PermissionDenied

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
    """The caller the request's bearer proves, holding ``permission``, within its rate limits."""
    project, limiter = request.app.state.project, getattr(request.app.state, "limiter", None)
    client = client_address(request)
    if limiter is not None:
        limiter.check_address(client)   # an address that spent its budget on failures waits first
    try:
        caller = authenticate_bearer(project, request.headers.get("authorization"))
    except AuthError:
        if limiter is not None:
            limiter.charge_failure(client)   # the address pays, never the key or user it named
        raise
    request.state.caller = caller
    if permission is not None and not caller.can(permission):
        raise PermissionDenied(f"this route needs the permission {permission!r}, which {_who(caller)} does not have")
    if limiter is not None:
        limiter.check(caller_keys(key_prefix=caller.key_prefix, user=caller.user))
    return caller


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
