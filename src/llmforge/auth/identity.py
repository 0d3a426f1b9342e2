"""Who is calling: an ``Authorization: Bearer ...`` header turned into a :class:`Caller`.

The bearer is an API key (``lf_...``) or an access token (a JWT). For a token the user's role is
read from the user's current row, not only from the claim, so a demotion or a disabled account
takes effect at the next request rather than when the token expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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


def authenticate_bearer(project: Project, authorization: str | None, *,
                        unknown: Callable[[], None] | None = None) -> Caller:
    """The caller an ``Authorization`` header value proves to be.

    A credential verified in this process is remembered for up to :data:`CACHE_SECONDS` (never past
    its own expiry) while the project's identity epoch stands (:func:`common.auth_epoch`): a
    revocation, a disabled user or a new role, made by any process, ends it on the next request,
    and a request costs no catalog round trip (~17 ms) in the meantime.

    Args:
        unknown: called first when the credential is not a remembered one (a malformed header
            included), before any catalog read; it may raise to refuse (a server refuses a flood
            of unknown credentials from one address this way, while known ones pass).

    Raises:
        AuthError: missing credentials, a malformed header, or a key or token that does not verify.
    """
    try:
        credential = bearer_credential(authorization)
    except AuthError:
        if unknown is not None:
            unknown()
        raise
    entry = (str(project.root), common.sha256_hex(credential))
    epoch = common.auth_epoch(project.root)
    with _CACHE_LOCK:
        known = _CACHE.get(entry)
        if known is not None and known.epoch == epoch and time.monotonic() < known.until:
            _CACHE.move_to_end(entry)
            return known.caller
    if unknown is not None:
        unknown()
    caller, expires = _verify(project, credential)
    lifetime = min(CACHE_SECONDS, (expires - common.utcnow()).total_seconds()) if expires else CACHE_SECONDS
    with _CACHE_LOCK:
        _CACHE[entry] = _Verified(caller, epoch, time.monotonic() + lifetime)
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return caller


def bearer_credential(authorization: str | None) -> str:
    """The credential of an ``Authorization: Bearer ...`` value.

    Raises:
        AuthError: none, or not a single bearer credential.
    """
    if not authorization or not authorization.strip():
        raise AuthError("missing credentials")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise AuthError("malformed Authorization header")
    return credential


def _verify(project: Project, credential: str) -> tuple[Caller, datetime | None]:
    """The caller a credential proves, read from the catalog, and when the credential expires."""
    if credential.startswith("lf_"):
        record = keys.verify_key(project, credential)
        return _key_caller(record), datetime.fromisoformat(record["expires"]) if record["expires"] else None
    if credential.count(".") == 2:
        claims = tokens.verify_access_token(project, credential)
        return _token_caller(project, claims), datetime.fromtimestamp(claims["exp"], UTC)
    raise AuthError("unrecognised credentials: send an API key or an access token")


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    epoch: bytes
    until: float   # time.monotonic() deadline


CACHE_SECONDS = 60.0   # also how stale a key's "last used" may read: verify_key notes it at most once a minute
CACHE_ENTRIES = 10_000
_CACHE: OrderedDict[tuple[str, str], _Verified] = OrderedDict()
_CACHE_LOCK = threading.Lock()


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
