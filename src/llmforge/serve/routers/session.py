"""Sign-in over HTTP: ``POST /v1/auth/login`` (user name and password → a short-lived access token
and a refresh token), ``POST /v1/auth/refresh`` (the refresh token rotates; presenting a spent one
ends the whole session), ``POST /v1/auth/logout`` and ``GET /v1/auth/me``.

Login and refresh carry their own credentials in the body, so they need no permission; lockout
after repeated failures, per user and per client address, is the library's
(:func:`llmforge.auth.users.authenticate`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from llmforge.auth import tokens, users
from llmforge.auth.audit import record
from llmforge.errors import ReadOnlyProjectError
from llmforge.serve.auth import Caller, authenticated
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshToken(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/v1/auth/login")
def login(body: Login, request: Request, project: ServedProject) -> dict[str, Any]:
    try:
        user = users.authenticate(project, body.username, body.password, _client(request))
    except ReadOnlyProjectError:
        raise   # a replica checks no password at all; the request is in its audit file all the same
    except Exception:
        record(project, action="auth.login.failed", actor=body.username, client=_client(request))
        raise
    record(project, action="auth.login", actor=user["name"], client=_client(request))
    return tokens.issue_tokens(project, user["name"])


@router.post("/v1/auth/refresh")
def refresh(body: RefreshToken, project: ServedProject) -> dict[str, Any]:
    return tokens.refresh(project, body.refresh_token)


@router.post("/v1/auth/logout", status_code=204)
def logout(body: RefreshToken, request: Request, project: ServedProject) -> None:
    tokens.logout(project, body.refresh_token)
    record(project, action="auth.logout", client=_client(request))


@router.get("/v1/auth/me")
def me(caller: Caller = Depends(authenticated())) -> dict[str, Any]:
    return {"user": caller.user, "role": caller.role, "via": caller.via, "key_prefix": caller.key_prefix,
            "permissions": sorted(caller.permissions),
            "agents": sorted(caller.agents) if caller.agents is not None else None}
