from __future__ import annotations

import json

import pytest

from llmforge.auth.keys import verify_key
from llmforge.auth.tokens import ensure_signing_key
from llmforge.auth.users import add_user
from llmforge.errors import AuthError
from tests.auth.conftest import PASSWORD, audit_rows


def test_keys_create_prints_the_key_once_and_list_never_shows_it(cli, project) -> None:
    result = cli("keys", "create", "--name", "ci bot", "--role", "analyst", "--expires", "30", "--agent", "default",
                 "--permission", "search", "--permission", "ask", "--json")
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    secret = created["key"]
    assert secret.startswith(f"lf_{created['prefix']}_") and created["permissions"] == ["ask", "search"]
    assert created["agents"] == ["default"] and created["expires"] and created["owner"] == "local"
    assert verify_key(project, secret)["id"] == created["id"]
    for listing in (cli("keys", "list").stdout, cli("keys", "list", "--json").stdout):
        assert created["prefix"] in listing and secret not in listing and secret[12:] not in listing
    human = cli("keys", "create", "--name", "other", "--role", "operator")
    assert human.stdout.strip().startswith("lf_") and "cannot be shown again" in human.stderr
    assert secret not in str(audit_rows(project)) and human.stdout.strip() not in str(audit_rows(project))
    assert [r[1] for r in audit_rows(project)] == ["keys.create", "keys.create"]


def test_keys_create_refusals_are_one_line(cli, project) -> None:
    add_user(project, "alice", "analyst", PASSWORD)
    wide = cli("keys", "create", "--name", "x", "--role", "operator", "--owner", "alice")
    assert wide.exit_code == 2 and "more than their role (analyst)" in wide.stderr
    unknown = cli("keys", "create", "--name", "x", "--role", "analyst", "--permission", "fly")
    assert unknown.exit_code == 2 and "unknown permission 'fly'" in unknown.stderr
    for result in (wide, unknown):
        assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0


def test_keys_revoke_and_rotate(cli, project) -> None:
    first = json.loads(cli("keys", "create", "--name", "ci", "--role", "analyst", "--json").stdout)
    rotated = cli("keys", "rotate", first["prefix"], "--json")
    assert rotated.exit_code == 0, rotated.stderr
    second = json.loads(rotated.stdout)
    assert second["key"] != first["key"] and second["rotated_from"] == first["id"]
    with pytest.raises(AuthError, match="revoked"):
        verify_key(project, first["key"])
    revoked = cli("keys", "revoke", second["prefix"])
    assert revoked.exit_code == 0 and f"revoked API key {second['prefix']}" in revoked.stdout
    with pytest.raises(AuthError, match="revoked"):
        verify_key(project, second["key"])
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert all(k["revoked"] for k in listed) and len(listed) == 2
    assert cli("keys", "revoke", "nosuch").exit_code == 1
    assert [(r[1], r[2]) for r in audit_rows(project)] == [
        ("keys.create", first["prefix"]), ("keys.rotate", second["prefix"]), ("keys.revoke", second["prefix"])]


def test_keys_rotate_signing(cli, project) -> None:
    old = ensure_signing_key(project)
    result = cli("keys", "rotate-signing", "--json")
    assert result.exit_code == 0, result.stderr
    new = json.loads(result.stdout)["kid"]
    assert new != old and ensure_signing_key(project) == new
    assert [(r[1], r[2]) for r in audit_rows(project)] == [("keys.rotate_signing", new)]
