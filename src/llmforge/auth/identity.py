"""Who is calling: an ``Authorization: Bearer ...`` header turned into a :class:`Caller`.

The bearer is an API key (``lf_...``) or an access token (a JWT). For a token the user's role is
read from the user's current row, not only from the claim, so a demotion or a disabled account
takes effect at the next request rather than when the token expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llmforge.auth import common, keys, tokens
from llmforge.auth.roles import permissions_of
from llmforge.errors import AuthError
from llmforge.project import Project


@dataclass(frozen=True)
class Caller:
    """An authenticated caller.

    ``user`` is the user name (the key's owner for a key; ``local`` for a key made at the shell
    without an owner); ``key_prefix`` names the key, None for a token; ``agents`` None means any.
    """

    user: str
    key_prefix: str | None
    role: str
    permissions: frozenset[str]
    agents: frozenset[str] | None
    via: Literal["key", "token"]

    @property
    def name(self) -> str:
        """How usage and logs name the caller: the user (a key's calls count as its owner's)."""
        return self.user

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def may_use_agent(self, name: str) -> bool:
        return self.agents is None or name.removeprefix("agent:") in self.agents


def authenticate_bearer(project: Project, authorization: str | None) -> Caller:
    """The caller an ``Authorization`` header value proves to be.

    Raises:
        AuthError: missing credentials, a malformed header, or a key or token that does not verify.
    """
    if not authorization or not authorization.strip():
        raise AuthError("missing credentials")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise AuthError("malformed Authorization header")
    if credential.startswith("lf_"):
        return _key_caller(keys.verify_key(project, credential))
    if credential.count(".") == 2:
        return _token_caller(project, tokens.verify_access_token(project, credential))
    raise AuthError("unrecognised credentials: send an API key or an access token")


def _key_caller(record: dict) -> Caller:
    agents = frozenset(record["agents"]) if record["agents"] is not None else None
    return Caller(record["owner"], record["prefix"], record["role"], frozenset(record["permissions"]), agents,
                  "key")


def _token_caller(project: Project, claims: dict) -> Caller:
    with project.catalog() as conn:
        row = conn.execute("SELECT role, disabled FROM users WHERE name = ?", [claims["sub"]]).fetchone()
    if row is None or row[1]:
        raise AuthError("the token's user is disabled or removed")
    return Caller(claims["sub"], None, row[0], permissions_of(row[0]), None, "token")


def auth_configured(project: Project) -> bool:
    """Whether anyone could authenticate: an enabled user, or a key neither revoked nor expired.
    Until then the server stays on loopback."""
    with project.catalog() as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT 1 FROM users WHERE NOT disabled) OR EXISTS (SELECT 1 FROM api_keys "
            "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?))", [common.utcnow()]).fetchone()[0]
