"""API keys: long random secrets for scripts and services, shown once, stored only as a hash.

A key reads ``lf_<prefix>_<secret>``: the 8-character prefix names it in lists and the audit log;
the rest is 32 random bytes. A key has a role and may be narrowed to fewer of the role's
permissions and to some agents; it is never wider than the role of the user who owns it — at
creation, and again on every use, so a user moved to a smaller role takes their keys along.
A key owned by ``local`` (the operator at the shell) has no user above it.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import string
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import duckdb

from llmforge.auth import common
from llmforge.auth.roles import PERMISSIONS, check_permissions, check_role, permissions_of
from llmforge.auth.users import LOCAL
from llmforge.catalog import transaction
from llmforge.errors import AuthError, NotFoundError, UsageError
from llmforge.project import Project

_FORMAT = re.compile(r"lf_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_TOUCH_SECONDS = 60.0  # last_used_at is written at most this often: not a catalog write per request
_COLUMNS = ("id, prefix, name, owner, role, permissions, agents, created_at, expires_at, revoked_at, "
            "last_used_at, rotated_from")
MAX_EXPIRES_DAYS = 36500.0


def _record(row: tuple) -> dict[str, Any]:
    key_id, prefix, name, owner, role, permissions, agents, created, expires, revoked, used, rotated_from = row
    return {"id": key_id, "prefix": prefix, "name": name, "owner": owner, "role": role,
            "permissions": sorted(json.loads(permissions)) if permissions else sorted(permissions_of(role)),
            "agents": json.loads(agents) if agents else None, "created": common.iso(created),
            "expires": common.iso(expires), "last_used": common.iso(used), "revoked": common.iso(revoked),
            "rotated_from": rotated_from}


def _chosen_permissions(role: str, permissions: Iterable[str] | None) -> frozenset[str] | None:
    """The narrowed permissions (None: all of the role's); widening the role is refused."""
    granted = permissions_of(role)
    if permissions is None:
        return None
    chosen = check_permissions(list(permissions))
    if not chosen:
        raise UsageError("a key needs at least one permission")
    if chosen - granted:
        raise UsageError(f"the {role} role does not grant {', '.join(sorted(chosen - granted))}; "
                         "a key may only narrow its role")
    return chosen


def _checked_agents(project: Project, agents: Iterable[str]) -> list[str] | None:
    """The agent names a key is limited to (None: any), each an agent that exists."""
    from llmforge.inference.agents import get_agent

    names = sorted({name.removeprefix("agent:") for name in agents})
    for name in names:
        get_agent(project, name)
    return names or None


def _check_owner(conn: duckdb.DuckDBPyConnection, owner: str, wanted: frozenset[str]) -> None:
    if owner == LOCAL:
        return
    row = conn.execute("SELECT role, disabled FROM users WHERE name = ?", [owner]).fetchone()
    if row is None:
        raise NotFoundError(f"no user {owner!r} to own the key (see `llmforge users list`)")
    if row[1]:
        raise UsageError(f"user {owner!r} is disabled")
    beyond = wanted - permissions_of(row[0])
    if beyond:
        raise UsageError(f"a key of {owner!r} cannot hold more than their role ({row[0]}) grants: "
                         f"{', '.join(sorted(beyond))}")


def _expiry(expires_days: float | None) -> datetime | None:
    if expires_days is None:
        return None
    if not 0 < expires_days <= MAX_EXPIRES_DAYS:
        raise UsageError(f"a key expires after more than 0 and at most {MAX_EXPIRES_DAYS:g} days")
    return common.utcnow() + timedelta(days=expires_days)


def _insert(conn: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> tuple[str, str]:
    """Store a new key with ``values``' name, owner, role, permissions, agents, expires_at,
    rotated_from; return ``(secret, id)``."""
    while True:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
        if not conn.execute("SELECT 1 FROM api_keys WHERE prefix = ?", [prefix]).fetchone():
            break
    secret, key_id = f"lf_{prefix}_{secrets.token_urlsafe(32)}", uuid.uuid4().hex
    conn.execute("INSERT INTO api_keys (id, prefix, key_hash, name, owner, role, permissions, agents, created_at, "
                 "expires_at, rotated_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [key_id, prefix, common.sha256_hex(secret), values["name"], values["owner"], values["role"],
                  values["permissions"], values["agents"], common.utcnow(), values["expires_at"],
                  values["rotated_from"]])
    return secret, key_id


def create_key(project: Project, *, name: str, role: str, owner: str, expires_days: float | None = None,
               agents: Iterable[str] = (), permissions: Iterable[str] | None = None) -> tuple[str, dict[str, Any]]:
    """A new key: ``(secret, record)``. The secret is returned here only; it cannot be shown again.

    Raises:
        UsageError: an unknown role or permission, a permission beyond the role or the owner's
            role, a disabled owner, a bad expiry or name.
        NotFoundError: no such owner or agent.
    """
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise UsageError("a key's name has 1 to 100 characters")
    check_role(role)
    chosen = _chosen_permissions(role, permissions)
    values = {"name": name, "owner": owner, "role": role, "agents": _json(_checked_agents(project, agents)),
              "permissions": _json(sorted(chosen) if chosen is not None else None),
              "expires_at": _expiry(expires_days), "rotated_from": None}
    with project.catalog() as conn:
        _check_owner(conn, owner, chosen if chosen is not None else permissions_of(role))
        secret, key_id = _insert(conn, values)
    return secret, get_key(project, key_id)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _find(conn: duckdb.DuckDBPyConnection, ref: str) -> tuple:
    """The row of the key whose id or prefix (``lf_`` optional) is ``ref``."""
    prefix = ref.removeprefix("lf_").rstrip("_")
    row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? OR prefix = ?", [ref, prefix]).fetchone()
    if row is None:
        raise NotFoundError(f"no API key {ref!r} (see `llmforge keys list`)")
    return row


def get_key(project: Project, ref: str) -> dict[str, Any]:
    """One key's record, by id or prefix (never its secret or hash)."""
    with project.catalog() as conn:
        return _record(_find(conn, ref))


def list_keys(project: Project) -> list[dict[str, Any]]:
    """Every key, newest first, revoked ones included (never a secret or hash)."""
    with project.catalog() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at DESC, prefix").fetchall()
    return [_record(row) for row in rows]


def revoke_key(project: Project, ref: str) -> dict[str, Any]:
    """Revoke a key (by id or prefix) for good; revoking it again changes nothing."""
    with project.catalog() as conn:
        key_id = _find(conn, ref)[0]
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                     [common.utcnow(), key_id])
    common.bump_auth_epoch(project.root)   # servers drop what they had verified
    return get_key(project, key_id)


def rotate_key(project: Project, ref: str) -> tuple[str, dict[str, Any]]:
    """Replace a key by a new secret with the same name, owner, role, scope and lifetime length;
    the old key is revoked at once. Returns ``(secret, record)``: the one time the secret shows."""
    with project.catalog() as conn, transaction(conn):
        row = _find(conn, ref)
        old = _record(row)
        if old["revoked"]:
            raise UsageError(f"API key {old['prefix']} is revoked; create a new one")
        _check_owner(conn, old["owner"], frozenset(old["permissions"]))
        created, expires = row[7], row[8]
        values = {**{k: old[k] for k in ("name", "owner", "role")}, "permissions": row[5], "agents": row[6],
                  "expires_at": common.utcnow() + (expires - created) if expires else None,
                  "rotated_from": old["id"]}
        secret, key_id = _insert(conn, values)
        conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [common.utcnow(), old["id"]])
    common.bump_auth_epoch(project.root)
    return secret, get_key(project, key_id)


def verify_key(project: Project, secret: str) -> dict[str, Any]:
    """The record of the key ``secret`` is, with ``permissions`` those it holds now (its own, within
    its owner's current role).

    Raises:
        AuthError: malformed, unknown, revoked or expired, or its owner is disabled or gone.
    """
    match = _FORMAT.fullmatch(secret)
    if match is None:
        raise AuthError("malformed API key")
    now = common.utcnow()
    with project.catalog() as conn:
        row = conn.execute(f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE prefix = ?", [match[1]]).fetchone()
        if row is None or not hmac.compare_digest(row[-1], common.sha256_hex(secret)):
            raise AuthError("invalid API key")
        record, (expires, revoked, used) = _record(row[:-1]), row[8:11]
        if revoked is not None:
            raise AuthError("API key revoked")
        if expires is not None and expires <= now:
            raise AuthError("API key expired")
        cap = _owner_permissions(conn, record["owner"])
        stale = used is None or (now - used).total_seconds() >= _TOUCH_SECONDS
        if stale and not project.read_only:   # a replica cannot note the last use
            _touch(conn, record["id"], now)
    return {**record, "permissions": sorted(set(record["permissions"]) & cap)}


def _owner_permissions(conn: duckdb.DuckDBPyConnection, owner: str) -> frozenset[str]:
    if owner == LOCAL:
        return frozenset(PERMISSIONS)
    row = conn.execute("SELECT role, disabled FROM users WHERE name = ?", [owner]).fetchone()
    if row is None or row[1]:
        raise AuthError("the API key's owner is disabled")
    return permissions_of(row[0])


def _touch(conn: duckdb.DuckDBPyConnection, key_id: str, now: datetime) -> None:
    try:
        conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [now, key_id])
    except duckdb.TransactionException:
        pass  # another request touched it at the same moment: that write says the same
