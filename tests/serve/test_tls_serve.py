"""HTTPS and the bind policy: a real `llmforge serve --tls` answers clients that trust the project's
CA and no others; a non-loopback bind needs authentication and TLS (or --insecure-http, warned)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

from llmforge.errors import ConfigError, UsageError  # noqa: E402
from llmforge.serve import server as server_module  # noqa: E402
from llmforge.serve.server import DrainingServer, build_server  # noqa: E402
from llmforge.tls import init_tls, tls_files  # noqa: E402
from tests.serve.live import free_port, running  # noqa: E402


def _get(url: str, context: ssl.SSLContext | None = None, timeout: float = 5) -> tuple[int, dict]:
    with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def _wait_for_https(url: str, context: ssl.SSLContext, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            _get(url, context, timeout=2)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError("the server did not start")


def test_serve_tls_answers_clients_that_trust_the_project_ca(project) -> None:
    init_tls(project)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "llmforge", "--project", str(project.root), "serve", "--tls",
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trusting = ssl.create_default_context(cafile=str(tls_files(project).ca_cert))
    try:
        _wait_for_https(f"https://127.0.0.1:{port}/healthz", trusting, process)
        for host in ("127.0.0.1", "localhost"):
            status, body = _get(f"https://{host}:{port}/healthz", trusting)
            assert status == 200 and body["status"] == "ok"
        with pytest.raises(urllib.error.URLError) as refused:   # the system's CAs do not know ours
            _get(f"https://127.0.0.1:{port}/healthz", ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        with pytest.raises((urllib.error.URLError, ConnectionError)):   # no plain HTTP on a TLS port
            _get(f"http://127.0.0.1:{port}/healthz")
    finally:
        process.terminate()
        process.wait(60)
    assert f"https://127.0.0.1:{port}" in process.stderr.read().decode()


def test_operator_certificates_and_tls_1_2_at_least(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn.config

    def lenient(*args, **kwargs) -> ssl.SSLContext:   # a platform whose default allows old protocols
        context = original(*args, **kwargs)
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        return context

    original = uvicorn.config.create_ssl_context
    monkeypatch.setattr(uvicorn.config, "create_ssl_context", lenient)
    init_tls(project)
    files = tls_files(project)
    for source, name in ((files.cert, "mine.pem"), (files.key, "mine.key"), (files.ca_cert, "ca.pem")):
        shutil.copy(source, tmp_path / name)
    shutil.rmtree(files.folder)   # the operator's files alone must do
    port = free_port()
    server = build_server(project, "127.0.0.1", port, tls_cert=tmp_path / "mine.pem", tls_key=tmp_path / "mine.key")
    with running(server):
        assert server.config.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
        trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        assert _get(f"https://127.0.0.1:{port}/healthz", trusting)[0] == 200


def test_tls_files_must_exist_and_belong_together(project, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="llmforge tls init"):
        build_server(project, "127.0.0.1", 8000, tls=True)
    with pytest.raises(UsageError, match="--tls-cert and --tls-key go together"):
        build_server(project, "127.0.0.1", 8000, tls_cert=tmp_path / "a.pem")
    init_tls(project)
    other = tmp_path / "other"
    other.mkdir()
    (other / "llmforge.toml").write_text("")
    from llmforge.project import Project

    init_tls(Project(other))
    with pytest.raises(ConfigError, match="cannot serve HTTPS"):
        build_server(project, "127.0.0.1", 8000, tls_cert=tls_files(project).cert,
                     tls_key=tls_files(Project(other)).key)


# --- the bind policy ------------------------------------------------------------------------

@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch):
    """Set whether the project has authentication configured (the identity core's answer)."""
    def configure(value: bool) -> None:
        monkeypatch.setattr(server_module, "auth_configured", lambda project: value)

    return configure


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5"])
def test_a_remote_bind_without_authentication_is_refused(project, auth, host: str) -> None:
    auth(False)
    init_tls(project)
    for options in ({}, {"tls": True}, {"insecure_http": True}):
        with pytest.raises(UsageError, match=r"no user or API key is configured.*llmforge users add.*"
                                             r"--insecure-http does not lift this"):
            build_server(project, host, 8000, **options)


def test_a_remote_bind_without_tls_is_refused(project, auth) -> None:
    auth(True)
    with pytest.raises(UsageError, match=r"over plain HTTP.*llmforge tls init.*--tls.*--insecure-http"):
        build_server(project, "0.0.0.0", 8000)


def test_a_remote_bind_with_authentication_and_tls_is_allowed(project, auth) -> None:
    auth(True)
    init_tls(project)
    server = build_server(project, "0.0.0.0", 8000, tls=True)
    assert server.warnings == () and server.config.ssl_certfile == tls_files(project).cert
    assert server.url == "https://0.0.0.0:8000"


def test_a_loopback_bind_needs_neither(project, monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(project):  # noqa: ANN001, ANN202
        raise AssertionError("a loopback bind must not depend on authentication")

    monkeypatch.setattr(server_module, "auth_configured", unexpected)
    for host in ("127.0.0.1", "localhost", "::1"):
        assert build_server(project, host, 8000).warnings == ()


def test_insecure_http_warns_on_stderr(cli, project, auth, monkeypatch: pytest.MonkeyPatch) -> None:
    auth(True)
    started: list[DrainingServer] = []
    monkeypatch.setattr(DrainingServer, "run", lambda self: started.append(self))
    result = cli("serve", "--host", "0.0.0.0", "--port", "8123", "--insecure-http")
    assert result.exit_code == 0, result.stderr
    assert "warning: serving on 0.0.0.0 over plain HTTP (--insecure-http)" in result.stderr
    assert started and started[0].config.ssl_certfile is None
    assert "http://0.0.0.0:8123" in result.stderr


def test_cli_refusals_are_one_line(cli, project, auth, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DrainingServer, "run", lambda self: pytest.fail("must not start"))
    auth(False)
    refused = cli("serve", "--host", "0.0.0.0")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and "llmforge users add" in refused.stderr
    auth(True)
    plain = cli("serve", "--host", "0.0.0.0")
    assert plain.exit_code == 2 and plain.stderr.count("\n") == 1 and "llmforge tls init" in plain.stderr
    assert "--allow-remote" not in cli("serve", "--help").stdout


def test_the_identity_core_decides(project) -> None:
    """With the real identity core: refused until an enabled user exists, allowed while one does."""
    users = pytest.importorskip("llmforge.auth.users")
    init_tls(project)
    with pytest.raises(UsageError, match="no user or API key"):
        build_server(project, "0.0.0.0", 8000, tls=True)
    users.add_user(project, "ops", "admin", "a long enough passphrase 42")
    assert build_server(project, "0.0.0.0", 8000, tls=True).warnings == ()
    users.set_disabled(project, "ops", True)
    with pytest.raises(UsageError, match="no user or API key"):
        build_server(project, "0.0.0.0", 8000, tls=True)
