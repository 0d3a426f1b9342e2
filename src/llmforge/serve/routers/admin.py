"""Administration over HTTP (the admin role): users (``/v1/users``), API keys (``/v1/keys``; a new
or rotated key's secret is in that one response only) and the audit log (``/v1/audit``,
``/v1/audit/verify``) — the library calls `llmforge users|keys|audit` make. Each change is audited
with the admin who made it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from llmforge.auth import audit, keys, users
from llmforge.auth.roles import PERMISSIONS, ROLES
from llmforge.serve.auth import Caller, require
from llmforge.serve.state import ServedProject

router = APIRouter(tags=["admin"])
RoleName = str


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: RoleName
    password: str = Field(min_length=1, max_length=1024)


class UserChange(BaseModel):
    role: RoleName | None = None
    disabled: bool | None = None


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: RoleName
    owner: str | None = Field(None, description="The user the key acts for (default: the admin creating it).")
    expires_days: float | None = Field(None, gt=0, le=3650)
    agents: list[str] = Field(default_factory=list, description="Agents the key may use (empty: any).")
    permissions: list[str] | None = Field(None, description="A narrower set than the role's.")


def _audit(project: Any, caller: Caller, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    audit.record(project, action=action, actor=caller.user, key_prefix=caller.key_prefix, target=target,
                 details=details)


@router.get("/v1/roles")
def roles(_caller: Caller = Depends(require("users:read"))) -> dict[str, Any]:
    return {"roles": [{"name": role.name, "permissions": sorted(role.permissions)} for role in ROLES],
            "permissions": list(PERMISSIONS)}


@router.get("/v1/users")
def user_list(project: ServedProject, _caller: Caller = Depends(require("users:read"))) -> dict[str, Any]:
    return {"users": users.list_users(project)}


@router.post("/v1/users", status_code=201)
def add(body: NewUser, project: ServedProject, caller: Caller = Depends(require("users:write"))) -> dict[str, Any]:
    created = users.add_user(project, body.name, body.role, body.password)
    _audit(project, caller, "users.add", body.name, {"role": body.role})
    return created


@router.patch("/v1/users/{name}")
def change(name: str, body: UserChange, project: ServedProject,
           caller: Caller = Depends(require("users:write"))) -> dict[str, Any]:
    user = users.get_user(project, name)
    if body.role is not None:
        user = users.set_role(project, name, body.role)
        _audit(project, caller, "users.set-role", name, {"role": body.role})
    if body.disabled is not None:
        user = users.set_disabled(project, name, body.disabled)
        _audit(project, caller, "users.disable" if body.disabled else "users.enable", name)
    return user


@router.post("/v1/users/{name}/password")
def password(name: str, body: NewPassword, project: ServedProject,
             caller: Caller = Depends(require("users:write"))) -> dict[str, Any]:
    changed = users.set_password(project, name, body.password)
    _audit(project, caller, "users.passwd", name)
    return changed


@router.get("/v1/keys")
def key_list(project: ServedProject, _caller: Caller = Depends(require("keys:read"))) -> dict[str, Any]:
    return {"keys": keys.list_keys(project)}


@router.post("/v1/keys", status_code=201)
def create(body: NewKey, project: ServedProject, caller: Caller = Depends(require("keys:write"))) -> dict[str, Any]:
    secret, record = keys.create_key(project, name=body.name, role=body.role, owner=body.owner or caller.user,
                                     expires_days=body.expires_days, agents=body.agents, permissions=body.permissions)
    _audit(project, caller, "keys.create", record["prefix"], {"role": body.role, "owner": record["owner"]})
    return {**record, "key": secret}


@router.post("/v1/keys/{key_id}/revoke")
def revoke(key_id: str, project: ServedProject, caller: Caller = Depends(require("keys:write"))) -> dict[str, Any]:
    revoked = keys.revoke_key(project, key_id)
    _audit(project, caller, "keys.revoke", revoked["prefix"])
    return revoked


@router.post("/v1/keys/{key_id}/rotate")
def rotate(key_id: str, project: ServedProject, caller: Caller = Depends(require("keys:write"))) -> dict[str, Any]:
    secret, record = keys.rotate_key(project, key_id)
    _audit(project, caller, "keys.rotate", record["prefix"], {"rotated_from": record.get("rotated_from")})
    return {**record, "key": secret}


@router.get("/v1/audit")
def audit_list(project: ServedProject, since: datetime | None = None, user: str | None = None,
               action: str | None = None, limit: int = Query(100, ge=1, le=10_000),
               _caller: Caller = Depends(require("audit:read"))) -> dict[str, Any]:
    return {"records": [r.to_dict() for r in audit.list_records(project, since=since, user=user, action=action,
                                                                 limit=limit)]}


@router.get("/v1/audit/verify")
def audit_verify(project: ServedProject, _caller: Caller = Depends(require("audit:read"))) -> dict[str, Any]:
    return audit.verify(project).to_dict()
