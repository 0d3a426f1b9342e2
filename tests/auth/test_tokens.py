from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmforge.auth import tokens
from llmforge.auth.tokens import (ensure_signing_key, issue_tokens, logout, refresh, rotate_signing_key,
                                  verify_access_token)
from llmforge.auth.users import add_user, set_disabled, set_password
from llmforge.errors import AuthError
from tests.auth.conftest import PASSWORD


@pytest.fixture
def alice(project) -> str:
    add_user(project, "alice", "operator", PASSWORD)
    return "alice"


def claims_now(project, **changes: object) -> dict:
    now = int(time.time())
    claims = {"sub": "alice", "role": "operator", "iat": now, "nbf": now, "exp": now + 600,
              "iss": tokens.issuer(project), "aud": "llmforge", "jti": uuid.uuid4().hex}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(project, claims: dict, key: Ed25519PrivateKey | None = None, kid: str | None = None) -> str:
    """A token signed the way the project signs, with whatever claims a test needs."""
    kid = kid or ensure_signing_key(project)
    key = key or tokens._private_key(tokens._key_dir(project), ensure_signing_key(project))
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_issued_access_token_verifies(project, alice) -> None:
    pair = issue_tokens(project, alice)
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 15 * 60
    claims = verify_access_token(project, pair["access_token"])
    assert claims["sub"] == "alice" and claims["role"] == "operator" and claims["aud"] == "llmforge"
    assert claims["iss"] == f"llmforge:{project.root.name}" and claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"] and len(claims["jti"]) == 32
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"] == ensure_signing_key(project)


def test_expired_token_is_refused(project, alice, clock) -> None:
    clock.advance(minutes=-16)
    old = issue_tokens(project, alice)["access_token"]
    clock.advance(minutes=16)
    with pytest.raises(AuthError, match="token expired"):
        verify_access_token(project, old)


def test_token_not_yet_valid_is_refused(project, alice) -> None:
    future = int(time.time()) + 3600
    with pytest.raises(AuthError, match="not yet valid"):
        verify_access_token(project, signed(project, claims_now(project, nbf=future, exp=future + 600)))


@pytest.mark.parametrize("changes, reason", [
    ({"aud": "someone-else"}, "another audience"),
    ({"iss": "llmforge:other-project"}, "another issuer"),
    ({"jti": None}, "lacks a required claim"),
    ({"exp": None}, "lacks a required claim"),
    ({"aud": None}, "lacks a required claim"),
])
def test_claims_are_checked(project, alice, changes: dict, reason: str) -> None:
    assert verify_access_token(project, signed(project, claims_now(project)))["sub"] == "alice"
    with pytest.raises(AuthError, match=reason):
        verify_access_token(project, signed(project, claims_now(project, **changes)))


def test_issuer_setting_is_used(project, alice, monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_tokens(project, alice)["access_token"]
    monkeypatch.setenv("LLMFORGE_AUTH_ISSUER", "gateway-1")
    project.reload_settings()
    with pytest.raises(AuthError, match="another issuer"):
        verify_access_token(project, token)
    assert verify_access_token(project, issue_tokens(project, alice)["access_token"])["iss"] == "gateway-1"


def test_bad_signature_is_refused(project, alice) -> None:
    forged = signed(project, claims_now(project, role="admin"), key=Ed25519PrivateKey.generate())
    with pytest.raises(AuthError, match="bad token signature"):
        verify_access_token(project, forged)
    header, payload, signature = issue_tokens(project, alice)["access_token"].split(".")
    tampered = b64(json.dumps({**json.loads(base64.urlsafe_b64decode(payload + "==")), "role": "admin"}).encode())
    with pytest.raises(AuthError, match="bad token signature"):
        verify_access_token(project, f"{header}.{tampered}.{signature}")


def test_alg_none_is_refused(project, alice) -> None:
    unsigned = jwt.encode(claims_now(project), None, algorithm="none", headers={"kid": ensure_signing_key(project)})
    with pytest.raises(AuthError, match="algorithm not accepted"):
        verify_access_token(project, unsigned)


def test_hs256_keyed_with_the_public_key_is_refused(project, alice) -> None:
    kid = ensure_signing_key(project)
    public_pem = tokens._private_key(tokens._key_dir(project), kid).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "."
                     + b64(json.dumps(claims_now(project, role="admin")).encode()))
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError, match="algorithm not accepted"):
        verify_access_token(project, f"{signing_input}.{b64(mac)}")


@pytest.mark.parametrize("kid", ["0123456789abcdef", "../../../etc/passwd", None])
def test_unknown_kid_is_refused(project, alice, kid: str | None) -> None:
    token = jwt.encode(claims_now(project), tokens._private_key(tokens._key_dir(project), ensure_signing_key(project)),
                       algorithm="EdDSA", headers={"kid": kid} if kid else None)
    with pytest.raises(AuthError, match="unknown key"):
        verify_access_token(project, token)


@pytest.mark.parametrize("garbage", ["", "not a token", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30"])
def test_malformed_token_is_refused(project, garbage: str) -> None:
    with pytest.raises(AuthError):
        verify_access_token(project, garbage)


def test_rotated_signing_key_verifies_until_its_tokens_expire(project, alice, clock) -> None:
    old_kid = ensure_signing_key(project)
    before = issue_tokens(project, alice)["access_token"]
    new_kid = rotate_signing_key(project)
    after = issue_tokens(project, alice)["access_token"]
    assert new_kid != old_kid and jwt.get_unverified_header(after)["kid"] == new_kid
    assert verify_access_token(project, before)["sub"] == verify_access_token(project, after)["sub"] == "alice"
    clock.advance(minutes=15, seconds=1)  # every token the old key signed has expired by now
    with pytest.raises(AuthError, match="unknown key"):
        verify_access_token(project, before)
    assert verify_access_token(project, after)["sub"] == "alice"
    key_dir = project.path("secrets") / "jwt"
    assert (key_dir / f"{old_kid}.pem").exists()
    rotate_signing_key(project)  # prunes keys retired longer ago than a token lives
    assert not (key_dir / f"{old_kid}.pem").exists() and (key_dir / f"{new_kid}.pem").exists()


def test_secret_files_are_owner_only(project, alice) -> None:
    ensure_signing_key(project)
    rotate_signing_key(project)
    key_dir = project.path("secrets") / "jwt"
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    files = [*key_dir.glob("*.pem"), key_dir / "keys.json"]
    assert len(files) == 3
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)


def test_refresh_rotates_and_a_reused_token_revokes_the_family(project, alice) -> None:
    first = issue_tokens(project, alice)
    other_session = issue_tokens(project, alice)
    second = refresh(project, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert verify_access_token(project, second["access_token"])["sub"] == "alice"
    with pytest.raises(AuthError, match="already used"):
        refresh(project, first["refresh_token"])  # a copy: the whole family goes
    with pytest.raises(AuthError, match="revoked"):
        refresh(project, second["refresh_token"])
    assert refresh(project, other_session["refresh_token"])["token_type"] == "bearer"


def test_logout_ends_the_session(project, alice) -> None:
    pair = refresh(project, issue_tokens(project, alice)["refresh_token"])
    logout(project, pair["refresh_token"])
    with pytest.raises(AuthError, match="revoked"):
        refresh(project, pair["refresh_token"])
    with pytest.raises(AuthError, match="invalid refresh token"):
        logout(project, pair["refresh_token"][:-1] + "x")


@pytest.mark.parametrize("garbage", ["", "lfr_x", "lfr_" + "0" * 32 + "_" + "A" * 43])
def test_invalid_refresh_tokens_are_refused(project, garbage: str) -> None:
    with pytest.raises(AuthError, match="invalid refresh token"):
        refresh(project, garbage)


def test_refresh_token_expires(project, alice, clock) -> None:
    pair = issue_tokens(project, alice)
    clock.advance(days=7, seconds=1)
    with pytest.raises(AuthError, match="expired"):
        refresh(project, pair["refresh_token"])


def test_disabled_user_cannot_refresh_or_get_tokens(project, alice) -> None:
    pair = issue_tokens(project, alice)
    set_disabled(project, alice, True)
    with pytest.raises(AuthError):
        refresh(project, pair["refresh_token"])
    with pytest.raises(AuthError, match="disabled"):
        issue_tokens(project, alice)
    set_disabled(project, alice, False)
    with pytest.raises(AuthError, match="revoked"):  # disabling ended the session for good
        refresh(project, pair["refresh_token"])


def test_new_password_ends_sessions(project, alice) -> None:
    pair = issue_tokens(project, alice)
    set_password(project, alice, "another long passphrase")
    with pytest.raises(AuthError, match="revoked"):
        refresh(project, pair["refresh_token"])


def test_refresh_tokens_are_stored_hashed(project, alice) -> None:
    token = issue_tokens(project, alice)["refresh_token"]
    with project.catalog() as conn:
        row = conn.execute("SELECT * FROM refresh_tokens").fetchone()
    assert token not in map(str, row) and hashlib.sha256(token.encode()).hexdigest() in row
