"""Every route × every role × every kind of bad credential, against one table of permissions.

A new route must be added to ROUTES with the permission it declares, or these tests fail; a route
whose dependency names another permission than the table fails too. A caller without the
permission gets exactly 403; bad credentials get exactly 401 on every route that is not public;
a caller with the permission is never refused for it (whatever its empty request then earns).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from llmforge.auth import common, keys, tokens, users
from llmforge.auth.roles import ROLES, permissions_of
from llmforge.project import Project
from llmforge.serve.app import create_app
from llmforge.serve.auth import AUTHENTICATED
from llmforge.serve.openapi import route_permissions
from llmforge.settings import write_setting

PUBLIC = "public"
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("POST", "/v1/auth/logout"): PUBLIC,
    ("GET", "/v1/auth/me"): AUTHENTICATED,
    ("GET", "/metrics"): "metrics:read",
    ("GET", "/v1/usage"): "usage:read",
    ("POST", "/v1/search"): "search",
    ("POST", "/v1/ask"): "ask",
    ("GET", "/v1/documents"): "documents:read",
    ("POST", "/v1/documents"): "documents:write",
    ("GET", "/v1/documents/{document_id}"): "documents:read",
    ("DELETE", "/v1/documents/{document_id}"): "documents:write",
    ("GET", "/v1/documents/{document_id}/pages/{page_no}"): "documents:read",
    ("GET", "/v1/documents/{document_id}/original"): "documents:read",
    ("POST", "/v1/structure"): "structure:write",
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/completions"): "chat",
    ("POST", "/v1/embeddings"): "embed",
    ("GET", "/v1/models"): "models:read",
    ("GET", "/v1/agents"): "agents:read",
    ("POST", "/v1/agents"): "agents:write",
    ("GET", "/v1/agents/{name}"): "agents:read",
    ("PATCH", "/v1/agents/{name}"): "agents:write",
    ("DELETE", "/v1/agents/{name}"): "agents:write",
    ("GET", "/v1/model-versions"): "models:read",
    ("GET", "/v1/model-versions/{ref}"): "models:read",
    ("POST", "/v1/model-versions/{ref}/promote"): "models:write",
    ("POST", "/v1/model-versions/{ref}/export"): "models:write",
    ("GET", "/v1/datasets"): "datasets:read",
    ("POST", "/v1/datasets"): "datasets:write",
    ("POST", "/v1/training/jobs"): "training:write",
    ("GET", "/v1/training/jobs"): "training:read",
    ("GET", "/v1/training/jobs/{job_id}"): "training:read",
    ("GET", "/v1/training/jobs/{job_id}/logs"): "training:read",
    ("POST", "/v1/training/jobs/{job_id}/cancel"): "training:write",
    ("POST", "/v1/training/jobs/{job_id}/resume"): "training:write",
    ("GET", "/v1/jobs"): "jobs:read",
    ("GET", "/v1/jobs/{job_id}"): "jobs:read",
    ("POST", "/v1/jobs/{job_id}/resume"): "documents:write",
    ("GET", "/v1/roles"): "users:read",
    ("GET", "/v1/users"): "users:read",
    ("POST", "/v1/users"): "users:write",
    ("PATCH", "/v1/users/{name}"): "users:write",
    ("POST", "/v1/users/{name}/password"): "users:write",
    ("GET", "/v1/keys"): "keys:read",
    ("POST", "/v1/keys"): "keys:write",
    ("POST", "/v1/keys/{key_id}/revoke"): "keys:write",
    ("POST", "/v1/keys/{key_id}/rotate"): "keys:write",
    ("GET", "/v1/audit"): "audit:read",
    ("GET", "/v1/audit/verify"): "audit:read",
}
PASSWORD = "correct horse battery staple"
BAD_CREDENTIALS = ("none", "malformed", "bad signature", "expired token", "revoked key", "disabled user key",
                   "disabled user token", "wrong audience", "unknown key")


def concrete(path: str) -> str:
    return path.replace("{", "").replace("}", "-x")   # /v1/agents/{name} -> /v1/agents/name-x


def call(client: TestClient, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {}} if method in ("POST", "PATCH") else {}
    return client.request(method, concrete(path), headers=headers, **body)


def signed(project: Project, claims_change: dict[str, Any], key: Ed25519PrivateKey | None = None) -> str:
    """An access token of ``project`` with some claims changed, signed with its key (or ``key``)."""
    from cryptography.hazmat.primitives import serialization

    folder = project.path("secrets") / "jwt"
    kid = json.loads((folder / "keys.json").read_text())["current"]
    own = serialization.load_pem_private_key((folder / f"{kid}.pem").read_bytes(), password=None)
    now = common.utcnow()
    claims = {"sub": "analyst", "role": "analyst", "iat": now, "nbf": now, "exp": now + timedelta(minutes=5),
              "iss": tokens.issuer(project), "aud": tokens.AUDIENCE, "jti": "x", **claims_change}
    return jwt.encode(claims, key or own, algorithm="EdDSA", headers={"kid": kid})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from llmforge.project import init_project

    project = init_project(tmp_path_factory.mktemp("matrix") / "project")
    for name, value in (("ratelimit.ip_per_minute", "0"), ("ratelimit.user_per_minute", "0"),
                        ("ratelimit.key_per_minute", "0")):
        write_setting(project.root / "llmforge.toml", name, value)
    project = Project(project.root)
    credentials: dict[str, str] = {}
    for role in ROLES:
        users.add_user(project, role.name, role.name, PASSWORD)
        credentials[f"{role.name} key"] = keys.create_key(project, name=role.name, role=role.name, owner=role.name)[0]
        credentials[f"{role.name} token"] = tokens.issue_tokens(project, role.name)["access_token"]
    users.add_user(project, "leaver", "analyst", PASSWORD)
    leaver_key = keys.create_key(project, name="leaver", role="analyst", owner="leaver")[0]
    leaver_token = tokens.issue_tokens(project, "leaver")["access_token"]
    users.set_disabled(project, "leaver", True)
    revoked, record = keys.create_key(project, name="old", role="admin", owner="admin")
    keys.revoke_key(project, record["id"])
    bad = {
        "none": None,
        "malformed": "not-a-token",
        "bad signature": signed(project, {"sub": "admin", "role": "admin"}, Ed25519PrivateKey.generate()),
        "expired token": signed(project, {"sub": "admin", "role": "admin",
                                          "exp": common.utcnow() - timedelta(minutes=1)}),
        "revoked key": revoked,
        "disabled user key": leaver_key,
        "disabled user token": leaver_token,
        "wrong audience": signed(project, {"sub": "admin", "role": "admin", "aud": "someone-else"}),
        "unknown key": "lf_00000000_" + "A" * 43,
    }
    with TestClient(create_app(project)) as client:
        yield project, client, credentials, bad


def app_routes(app: Any) -> dict[tuple[str, str], str]:
    """(method, path) -> the permission its dependency declares (PUBLIC when none)."""
    declared = route_permissions(app)
    return {(method.upper(), path): declared.get((method.upper(), path), PUBLIC)
            for path, methods in app.openapi()["paths"].items() for method in methods}


def test_every_route_is_in_the_table_with_the_permission_it_declares(served: Any) -> None:
    _project, client, _credentials, _bad = served
    declared = app_routes(client.app)
    assert set(declared) == set(ROUTES), ("routes missing from the table (add them with their permission): "
                                          f"{sorted(set(declared) - set(ROUTES))}; gone: {sorted(set(ROUTES) - set(declared))}")
    assert {route: declared[route] for route in ROUTES} == ROUTES


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_each_role_is_let_in_exactly_where_its_permissions_say(served: Any, method: str, path: str) -> None:
    _project, client, credentials, _bad = served
    needed = ROUTES[(method, path)]
    for role in ROLES:
        for via in ("key", "token"):
            response = call(client, method, path, credentials[f"{role.name} {via}"])
            allowed = needed in (PUBLIC, AUTHENTICATED) or needed in permissions_of(role.name)
            if allowed:
                assert response.status_code not in (401, 403), (role.name, via, response.text)
                assert response.status_code < 500, (role.name, via, response.text)
            else:
                assert response.status_code == 403, (role.name, via, response.status_code, response.text)
                assert response.json()["error"]["type"] == "PermissionDenied"


@pytest.mark.parametrize(("method", "path"), sorted(r for r, p in ROUTES.items() if p != PUBLIC))
def test_bad_credentials_get_401_everywhere(served: Any, method: str, path: str) -> None:
    _project, client, _credentials, bad = served
    for kind in BAD_CREDENTIALS:
        response = call(client, method, path, bad[kind])
        assert response.status_code == 401, (kind, response.status_code, response.text)
        assert response.json()["error"]["type"] == "AuthError"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_table_test_catches_an_undeclared_route(served: Any) -> None:
    """The check itself can fail: an extra route without require() shows up as missing from the table."""
    from fastapi import FastAPI

    project, client, _credentials, _bad = served
    app = create_app(project)

    @app.get("/v1/sneaky")
    def sneaky() -> dict[str, str]:
        return {}

    declared = app_routes(app)
    assert declared[("GET", "/v1/sneaky")] == PUBLIC and ("GET", "/v1/sneaky") not in ROUTES
    assert isinstance(app, FastAPI)


def test_healthz_is_the_only_anonymous_route_besides_signing_in(served: Any) -> None:
    _project, client, _credentials, _bad = served
    anonymous = {route for route in ROUTES if call(client, *route, None).status_code != 401}
    assert anonymous == {route for route, permission in ROUTES.items() if permission == PUBLIC}


def test_metrics_can_be_opened_to_anonymous_scrapers(project: Project) -> None:
    write_setting(project.root / "llmforge.toml", "serve.metrics_anonymous", "true")
    with TestClient(create_app(Project(project.root))) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/usage").status_code == 401



def test_the_openapi_document_says_who_may_call_each_route(served: Any) -> None:
    _project, client, _credentials, _bad = served
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for (method, path), permission in ROUTES.items():
        operation = schema["paths"][path][method.lower()]
        error = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}, (method, path)
        if permission == PUBLIC:
            assert "security" not in operation and "401" not in operation["responses"], (method, path)
        else:
            assert operation["security"] == [{"bearer": []}] and "401" in operation["responses"], (method, path)
            assert operation.get("x-permission", AUTHENTICATED) == permission, (method, path)
