"""The warm path: ``search`` and ``ask`` answered by a running ``llmforge serve``.

A command started from the shell pays for importing the index and loading the model before its
first result; a server has paid for both already. So when the project's server listens on its
local socket (:mod:`llmforge.serve.local`; the owner's processes only, no credential needed),
the command sends its query there; with ``--server URL`` (or ``$LLMFORGE_SERVER``) it asks that
server instead, with the API key in ``$LLMFORGE_API_KEY`` (never an option: a command line is
visible to every user of the machine) and, for HTTPS with a private CA, ``$LLMFORGE_CA_FILE``.
Without a server (none started, a stale socket a stopped one left, or ``--server off``) the
command answers in its own process. The output is the same either way: the server returns what
the library call returns (through the local socket with the server's paths too), and its errors
come back as the same error class with the same message, so the exit code is the same as well.

Only the standard library is used here (``http.client``): an HTTP client library would cost the
command more start-up time than the whole query takes on a warm server.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from llmforge import errors
from llmforge.errors import LlmforgeError, UsageError
from llmforge.serve import local

SERVER_ENV = "LLMFORGE_SERVER"
KEY_ENV = "LLMFORGE_API_KEY"
CA_ENV = "LLMFORGE_CA_FILE"
OFF = "off"
TIMEOUT = 600.0   # seconds without a byte from the server before the command gives up on it

ServerOption = Annotated[str | None, typer.Option(
    "--server", envvar=SERVER_ENV, show_default=False,
    help=f"Answer through this running `llmforge serve` (its URL; the API key from ${KEY_ENV}). Default: the "
         f"project's own server when it runs, else this process; '{OFF}': always this process.")]


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the project's local socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self) -> None:
        self.sock = local.connect(self.path, timeout=self.timeout)


class Server:
    """A running server of the project, as the CLI calls it."""

    def __init__(self, connect: Any, headers: dict[str, str], prefix: str = "") -> None:
        self._connect = connect
        self._headers = {"Content-Type": "application/json", **headers}
        self._prefix = prefix

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer of ``POST path``.

        Raises:
            LlmforgeError: the server's error, as the same class with the same message.
        """
        connection, response = self._request(path, body)
        try:
            return json.loads(response.read())
        finally:
            connection.close()

    def events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The server-sent events of ``POST path``, each as its JSON object; an ``error`` event is
        raised as the error it names."""
        connection, response = self._request(path, body)
        try:
            for line in response:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event.get("type") == "error":
                        raise _error(event["error"], 500)
                    yield event
        finally:
            connection.close()

    def _request(self, path: str, body: dict[str, Any]) -> tuple[http.client.HTTPConnection, Any]:
        connection = self._connect()
        try:
            connection.request("POST", self._prefix + path, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                               self._headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise LlmforgeError(f"the server stopped answering ({exc}); run the command again, with "
                                f"--server {OFF} to answer without it") from None
        if response.status >= 400:
            try:
                detail = json.loads(response.read()).get("error", {})
            except (ValueError, AttributeError):
                detail = {"message": f"HTTP {response.status} {response.reason}"}
            finally:
                connection.close()
            raise _error(detail, response.status)
        return connection, response


def _error(detail: dict[str, Any], status: int) -> LlmforgeError:
    """The library error a server's error body stands for: the class it names (any other name,
    e.g. a body the server could not parse, is a usage error for a 4xx status)."""
    kind = getattr(errors, str(detail.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, LlmforgeError)):
        kind = UsageError if 400 <= status < 500 else LlmforgeError
    return kind(str(detail.get("message", "the server failed")))


def remote(url: str) -> Server:
    """The server at ``url`` (http or https), with the API key of ``$LLMFORGE_API_KEY``.

    Raises:
        UsageError: not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--server {url!r} is not an http:// or https:// URL (or '{OFF}')")
    headers = {"Authorization": f"Bearer {os.environ[KEY_ENV]}"} if os.environ.get(KEY_ENV) else {}
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get(CA_ENV) or None)
        return Server(lambda: http.client.HTTPSConnection(parts.hostname, parts.port, timeout=TIMEOUT,
                                                          context=context), headers, parts.path.rstrip("/"))
    return Server(lambda: http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT), headers,
                  parts.path.rstrip("/"))


def project_server(root: Path) -> Server | None:
    """The server of the project at ``root`` when one listens on its local socket, else None."""
    path = local.socket_path(root)
    try:
        local.connect(path, timeout=1.0).close()
    except OSError:   # none, or the stale socket of a stopped one (refused): answer here
        return None
    return Server(lambda: _UnixConnection(path), {})


def chosen(server: str | None, root: Path | None) -> Server | None:
    """The server a command goes through: ``--server`` (a URL, or ``off`` for none), else the
    project's own when it runs (``root``: the project, None when none was found)."""
    if server and server != OFF:
        return remote(server)
    if server == OFF or root is None:
        return None
    return project_server(root)


def without_nones(body: dict[str, Any]) -> dict[str, Any]:
    """A request body without the options left to the server's defaults."""
    return {key: value for key, value in body.items() if value is not None}

