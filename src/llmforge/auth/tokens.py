"""Signed access tokens (JWT) and rotating refresh tokens for users who log in.

Access tokens are short-lived JWTs signed with Ed25519 (``EdDSA``); only that algorithm is
accepted, so neither ``none`` nor an HMAC keyed with the public key (algorithm confusion) passes.
Each token names its signing key (``kid``); the keys live in ``secrets/jwt/<kid>.pem`` (0600, in a
0700 folder) beside ``keys.json``, which says which key signs now and when the others were retired.
A retired key still verifies until every token it signed has expired, then it is deleted.

Refresh tokens are opaque (``lfr_<id>_<secret>``), stored hashed, and good for one use: each
refresh marks the token used and hands out a new one in the same family. Presenting a used token
again means it was copied, so the whole family is revoked (the thief and the user both log in again).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmforge.auth import common
from llmforge.catalog import transaction
from llmforge.errors import AuthError, LockError
from llmforge.locks import file_lock
from llmforge.project import Project

ALGORITHM = "EdDSA"
AUDIENCE = "llmforge"
REQUIRED_CLAIMS = ("sub", "role", "iat", "nbf", "exp", "iss", "aud", "jti")
_KID = re.compile(r"[0-9a-f]{16}")
_REFRESH = re.compile(r"lfr_([0-9a-f]{32})_[A-Za-z0-9_-]{43}")
_MANIFEST = "keys.json"
_REASONS: tuple[tuple[type[Exception], str], ...] = (  # most specific first
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token is for another audience"),
    (jwt.InvalidIssuerError, "token from another issuer"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim"),
    (jwt.InvalidSignatureError, "bad token signature"),
    (jwt.InvalidAlgorithmError, "token algorithm not accepted"),
    (jwt.InvalidTokenError, "invalid token"),
)
log = logging.getLogger(__name__)


# --- signing keys ---------------------------------------------------------------------------------

def _key_dir(project: Project) -> Path:
    return project.path("secrets") / "jwt"


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "retired": {}}


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    common.write_private(directory / _MANIFEST, json.dumps(manifest, indent=2).encode())


def _key_lock(directory: Path) -> AbstractContextManager[None]:
    """Held while the key files change, so two processes never both create or rotate a key."""
    common.private_dir(directory)
    return file_lock(directory / ".lock", "jwt signing keys",
                     lambda holder: LockError(f"the signing keys are being changed by {holder}"), wait=10.0)


def _new_key(directory: Path) -> str:
    kid = secrets.token_hex(8)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    common.write_private(directory / f"{kid}.pem", pem)
    return kid


def ensure_signing_key(project: Project) -> str:
    """The id (kid) of the key that signs now, created on first use."""
    directory = _key_dir(project)
    current = _read_manifest(directory)["current"]
    if current and (directory / f"{current}.pem").is_file():
        return current
    with _key_lock(directory):
        manifest = _read_manifest(directory)
        if not (manifest["current"] and (directory / f"{manifest['current']}.pem").is_file()):
            manifest["current"] = _new_key(directory)
            _write_manifest(directory, manifest)
        return manifest["current"]


def rotate_signing_key(project: Project) -> str:
    """Sign with a new key from now on; the old one verifies until its tokens have expired.
    Returns the new kid. Keys retired longer ago than a token lives are deleted."""
    directory = _key_dir(project)
    with _key_lock(directory):
        manifest = _read_manifest(directory)
        if manifest["current"]:
            manifest["retired"][manifest["current"]] = common.utcnow().isoformat()
        manifest["current"] = _new_key(directory)
        _prune(project, directory, manifest)
        _write_manifest(directory, manifest)
        return manifest["current"]


def _prune(project: Project, directory: Path, manifest: dict[str, Any]) -> None:
    for kid, retired in list(manifest["retired"].items()):
        if _retired_long_ago(project, retired):
            (directory / f"{kid}.pem").unlink(missing_ok=True)
            del manifest["retired"][kid]


def _retired_long_ago(project: Project, retired: str) -> bool:
    return datetime.fromisoformat(retired) + _access_lifetime(project) <= common.utcnow()


def _private_key(directory: Path, kid: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((directory / f"{kid}.pem").read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthError(f"the signing key {kid} is not an Ed25519 key")
    return key


def _verifying_key(project: Project, kid: str) -> Any:
    directory = _key_dir(project)
    manifest = _read_manifest(directory)
    retired = manifest["retired"].get(kid)
    usable = kid == manifest["current"] or (retired is not None and not _retired_long_ago(project, retired))
    if not usable or not (directory / f"{kid}.pem").is_file():
        raise AuthError("token signed with an unknown key")
    return _private_key(directory, kid).public_key()


# --- access tokens --------------------------------------------------------------------------------

def _access_lifetime(project: Project) -> timedelta:
    return timedelta(minutes=float(project.settings["auth.access_token_minutes"]))


def issuer(project: Project) -> str:
    """The ``iss`` of this project's tokens: setting auth.issuer, else ``llmforge:<dir name>``."""
    return str(project.settings["auth.issuer"]) or f"llmforge:{project.root.name}"


def _access_token(project: Project, username: str, role: str) -> str:
    kid = ensure_signing_key(project)
    now = common.utcnow()
    claims = {"sub": username, "role": role, "iat": now, "nbf": now, "exp": now + _access_lifetime(project),
              "iss": issuer(project), "aud": AUDIENCE, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, _private_key(_key_dir(project), kid), algorithm=ALGORITHM, headers={"kid": kid})


def verify_access_token(project: Project, token: str) -> dict[str, Any]:
    """The claims of a valid access token of this project.

    Raises:
        AuthError: with a short reason: malformed, another algorithm, unknown key, bad signature,
            expired, not yet valid, another issuer or audience, a claim missing.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise AuthError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError("token algorithm not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):  # a kid also names a file: nothing else passes
        raise AuthError("token signed with an unknown key")
    key = _verifying_key(project, kid)
    try:
        return jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=issuer(project),
                          options={"require": list(REQUIRED_CLAIMS)})
    except jwt.InvalidTokenError as exc:
        raise AuthError(next(reason for kind, reason in _REASONS if isinstance(exc, kind))) from None


# --- refresh tokens and sessions ------------------------------------------------------------------

def _user_role(conn: duckdb.DuckDBPyConnection, username: str) -> str:
    row = conn.execute("SELECT role, disabled FROM users WHERE name = ?", [username]).fetchone()
    if row is None or row[1]:
        raise AuthError("the user is disabled or removed")
    return row[0]


def _new_refresh(conn: duckdb.DuckDBPyConnection, project: Project, username: str, family: str) -> str:
    token_id, now = uuid.uuid4().hex, common.utcnow()
    token = f"lfr_{token_id}_{secrets.token_urlsafe(32)}"
    expires = now + timedelta(days=float(project.settings["auth.refresh_token_days"]))
    conn.execute("INSERT INTO refresh_tokens (id, family, username, token_hash, created_at, expires_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)", [token_id, family, username, common.sha256_hex(token), now, expires])
    return token


def _pair(project: Project, username: str, role: str, refresh_token: str) -> dict[str, Any]:
    return {"access_token": _access_token(project, username, role), "refresh_token": refresh_token,
            "token_type": "bearer", "expires_in": int(_access_lifetime(project).total_seconds())}


def issue_tokens(project: Project, username: str) -> dict[str, Any]:
    """A new session for ``username`` (who has just logged in): an access token and the first
    refresh token of a new family. Expired refresh tokens of every session are dropped on the way.

    Raises:
        AuthError: no such user, or the user is disabled.
    """
    with project.catalog() as conn:
        role = _user_role(conn, username)
        conn.execute("DELETE FROM refresh_tokens WHERE expires_at < ?", [common.utcnow()])
        refresh_token = _new_refresh(conn, project, username, uuid.uuid4().hex)
    return _pair(project, username, role, refresh_token)


def _refresh_row(conn: duckdb.DuckDBPyConnection, token: str) -> tuple:
    """``(id, family, username, expires_at, used_at, revoked_at)`` of a genuine refresh token."""
    match = _REFRESH.fullmatch(token)
    row = conn.execute("SELECT id, family, username, expires_at, used_at, revoked_at, token_hash "
                       "FROM refresh_tokens WHERE id = ?", [match[1]]).fetchone() if match else None
    if row is None or not secrets.compare_digest(row[6], common.sha256_hex(token)):
        raise AuthError("invalid refresh token")
    return row[:6]


def _revoke_family(conn: duckdb.DuckDBPyConnection, family: str) -> None:
    conn.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                 [common.utcnow(), family])


def refresh(project: Project, refresh_token: str) -> dict[str, Any]:
    """Trade a refresh token for a new pair; the presented token is spent.

    Raises:
        AuthError: invalid, expired, revoked, or already used (which revokes its whole family),
            or the user is disabled.
    """
    with project.catalog() as conn:
        token_id, family, username, expires, used, revoked = _refresh_row(conn, refresh_token)
        if revoked is not None:
            raise AuthError("refresh token revoked")
        if used is not None:
            _revoke_family(conn, family)
            log.warning("refresh token of %s used twice: its session is revoked", username)
            raise AuthError("refresh token already used; the session is revoked, log in again")
        if expires <= common.utcnow():
            raise AuthError("refresh token expired")
        role = _user_role(conn, username)
        try:
            with transaction(conn):
                if not conn.execute("UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL "
                                    "RETURNING id", [common.utcnow(), token_id]).fetchall():
                    raise AuthError("refresh token already used")
                fresh = _new_refresh(conn, project, username, family)
        except duckdb.TransactionException:  # a simultaneous refresh with the same token won
            raise AuthError("refresh token already used") from None
    return _pair(project, username, role, fresh)


def logout(project: Project, refresh_token: str) -> None:
    """End the session (the family) the refresh token belongs to.

    Raises:
        AuthError: not a refresh token of this project.
    """
    with project.catalog() as conn:
        _revoke_family(conn, _refresh_row(conn, refresh_token)[1])
