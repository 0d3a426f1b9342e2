"""A real uvicorn server on a free loopback port, for tests that speak HTTP over a socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from llmforge.project import Project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(project: Project) -> Iterator[str]:
    """Serve ``project`` in a thread; yields the base URL; stops the server (and checks it did)."""
    import uvicorn

    from llmforge.serve.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(project), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
    assert not thread.is_alive(), "the server did not stop"
