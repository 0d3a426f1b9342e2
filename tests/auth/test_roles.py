from __future__ import annotations

import pytest

from llmforge.auth.roles import (PERMISSION_TABLE, PERMISSIONS, ROLE_NAMES, ROLES, check_permissions, check_role,
                                 describe, permissions_of)
from llmforge.errors import UsageError


def test_every_permission_is_described_once() -> None:
    assert len(PERMISSIONS) == len(set(PERMISSIONS)) == len(PERMISSION_TABLE)
    assert all(p.description.strip() and "\n" not in p.description for p in PERMISSION_TABLE)
    assert describe("usage:read:all") == "Read every caller's usage."


def test_roles_nest_and_admin_holds_everything() -> None:
    analyst, operator, admin = (permissions_of(name) for name in ("analyst", "operator", "admin"))
    assert analyst < operator < admin == frozenset(PERMISSIONS)
    assert {"search", "ask", "chat", "embed", "usage:read"} <= analyst
    assert not analyst & {"documents:write", "metrics:read", "usage:read:all", "users:read", "keys:write"}
    assert {"datasets:read", "datasets:write", "training:read", "training:write", "models:write"} <= operator
    assert not operator & {"users:read", "users:write", "keys:read", "keys:write", "audit:read", "usage:read:all"}
    assert ROLE_NAMES == tuple(role.name for role in ROLES)


def test_unknown_role_and_permission_name_the_choices() -> None:
    with pytest.raises(UsageError, match="roles: analyst, operator, admin"):
        check_role("root")
    with pytest.raises(UsageError, match="'fly'"):
        check_permissions(["search", "fly"])
    assert check_permissions(["search"]) == frozenset({"search"})
