from __future__ import annotations

import io
import json
import sys

import pytest

from llmforge.auth.roles import PERMISSIONS, permissions_of
from llmforge.auth.users import authenticate
from tests.auth.conftest import PASSWORD, audit_rows


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_users_add_with_password_stdin(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    result = cli("users", "add", "alice", "--role", "operator", "--password-stdin", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["role"] == "operator"
    assert authenticate(project, "alice", PASSWORD)["name"] == "alice"
    assert PASSWORD not in result.stdout + result.stderr
    rows = audit_rows(project)
    assert [r[:3] for r in rows] == [("local", "users.add", "alice")]
    assert PASSWORD not in str(rows) and "argon2" not in str(rows)


def test_users_add_refuses_with_one_line(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, "short\n")
    result = cli("users", "add", "alice", "--role", "analyst", "--password-stdin")
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "at least 12" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    stdin(monkeypatch, "")
    assert "standard input is empty" in cli("users", "add", "alice", "--role", "analyst", "--password-stdin").stderr
    assert cli("users", "add", "alice", "--role", "root", "--password-stdin").exit_code == 2
    assert audit_rows(project) == []


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")  # no terminal under pytest
def test_users_add_prompts_twice(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, f"{PASSWORD}\n{PASSWORD}\n")
    assert cli("users", "add", "alice", "--role", "analyst").exit_code == 0
    assert authenticate(project, "alice", PASSWORD)


def test_users_lifecycle(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert cli("users", "add", "alice", "--role", "analyst", "--password-stdin").exit_code == 0
    assert "alice  analyst  enabled" in cli("users", "list").stdout
    assert json.loads(cli("users", "disable", "alice", "--json").stdout)["disabled"] is True
    assert "disabled" in cli("users", "list").stdout
    assert json.loads(cli("users", "enable", "alice", "--json").stdout)["disabled"] is False
    assert json.loads(cli("users", "set-role", "alice", "admin", "--json").stdout)["role"] == "admin"
    stdin(monkeypatch, "a different passphrase\n")
    assert cli("users", "passwd", "alice", "--password-stdin").exit_code == 0
    assert authenticate(project, "alice", "a different passphrase")
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("alice", "admin")] and "password_hash" not in listed[0]
    missing = cli("users", "disable", "bob")
    assert missing.exit_code == 1 and "no user 'bob'" in missing.stderr
    assert [r[1] for r in audit_rows(project)] == ["users.add", "users.disable", "users.enable", "users.set_role",
                                                   "users.passwd"]
    assert "a different passphrase" not in str(audit_rows(project))


def test_users_roles_shows_the_table(cli) -> None:
    data = json.loads(cli("users", "roles", "--json").stdout)
    assert [r["name"] for r in data["roles"]] == ["analyst", "operator", "admin"]
    assert {r["name"]: set(r["permissions"]) for r in data["roles"]}["operator"] == permissions_of("operator")
    assert [p["name"] for p in data["permissions"]] == list(PERMISSIONS)
    human = cli("users", "roles")
    assert human.exit_code == 0 and "usage:read:all" in human.stdout and "analyst" in human.stdout
