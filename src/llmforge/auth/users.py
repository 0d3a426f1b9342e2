"""User accounts: a name, a role, an argon2id password hash; login with lockout.

Login says one thing for every failure — an unknown name, a wrong password, a disabled account —
and spends the same time on each (an unknown name is checked against a dummy hash), so neither
the answer nor its timing tells which names exist.

After ``auth.max_failures`` failures in a row, logins are refused for ``auth.lockout_seconds``,
doubling with every further failure up to an hour: per user (until a successful login), and per
client address (whose count is forgotten an hour after its last failure; a success does not reset
it, or an attacker with one account of their own could clear it between guesses). A lockout
answers with the same words whether the account or the address is locked. (Only names that exist
can lock, so a lockout does tell that a name exists; the per-address lockout keeps such probing to
a few names an hour from one address.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import duckdb

from llmforge.auth import common
from llmforge.auth.passwords import check_new_password, dummy_hash, hash_password, needs_rehash, verify_password
from llmforge.auth.roles import check_role
from llmforge.errors import AuthError, NotFoundError, RateLimited, UsageError
from llmforge.project import Project

LOCAL = "local"                 # the operator at the shell: owner of keys made without a user
INVALID_LOGIN = "invalid user name or password"
LOCKOUT_CAP_SECONDS = 3600.0    # the longest lockout, and how long a client's failures are remembered
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_COLUMNS = "name, role, disabled, created_at, password_changed_at, failed_logins, locked_until"


def check_user_name(name: str) -> str:
    """``name`` if it can name a user: 1-64 of A-Z a-z 0-9 _ . - and not the reserved ``local``."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"user names are 1-64 letters, digits, '_', '.' or '-': {name!r}")
    if name == LOCAL:
        raise UsageError(f"{LOCAL!r} names the operator at the shell; choose another user name")
    return name


def _record(row: tuple) -> dict[str, Any]:
    name, role, disabled, created, changed, failures, locked = row
    return {"name": name, "role": role, "disabled": disabled, "created": common.iso(created),
            "password_changed": common.iso(changed), "failed_logins": failures, "locked_until": common.iso(locked)}


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"no user {name!r} (see `llmforge users list`)")


def add_user(project: Project, name: str, role: str, password: str) -> dict[str, Any]:
    """Create a user; the password must pass :func:`check_new_password`."""
    check_user_name(name)
    check_role(role)
    check_new_password(password, int(project.settings["auth.min_password_length"]))
    hashed = hash_password(password)  # slow on purpose: before the catalog is opened
    with project.catalog() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise UsageError(f"user {name!r} exists")
        conn.execute("INSERT INTO users (name, role, password_hash, password_changed_at) VALUES (?, ?, ?, ?)",
                     [name, role, hashed, common.utcnow()])
    return get_user(project, name)


def get_user(project: Project, name: str) -> dict[str, Any]:
    """One user's record (never the password hash)."""
    with project.catalog() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", [name]).fetchone()
    if row is None:
        raise _not_found(name)
    return _record(row)


def list_users(project: Project) -> list[dict[str, Any]]:
    """Every user, by name."""
    with project.catalog() as conn:
        return [_record(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()]


def _update(project: Project, name: str, assignments: str, values: list[Any], end_sessions: bool = False
            ) -> dict[str, Any]:
    with project.catalog() as conn:
        if not conn.execute(f"UPDATE users SET {assignments} WHERE name = ? RETURNING name",
                            [*values, name]).fetchall():
            raise _not_found(name)
        if end_sessions:  # refresh tokens die with the password or the account; access tokens expire soon
            conn.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                         [common.utcnow(), name])
    common.bump_auth_epoch(project.root)   # servers drop what they had verified for this user
    return get_user(project, name)


def set_disabled(project: Project, name: str, disabled: bool) -> dict[str, Any]:
    """Disable a user (logins, tokens and the user's API keys stop working) or enable it again."""
    return _update(project, name, "disabled = ?", [disabled], end_sessions=disabled)


def set_role(project: Project, name: str, role: str) -> dict[str, Any]:
    """Change a user's role; it applies to the next request (identity reads the current row)."""
    return _update(project, name, "role = ?", [check_role(role)])


def set_password(project: Project, name: str, password: str) -> dict[str, Any]:
    """Set a new password; it also lifts a lockout and ends the user's refresh-token sessions."""
    check_new_password(password, int(project.settings["auth.min_password_length"]))
    get_user(project, name)  # a clear NotFoundError before the slow hash
    hashed = hash_password(password)
    return _update(project, name, "password_hash = ?, password_changed_at = ?, failed_logins = 0, "
                   "locked_until = NULL", [hashed, common.utcnow()], end_sessions=True)


def lockout_seconds(failures: int, max_failures: int, base: float) -> float:
    """How long to refuse logins after ``failures`` in a row (0 below ``max_failures``)."""
    if max_failures <= 0 or failures < max_failures:
        return 0.0
    return min(base * 2.0 ** min(failures - max_failures, 32), LOCKOUT_CAP_SECONDS)


def authenticate(project: Project, name: str, password: str, client: str | None = None) -> dict[str, Any]:
    """The user's record when ``name`` and ``password`` match an enabled user.

    Raises:
        AuthError: ``invalid user name or password``, whatever the reason.
        RateLimited: the user or the client address is locked out for now (``retry_after``).
        ReadOnlyProjectError: the project is read-only here, so failures could not be counted
            towards a lockout: no password is checked at all.
    """
    project.require_writable("password sign-in (it counts failures towards a lockout)")
    now = common.utcnow()
    _refuse_locked_client(project, client, now)
    with project.catalog() as conn:
        row = conn.execute("SELECT password_hash, disabled, locked_until FROM users WHERE name = ?",
                           [name]).fetchone()
    if row is not None and row[2] is not None and row[2] > now:
        raise _locked_out(row[2], now)
    stored = row[0] if row is not None else dummy_hash()
    if verify_password(stored, password) and row is not None and not row[1]:
        _login_succeeded(project, name, stored, password)
        return get_user(project, name)
    _login_failed(project, name if row is not None else None, client, now)
    raise AuthError(INVALID_LOGIN)


def _locked_out(until: datetime, now: datetime) -> RateLimited:
    wait = max((until - now).total_seconds(), 1.0)
    return RateLimited(f"too many failed logins; try again in {math.ceil(wait)} s", retry_after=wait)


def _refuse_locked_client(project: Project, client: str | None, now: datetime) -> None:
    if client is None:
        return
    with project.catalog() as conn:
        row = conn.execute("SELECT locked_until FROM auth_failures WHERE client = ?", [client]).fetchone()
    if row is not None and row[0] is not None and row[0] > now:
        raise _locked_out(row[0], now)


def _login_succeeded(project: Project, name: str, stored: str, password: str) -> None:
    fresh = hash_password(password) if needs_rehash(stored) else stored
    with project.catalog() as conn:
        conn.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, password_hash = ? WHERE name = ?",
                     [fresh, name])


def _login_failed(project: Project, name: str | None, client: str | None, now: datetime) -> None:
    with project.catalog() as conn:
        if name is not None:
            failures = _retrying(lambda: conn.execute(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE name = ? RETURNING failed_logins",
                [name]).fetchone()[0])
            _lock_if_due(project, conn, "users", "name", name, failures, now)
        if client is not None:
            forget_before = now - timedelta(seconds=LOCKOUT_CAP_SECONDS)
            failures = _retrying(lambda: conn.execute(
                "INSERT INTO auth_failures (client, failures, last_at) VALUES (?, 1, ?) "
                "ON CONFLICT (client) DO UPDATE SET last_at = excluded.last_at, failures = CASE "
                "WHEN auth_failures.last_at < ? THEN 1 ELSE auth_failures.failures + 1 END RETURNING failures",
                [client, now, forget_before]).fetchone()[0])
            _lock_if_due(project, conn, "auth_failures", "client", client, failures, now)


def _lock_if_due(project: Project, conn: duckdb.DuckDBPyConnection, table: str, key_column: str, key: str,
                 failures: int, now: datetime) -> None:
    seconds = lockout_seconds(failures, int(project.settings["auth.max_failures"]),
                              float(project.settings["auth.lockout_seconds"]))
    if seconds:
        conn.execute(f"UPDATE {table} SET locked_until = ? WHERE {key_column} = ?",
                     [now + timedelta(seconds=seconds), key])


def _retrying(statement: Callable[[], Any], attempts: int = 5) -> Any:
    """Run ``statement`` again when a concurrent login changed the same row first (DuckDB's
    optimistic concurrency raises a conflict instead of waiting)."""
    for _ in range(attempts - 1):
        try:
            return statement()
        except duckdb.TransactionException:
            continue
    return statement()
