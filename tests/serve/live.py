"""A real uvicorn server on a free loopback port, for tests that speak HTTP over a socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llmforge.project import Project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(server: Any) -> Iterator[Any]:
    """Run a uvicorn ``server`` in a thread for the block; stops it after (and checks it did)."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(60)
    assert not thread.is_alive(), "the server did not stop"


@contextmanager
def live_server(project: Project) -> Iterator[str]:
    """Serve ``project`` in a thread; yields the base URL; stops the server (and checks it did)."""
    import uvicorn

    from llmforge.serve.app import create_app

    port = free_port()
    with running(uvicorn.Server(uvicorn.Config(create_app(project), host="127.0.0.1", port=port,
                                               log_level="error"))):
        yield f"http://127.0.0.1:{port}"


_ADMIN_KEYS: dict[str, str] = {}


def admin_key(project: Project) -> str:
    """An admin API key of ``project`` (made once per project and reused), for tests of routes that
    are not about authentication itself."""
    from llmforge.auth.keys import create_key

    root = str(project.root)
    if root not in _ADMIN_KEYS or not (project.root / "catalog.duckdb").exists():
        _ADMIN_KEYS[root] = create_key(project, name="tests", role="admin", owner="local")[0]
    return _ADMIN_KEYS[root]


def auth_headers(project: Project) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key(project)}"}


def admin_client(project: Project, app: Any = None, **options: Any) -> Any:
    """A TestClient of ``project``'s app (or ``app``) that sends an admin key with every request."""
    from fastapi.testclient import TestClient

    from llmforge.serve.app import create_app

    return TestClient(app if app is not None else create_app(project), headers=auth_headers(project), **options)
