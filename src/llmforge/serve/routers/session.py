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
from llmforge.errors import ReadOnlyProjectError
from llmforge.serve.auth import Caller, authenticated, client_address
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshToken(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


@router.post("/v1/auth/login")
def login(body: Login, request: Request, project: ServedProject) -> dict[str, Any]:
    try:
        user = users.authenticate(project, body.username, body.password, client_address(request))
    except ReadOnlyProjectError:
        raise   # a replica checks no password at all; the request is in its audit file all the same
    except Exception:
        request.app.state.audit.record(action="auth.login.failed", actor=body.username,
                                       client=client_address(request))
        raise
    request.app.state.audit.record(action="auth.login", actor=user["name"], client=client_address(request))
    return tokens.issue_tokens(project, user["name"])


@router.post("/v1/auth/refresh")
def refresh(body: RefreshToken, project: ServedProject) -> dict[str, Any]:
    return tokens.refresh(project, body.refresh_token)


@router.post("/v1/auth/logout", status_code=204)
def logout(body: RefreshToken, request: Request, project: ServedProject) -> None:
    tokens.logout(project, body.refresh_token)
    request.app.state.audit.record(action="auth.logout", client=client_address(request))


@router.get("/v1/auth/me")
def me(caller: Caller = Depends(authenticated())) -> dict[str, Any]:
    return {"user": caller.user, "role": caller.role, "via": caller.via, "key_prefix": caller.key_prefix,
            "permissions": sorted(caller.permissions),
            "agents": sorted(caller.agents) if caller.agents is not None else None}
