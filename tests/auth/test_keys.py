from __future__ import annotations

import hashlib
import json
import re

import pytest

from llmforge.auth.keys import create_key, get_key, list_keys, revoke_key, rotate_key, verify_key
from llmforge.auth.roles import permissions_of
from llmforge.auth.users import add_user, set_disabled, set_role
from llmforge.errors import AuthError, NotFoundError, UsageError
from tests.auth.conftest import PASSWORD


def test_key_is_shown_once_and_stored_only_as_its_hash(project) -> None:
    secret, record = create_key(project, name="ci", role="analyst", owner="local")
    assert re.fullmatch(r"lf_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", secret)
    assert secret[3:11] == record["prefix"]
    assert record["permissions"] == sorted(permissions_of("analyst")) and record["agents"] is None
    with project.catalog() as conn:
        row = conn.execute("SELECT * FROM api_keys").fetchone()
    assert secret not in map(str, row) and hashlib.sha256(secret.encode()).hexdigest() in row
    listed = json.dumps(list_keys(project))
    assert secret not in listed and secret[12:] not in listed and "hash" not in listed


def test_verify_returns_the_record_and_notes_use_at_most_once_a_minute(project, clock) -> None:
    secret, record = create_key(project, name="ci", role="operator", owner="local")
    verified = verify_key(project, secret)
    assert verified["id"] == record["id"] and verified["role"] == "operator"
    first_use = get_key(project, record["prefix"])["last_used"]
    assert first_use is not None
    clock.advance(seconds=30)
    verify_key(project, secret)
    assert get_key(project, record["id"])["last_used"] == first_use
    clock.advance(seconds=31)
    verify_key(project, secret)
    assert get_key(project, record["id"])["last_used"] > first_use


@pytest.mark.parametrize("mangle, reason", [
    (lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"), "invalid API key"),   # right prefix, wrong secret
    (lambda s: "lf_zzzzzzzz" + s[11:], "invalid API key"),                     # unknown prefix
    (lambda s: s[:-2], "malformed API key"),
    (lambda s: "Bearer " + s, "malformed API key"),
])
def test_wrong_keys_are_refused(project, mangle, reason: str) -> None:
    secret, _ = create_key(project, name="ci", role="analyst", owner="local")
    with pytest.raises(AuthError, match=reason):
        verify_key(project, mangle(secret))


def test_revoked_key_stops_working(project) -> None:
    secret, record = create_key(project, name="ci", role="analyst", owner="local")
    revoked = revoke_key(project, "lf_" + record["prefix"])
    assert revoked["revoked"] is not None
    with pytest.raises(AuthError, match="revoked"):
        verify_key(project, secret)
    assert revoke_key(project, record["id"])["revoked"] == revoked["revoked"]  # again: no change
    with pytest.raises(NotFoundError, match="no API key"):
        revoke_key(project, "nosuchkey")


def test_expired_key_stops_working(project, clock) -> None:
    secret, record = create_key(project, name="ci", role="analyst", owner="local", expires_days=1)
    assert verify_key(project, secret)
    clock.advance(days=1, seconds=1)
    with pytest.raises(AuthError, match="expired"):
        verify_key(project, secret)
    with pytest.raises(UsageError, match="expires"):
        create_key(project, name="ci", role="analyst", owner="local", expires_days=0)
    with pytest.raises(UsageError, match="expires"):
        create_key(project, name="ci", role="analyst", owner="local", expires_days=-1)


def test_rotation_keeps_the_scope_and_revokes_the_old_secret(project, clock) -> None:
    old_secret, old = create_key(project, name="ci", role="analyst", owner="local", expires_days=10,
                                 agents=["agent:default"], permissions=["search", "ask"])
    clock.advance(days=2)
    new_secret, new = rotate_key(project, old["prefix"])
    assert new_secret != old_secret and new["prefix"] != old["prefix"] and new["rotated_from"] == old["id"]
    for field in ("name", "owner", "role", "permissions", "agents"):
        assert new[field] == old[field]
    assert new["agents"] == ["default"] and new["permissions"] == ["ask", "search"]
    assert new["expires"] > old["expires"]  # the same ten days, from the rotation
    assert verify_key(project, new_secret)["id"] == new["id"]
    with pytest.raises(AuthError, match="revoked"):
        verify_key(project, old_secret)
    with pytest.raises(UsageError, match="revoked"):
        rotate_key(project, old["id"])


def test_a_key_may_narrow_its_role_but_never_widen_it(project) -> None:
    secret, record = create_key(project, name="search only", role="operator", owner="local",
                                permissions=["search"])
    assert record["permissions"] == ["search"] and verify_key(project, secret)["permissions"] == ["search"]
    with pytest.raises(UsageError, match="does not grant users:write"):
        create_key(project, name="sneaky", role="operator", owner="local", permissions=["search", "users:write"])
    with pytest.raises(UsageError, match="unknown permission"):
        create_key(project, name="typo", role="analyst", owner="local", permissions=["serch"])
    with pytest.raises(UsageError, match="unknown role"):
        create_key(project, name="typo", role="root", owner="local")


def test_a_key_is_never_wider_than_its_owners_role(project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    with pytest.raises(UsageError, match="more than their role \\(analyst\\)"):
        create_key(project, name="mine", role="operator", owner="alice")
    with pytest.raises(UsageError, match="documents:write"):
        create_key(project, name="mine", role="admin", owner="alice", permissions=["search", "documents:write"])
    secret, _ = create_key(project, name="mine", role="admin", owner="alice", permissions=["search"])
    assert verify_key(project, secret)["permissions"] == ["search"]
    with pytest.raises(NotFoundError, match="no user 'bob'"):
        create_key(project, name="theirs", role="analyst", owner="bob")


def test_a_demoted_owner_takes_their_keys_along(project) -> None:
    add_user(project, "alice", "operator", PASSWORD)
    secret, _ = create_key(project, name="mine", role="operator", owner="alice")
    assert "documents:write" in verify_key(project, secret)["permissions"]
    set_role(project, "alice", "analyst")
    assert set(verify_key(project, secret)["permissions"]) == permissions_of("analyst")


def test_a_disabled_users_keys_stop_working(project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    secret, _ = create_key(project, name="mine", role="analyst", owner="alice")
    set_disabled(project, "alice", True)
    with pytest.raises(AuthError, match="owner is disabled"):
        verify_key(project, secret)
    with pytest.raises(UsageError, match="disabled"):
        create_key(project, name="another", role="analyst", owner="alice")
    set_disabled(project, "alice", False)
    assert verify_key(project, secret)["owner"] == "alice"


def test_agent_scope_names_existing_agents(project) -> None:
    with pytest.raises(NotFoundError, match="no agent 'nosuch'"):
        create_key(project, name="ci", role="analyst", owner="local", agents=["nosuch"])
    _, record = create_key(project, name="ci", role="analyst", owner="local", agents=["agent:default", "default"])
    assert record["agents"] == ["default"]


def test_list_shows_every_key_newest_first(project, clock) -> None:
    create_key(project, name="first", role="analyst", owner="local")
    clock.advance(seconds=1)
    _, second = create_key(project, name="second", role="admin", owner="local")
    revoke_key(project, second["prefix"])
    listed = list_keys(project)
    assert [k["name"] for k in listed] == ["second", "first"] and listed[0]["revoked"]
    assert set(listed[0]) == {"id", "prefix", "name", "owner", "role", "permissions", "agents", "created",
                              "expires", "last_used", "revoked", "rotated_from"}
