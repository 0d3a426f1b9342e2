"""The loopback policy and the drain at the stop signal belong to the library: an app from
create_app refuses non-loopback clients, the server function refuses a non-loopback bind without
authentication (the whole bind policy: tests/serve/test_tls_serve.py), and the server it builds
drains the job runner when the stop signal arrives (no socket needed)."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from llmforge.errors import BusyError, UsageError  # noqa: E402
from llmforge.serve.app import create_app  # noqa: E402
from llmforge.serve import server as server_module  # noqa: E402
from llmforge.serve.server import build_server, serve  # noqa: E402


def get(app, path: str, client: tuple[str, int]) -> httpx.Response:
    """One request through the real app in-process, as if from ``client``."""
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://llmforge") as http:
            return await http.get(path)

    return asyncio.run(call())


@pytest.mark.parametrize("path", ["/healthz", "/v1/documents"])
def test_an_app_refuses_a_remote_client(project, path: str) -> None:
    response = get(create_app(project), path, ("10.1.2.3", 1234))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "forbidden" and "10.1.2.3" in error["message"]
    assert "loopback clients only" in error["message"]


@pytest.mark.parametrize("client", [("127.0.0.1", 1234), ("::1", 1234)])
def test_an_app_answers_a_loopback_client(project, client: tuple[str, int]) -> None:
    response = get(create_app(project), "/healthz", client)
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_allow_remote_lets_a_remote_client_in(project) -> None:
    assert get(create_app(project, allow_remote=True), "/healthz", ("10.1.2.3", 1234)).status_code == 200


@pytest.mark.parametrize("call", [serve, build_server])
def test_a_remote_bind_is_refused_without_authentication(project, call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "auth_configured", lambda project: False)
    message = ("refusing to serve on 10.0.0.5: no user or API key is configured, so the API stays on loopback; "
               "add a user with `llmforge users add NAME`")
    with pytest.raises(UsageError, match=re.escape(message)):
        call(project, "10.0.0.5", 8000, insecure_http=True)


def test_a_remote_bind_is_allowed_with_authentication(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "auth_configured", lambda project: True)
    server = build_server(project, "10.0.0.5", 8000, insecure_http=True)
    assert (server.config.host, server.config.port) == ("10.0.0.5", 8000)
    assert get(server.config.app, "/healthz", ("10.1.2.3", 1234)).status_code == 200


def test_the_defaults_come_from_the_settings(project) -> None:
    server = build_server(project)
    assert (server.config.host, server.config.port) == ("127.0.0.1", 8000)
    assert get(server.config.app, "/healthz", ("10.1.2.3", 1234)).status_code == 403


def test_the_stop_signal_drains_the_job_runner(project) -> None:
    server = build_server(project)
    jobs = server.config.app.state.jobs
    jobs.submit_upload([("before.txt", b"Queued before the stop signal.")])
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    with pytest.raises(BusyError, match="stopping"):
        jobs.submit_upload([("after.txt", b"Sent after the stop signal.")])
