"""Run the HTTP API under uvicorn, the way ``llmforge serve`` does: the bind policy
(:func:`llmforge.serve.loopback.check_bind`), HTTPS with TLS 1.2 at least, an app that answers
remote clients only when the policy allowed a remote bind, a server that stops starting jobs
the moment a stop signal arrives, and the project owner's local socket beside the TCP address
(:mod:`llmforge.serve.local`), the warm path of the CLI's ``search`` and ``ask``."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from llmforge.errors import ConfigError, UsageError
from llmforge.project import Project
from llmforge.serve import local
from llmforge.serve.app import create_app
from llmforge.serve.loopback import check_bind, is_loopback_bind
from llmforge.tls import server_files

GRACEFUL_SECONDS = 30   # how long in-flight requests may take to finish after the stop signal
log = logging.getLogger(__name__)


class _Config(uvicorn.Config):
    """uvicorn's config, with TLS 1.2 as the oldest protocol a client may speak."""

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the app's job runner at the stop signal: uvicorn then waits for
    the in-flight requests, and a queued job must not start meanwhile (it is marked interrupted).

    ``warnings`` holds what the operator must hear before it starts (e.g. plain HTTP on a network).
    ``local_socket``: where to listen for the project owner's own processes too (plain HTTP, no
    TLS: nothing leaves the machine), or None."""

    def __init__(self, app: FastAPI, host: str, port: int, tls: tuple[Path, Path] | None = None,
                 warnings: tuple[str, ...] = (), local_socket: Path | None = None) -> None:
        cert, key = tls or (None, None)
        super().__init__(_Config(app, host=host, port=port, log_level="warning", ssl_certfile=cert,
                                 ssl_keyfile=key, timeout_graceful_shutdown=GRACEFUL_SECONDS))
        self.jobs = app.state.jobs
        self.warnings = warnings
        self.local_socket = local_socket
        self._listening_locally = False
        app.state.url = self.url   # the app's lifespan audits start and stop with it

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{'https' if self.config.is_ssl else 'http'}://{host}:{self.config.port}"

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, then the local socket, served by the same app, connections and
        shutdown, through a protocol that admits only the owner's processes."""
        # listening before the start: a client that sees the server started finds the socket there
        listener = local.listen(self.local_socket) if self.local_socket is not None else None
        try:
            await super().startup(sockets)
        except BaseException:   # uvicorn exits when the port is taken: leave no socket behind
            if listener is not None and self.local_socket is not None:
                listener.close()
                self.local_socket.unlink(missing_ok=True)
            raise
        if listener is None:
            return
        protocol = local.owner_only(self.config.http_protocol_class)
        loop = asyncio.get_running_loop()
        self.servers.append(await loop.create_unix_server(
            lambda: protocol(config=self.config, server_state=self.server_state, app_state=self.lifespan.state,
                             _loop=loop), sock=listener))
        self._listening_locally = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._listening_locally and self.local_socket is not None:
            self.local_socket.unlink(missing_ok=True)   # new commands answer themselves from now on
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.jobs.drain()   # now, not after the in-flight requests
        super().handle_exit(sig, frame)


def auth_configured(project: Project) -> bool:
    """Whether the project has a user or an API key to authenticate callers with."""
    from llmforge.auth.identity import auth_configured as configured

    return configured(project)


def tls_material(project: Project, tls: bool = False, tls_cert: Path | None = None,
                 tls_key: Path | None = None) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, checked to load together, or None for HTTP:
    the operator's ``tls_cert`` and ``tls_key`` when given, else the project's (``tls``).

    Raises:
        UsageError: only one of ``tls_cert`` and ``tls_key``.
        ConfigError: the files are missing, unreadable, or the key does not match the certificate.
    """
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both")
    if tls_cert is not None and tls_key is not None:
        files = (Path(tls_cert), Path(tls_key))
    elif tls:
        files = server_files(project)
    else:
        return None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(*files)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(f"cannot serve HTTPS with {files[0]} and {files[1]}: {reason}") from None
    return files


def build_server(project: Project, host: str | None = None, port: int | None = None, *, tls: bool = False,
                 tls_cert: Path | None = None, tls_key: Path | None = None,
                 insecure_http: bool = False, audit_file: Path | None = None) -> DrainingServer:
    """The server :func:`serve` runs, not started yet (host and port default to the settings
    ``serve.host`` and ``serve.port``).

    Args:
        tls: serve HTTPS with the project's certificate (``llmforge tls init``).
        tls_cert, tls_key: serve HTTPS with these PEM files instead (both or neither).
        insecure_http: allow plain HTTP on a non-loopback address (with a warning).
        audit_file: where a read-only project's server (a replica) appends its audit records.

    Raises:
        UsageError: the bind policy refuses ``host`` (see :func:`llmforge.serve.loopback.check_bind`), or
            a read-only project without ``audit_file`` (see :func:`llmforge.serve.app.create_app`).
        ConfigError: the TLS files are missing or do not load.
    """
    if project.read_only:   # a replica keeps the snapshot it started on, though a link moves to a newer one
        project = Project(project.root.resolve())
    host = host or str(project.settings["serve.host"])
    port = port or int(project.settings["serve.port"])
    remote = not is_loopback_bind(host)
    files = tls_material(project, tls, tls_cert, tls_key)
    configured = remote and auth_configured(project)   # a loopback bind needs no look at the catalog
    warning = check_bind(host, auth_configured=configured, tls=files is not None, insecure_http=insecure_http)
    return DrainingServer(create_app(project, allow_remote=remote, audit_file=audit_file), host, port, files,
                          (warning,) if warning else (),
                          None if project.read_only else local.socket_path(project.root))


def serve(project: Project, host: str | None = None, port: int | None = None, *, tls: bool = False,
          tls_cert: Path | None = None, tls_key: Path | None = None, insecure_http: bool = False,
          audit_file: Path | None = None, announce: Callable[[str], None] | None = None,
          warn: Callable[[str], None] | None = None) -> None:
    """Serve ``project`` until SIGINT or SIGTERM; ``warn`` gets each warning (default: the log),
    then ``announce`` the base URL, before it starts. Arguments as for :func:`build_server`.

    Raises:
        UsageError: the bind policy refuses ``host``, or a read-only project has no ``audit_file``.
        ConfigError: the TLS files are missing or do not load.
    """
    server = build_server(project, host, port, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
                          insecure_http=insecure_http, audit_file=audit_file)
    for warning in server.warnings:
        (warn or log.warning)(warning)
    if announce is not None:
        announce(server.url)
    server.run()
