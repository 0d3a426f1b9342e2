from __future__ import annotations

import dataclasses

import pytest

from llmforge.auth.identity import Caller, auth_configured, authenticate_bearer
from llmforge.auth.keys import create_key, revoke_key
from llmforge.auth.roles import permissions_of
from llmforge.auth.tokens import issue_tokens
from llmforge.auth.users import add_user, set_disabled, set_role
from llmforge.errors import AuthError
from tests.auth.conftest import PASSWORD


@pytest.mark.parametrize("header, reason", [
    (None, "missing credentials"),
    ("", "missing credentials"),
    ("Basic YWxpY2U6cHc=", "malformed Authorization header"),
    ("Bearer", "malformed Authorization header"),
    ("Bearer   ", "malformed Authorization header"),
    ("Bearer one two", "malformed Authorization header"),
    ("Bearer something-else", "unrecognised credentials"),
])
def test_missing_or_malformed_headers(project, header: str | None, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        authenticate_bearer(project, header)


def test_api_key_caller(project) -> None:
    add_user(project, "alice", "operator", PASSWORD)
    secret, record = create_key(project, name="bot", role="analyst", owner="alice", agents=["default"],
                                permissions=["ask", "search"])
    caller = authenticate_bearer(project, f"bearer {secret}")
    assert caller == Caller("alice", record["prefix"], "analyst", frozenset({"ask", "search"}),
                            frozenset({"default"}), "key")
    assert caller.name == "alice" and caller.can("ask") and not caller.can("chat")
    assert caller.may_use_agent("default") and caller.may_use_agent("agent:default")
    assert not caller.may_use_agent("finance")
    with pytest.raises(dataclasses.FrozenInstanceError):
        caller.role = "admin"  # type: ignore[misc]
    with pytest.raises(AuthError, match="invalid API key"):
        authenticate_bearer(project, f"Bearer {secret[:-1]}{'B' if secret[-1] == 'A' else 'A'}")


def test_token_caller_takes_the_role_from_the_current_user(project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    token = issue_tokens(project, "alice")["access_token"]
    caller = authenticate_bearer(project, f"Bearer {token}")
    assert (caller.user, caller.key_prefix, caller.role, caller.via) == ("alice", None, "analyst", "token")
    assert caller.permissions == permissions_of("analyst") and caller.may_use_agent("anything")
    set_role(project, "alice", "operator")  # the claim still says analyst
    assert authenticate_bearer(project, f"Bearer {token}").permissions == permissions_of("operator")
    set_disabled(project, "alice", True)
    with pytest.raises(AuthError, match="disabled"):
        authenticate_bearer(project, f"Bearer {token}")
    with pytest.raises(AuthError, match="bad token signature"):
        authenticate_bearer(project, f"Bearer {token[:-4]}AAAA")


def test_auth_configured(project, clock) -> None:
    assert not auth_configured(project)
    _, key = create_key(project, name="ci", role="analyst", owner="local", expires_days=1)
    assert auth_configured(project)
    clock.advance(days=2)
    assert not auth_configured(project)  # its only key has expired
    clock.advance(days=-2)
    revoke_key(project, key["prefix"])
    assert not auth_configured(project)
    add_user(project, "alice", "analyst", PASSWORD)
    assert auth_configured(project)
    set_disabled(project, "alice", True)
    assert not auth_configured(project)
