"""Who may call what: every route names the permission it needs through :func:`require`.

Authentication (users, JWT, API keys, roles, rate limits) is a later stage; until then the server
binds to loopback only and this hook lets every local caller through as ``local``. Routes already
declare their permission, so filling in the hook changes no route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

PERMISSIONS = ("search", "ask", "chat", "embed", "documents:read", "documents:write", "jobs:read",
               "models:read", "usage:read", "metrics:read")


@dataclass(frozen=True)
class Caller:
    name: str
    permissions: frozenset[str]


LOCAL = Caller("local", frozenset(PERMISSIONS))


def require(permission: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency that checks the caller holds ``permission`` and returns the caller."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def dependency(request: Request) -> Caller:
        caller = LOCAL
        request.state.caller = caller.name
        return caller

    dependency.permission = permission  # type: ignore[attr-defined]  # read by tests and docs
    return dependency
