from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from llmforge.auth import passwords, users
from llmforge.auth.users import (INVALID_LOGIN, add_user, authenticate, get_user, list_users, lockout_seconds,
                                 set_disabled, set_password, set_role)
from llmforge.errors import AuthError, NotFoundError, RateLimited, UsageError
from tests.auth.conftest import PASSWORD


def test_add_list_and_change_users(project) -> None:
    created = add_user(project, "alice", "analyst", PASSWORD)
    assert created["name"] == "alice" and created["role"] == "analyst" and not created["disabled"]
    assert "password_hash" not in created and PASSWORD not in str(created)
    add_user(project, "bob.ops", "operator", PASSWORD)
    assert [u["name"] for u in list_users(project)] == ["alice", "bob.ops"]
    assert set_role(project, "alice", "admin")["role"] == "admin"
    assert set_disabled(project, "alice", True)["disabled"] is True
    assert set_disabled(project, "alice", False)["disabled"] is False
    with pytest.raises(UsageError, match="exists"):
        add_user(project, "alice", "analyst", PASSWORD)
    with pytest.raises(NotFoundError, match="no user 'carol'"):
        set_role(project, "carol", "admin")


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "alice:1", "local", "ع"])
def test_bad_user_names_are_refused(project, name: str) -> None:
    with pytest.raises(UsageError):
        add_user(project, name, "analyst", PASSWORD)


def test_role_and_password_length_are_checked(project, settings) -> None:
    with pytest.raises(UsageError, match="roles: analyst, operator, admin"):
        add_user(project, "alice", "root", PASSWORD)
    with pytest.raises(UsageError, match="at least 12 characters"):
        add_user(project, "alice", "analyst", "short pass")
    settings(min_password_length=20)
    with pytest.raises(UsageError, match="at least 20 characters"):
        add_user(project, "alice", "analyst", "nineteen characters")
    assert not list_users(project)


def test_login_failures_all_say_the_same(project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    add_user(project, "gone", "analyst", PASSWORD)
    set_disabled(project, "gone", True)
    assert authenticate(project, "alice", PASSWORD)["name"] == "alice"
    messages = set()
    for name, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("gone", PASSWORD)):
        with pytest.raises(AuthError) as caught:
            authenticate(project, name, password)
        messages.add(str(caught.value))
    assert messages == {INVALID_LOGIN}


def test_unknown_user_is_checked_against_a_dummy_hash(project, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = []
    real = passwords.verify_password
    monkeypatch.setattr(users, "verify_password", lambda stored, pw: checked.append(stored) or real(stored, pw))
    with pytest.raises(AuthError):
        authenticate(project, "nobody", PASSWORD)
    assert checked == [passwords.dummy_hash()] and checked[0].startswith("$argon2id$")


def test_lockout_seconds_double_up_to_an_hour() -> None:
    assert [lockout_seconds(n, 3, 60) for n in (0, 2, 3, 4, 5)] == [0, 0, 60, 120, 240]
    assert lockout_seconds(40, 3, 60) == 3600
    assert lockout_seconds(100, 0, 60) == 0  # auth.max_failures 0: never lock


def test_user_lockout_backs_off_and_a_success_resets_it(project, settings, clock) -> None:
    settings(max_failures=3, lockout_seconds=60)
    add_user(project, "alice", "analyst", PASSWORD)
    for attempt in range(3):  # each from another address: the account is what locks
        with pytest.raises(AuthError):
            authenticate(project, "alice", "wrong password!", client=f"10.0.0.{attempt}")
    with pytest.raises(RateLimited, match="try again in 60 s") as locked:
        authenticate(project, "alice", PASSWORD, client="10.0.0.9")  # even the right password
    assert 59 <= locked.value.retry_after <= 60
    clock.advance(seconds=61)
    with pytest.raises(AuthError):
        authenticate(project, "alice", "wrong password!", client="10.0.0.10")
    with pytest.raises(RateLimited) as locked:
        authenticate(project, "alice", PASSWORD, client="10.0.0.11")
    assert 119 <= locked.value.retry_after <= 120  # doubled
    clock.advance(seconds=121)
    assert authenticate(project, "alice", PASSWORD, client="10.0.0.12")["failed_logins"] == 0
    with pytest.raises(AuthError):  # counting starts again: one failure does not lock
        authenticate(project, "alice", "wrong password!", client="10.0.0.13")
    assert authenticate(project, "alice", PASSWORD)["name"] == "alice"


def test_client_lockout_covers_every_name_and_survives_a_success(project, settings, clock) -> None:
    settings(max_failures=3, lockout_seconds=60)
    add_user(project, "alice", "analyst", PASSWORD)
    add_user(project, "mallory", "analyst", PASSWORD)
    with pytest.raises(AuthError):
        authenticate(project, "alice", "wrong password!", client="10.0.0.66")
    assert authenticate(project, "mallory", PASSWORD, client="10.0.0.66")  # does not clear the address
    for name in ("bob", "carol"):  # names that do not exist count too
        with pytest.raises(AuthError):
            authenticate(project, name, "wrong password!", client="10.0.0.66")
    with pytest.raises(RateLimited, match="too many failed logins"):
        authenticate(project, "alice", PASSWORD, client="10.0.0.66")
    assert authenticate(project, "alice", PASSWORD, client="10.0.0.7")["name"] == "alice"  # other address
    clock.advance(seconds=61)
    assert authenticate(project, "alice", PASSWORD, client="10.0.0.66")["name"] == "alice"


def test_client_failures_are_forgotten_after_an_hour(project, settings, clock) -> None:
    settings(max_failures=2)
    for _ in range(2):
        clock.advance(hours=2)
        with pytest.raises(AuthError):
            authenticate(project, "nobody", PASSWORD, client="10.0.0.5")
    with pytest.raises(AuthError):  # not RateLimited: the first failure was too long ago
        authenticate(project, "nobody", PASSWORD, client="10.0.0.5")


def test_new_password_replaces_old_and_lifts_a_lockout(project, settings) -> None:
    settings(max_failures=1)
    add_user(project, "alice", "analyst", PASSWORD)
    with pytest.raises(AuthError):
        authenticate(project, "alice", "wrong password!")
    set_password(project, "alice", "a brand new passphrase")
    assert authenticate(project, "alice", "a brand new passphrase")["name"] == "alice"
    with pytest.raises(AuthError):
        authenticate(project, "alice", PASSWORD)
    with pytest.raises(UsageError, match="at least 12"):
        set_password(project, "alice", "short")
    with pytest.raises(NotFoundError):
        set_password(project, "nobody", "a brand new passphrase")


def test_login_rehashes_a_hash_made_with_old_parameters(project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    with project.catalog() as conn:
        conn.execute("UPDATE users SET password_hash = ? WHERE name = 'alice'", [old])
    authenticate(project, "alice", PASSWORD)
    with project.catalog() as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()[0]
    assert stored != old and not passwords.needs_rehash(stored)
    assert get_user(project, "alice")["failed_logins"] == 0
