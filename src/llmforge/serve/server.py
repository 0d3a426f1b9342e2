"""Run the HTTP API under uvicorn, the way ``llmforge serve`` does: the loopback check on the bind
address, an app that refuses remote clients (both lifted by ``allow_remote``), and a server that
stops starting jobs the moment a stop signal arrives."""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from llmforge.project import Project
from llmforge.serve.app import create_app
from llmforge.serve.loopback import check_bind_host

GRACEFUL_SECONDS = 30   # how long in-flight requests may take to finish after the stop signal


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the app's job runner at the stop signal: uvicorn then waits for
    the in-flight requests, and a queued job must not start meanwhile (it is marked interrupted)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                        timeout_graceful_shutdown=GRACEFUL_SECONDS))
        self.jobs = app.state.jobs

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.jobs.drain()   # now, not after the in-flight requests
        super().handle_exit(sig, frame)


def build_server(project: Project, host: str | None = None, port: int | None = None, *,
                 allow_remote: bool = False) -> DrainingServer:
    """The server :func:`serve` runs, not started yet (host and port default to the settings
    ``serve.host`` and ``serve.port``).

    Raises:
        UsageError: a non-loopback ``host`` without ``allow_remote``.
    """
    host = host or str(project.settings["serve.host"])
    port = port or int(project.settings["serve.port"])
    check_bind_host(host, allow_remote=allow_remote)
    return DrainingServer(create_app(project, allow_remote=allow_remote), host, port)


def serve(project: Project, host: str | None = None, port: int | None = None, *, allow_remote: bool = False,
          announce: Callable[[str], None] | None = None) -> None:
    """Serve ``project`` until SIGINT or SIGTERM; ``announce`` gets the base URL before it starts.

    Raises:
        UsageError: a non-loopback ``host`` without ``allow_remote``.
    """
    server = build_server(project, host, port, allow_remote=allow_remote)
    if announce is not None:
        announce(f"http://{server.config.host}:{server.config.port}")
    server.run()
