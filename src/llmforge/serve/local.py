"""The server's local socket: the warm path of ``llmforge search`` and ``ask`` on this machine.

``llmforge serve`` listens, beside its TCP address, on the Unix socket ``secrets/serve.sock`` of
the project (the folder is mode 0700, the socket 0600), and the CLI sends its queries there when it
answers, instead of loading the index and the model itself. No credential crosses it, so there is
none to leak or guess; who may connect is decided twice:

- the file system: only the project's owner can reach a socket in ``secrets/``;
- the kernel: each connection's peer process is read with ``SO_PEERCRED`` and served only when it
  runs as the server's own user, so loosened folder permissions, or a socket descriptor passed on,
  still admit no other local user. Other connections are closed before a byte is read.

The peer proven so is the shell operator, who owns the project and its files anyway: its requests
act as ``local`` with the admin role (:data:`LOCAL_OPERATOR`), exactly as the same command run at
the shell would, and see what the shell sees (server paths included). Everything else about a
request (permissions per route, rate limits, usage, audit) goes through the app as usual.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOCKET_NAME = "serve.sock"
_SUN_PATH_MAX = 100   # sockaddr_un holds 108 bytes; longer paths go through /proc/self/fd


def socket_path(root: Path) -> Path:
    """Where the server of the project at ``root`` listens for this machine's shell."""
    return root / "secrets" / SOCKET_NAME


@contextmanager
def _addressable(path: Path) -> Iterator[str]:
    """``path`` as an address ``bind`` and ``connect`` accept: itself, or, when it is longer than a
    Unix socket address may be (a deep project folder), the same file reached through an open
    descriptor of its folder."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def connect(path: Path, timeout: float | None = None) -> socket.socket:
    """A connection to the server listening at ``path``.

    Raises:
        OSError: nothing listens there (no file, or a stale one a stopped server left).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _addressable(path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def listen(path: Path) -> socket.socket | None:
    """A listening socket at ``path`` (mode 0600), or None when another server of the project
    listens there already (its socket is left alone) or the folder cannot hold one (a read-only
    project): the CLI then answers in its own process, as without a server. A stale socket file
    that a stopped server left is replaced."""
    if path.exists() or path.is_symlink():
        try:
            connect(path, timeout=1.0).close()
        except OSError:
            path.unlink(missing_ok=True)   # nobody answers: a stopped server's
        else:
            log.warning("another server of this project listens on %s; this one serves TCP only", path)
            return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _addressable(path) as address:
            sock.bind(address)
        path.chmod(0o600)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        log.info("no local socket at %s (%s): the CLI will answer in its own process", path, exc)
        return None
    sock.setblocking(False)
    return sock


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket, as the kernel recorded it."""
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def is_owner(sock: socket.socket | None) -> bool:
    """Whether the peer of ``sock`` runs as this process's user."""
    try:
        return sock is not None and peer_uid(sock) == os.getuid()
    except OSError:
        return False


def owner_only(protocol_class: type) -> type:
    """``protocol_class`` (uvicorn's HTTP protocol) closing every connection whose peer is not this
    process's user before it reads a byte, and answering the others' requests as
    :data:`LOCAL_OPERATOR`."""

    class OwnerOnly(protocol_class):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.app = LocalOperator(self.app)
            if not is_owner(transport.get_extra_info("socket")):
                log.warning("refused a local connection from another user")
                transport.close()

    return OwnerOnly


class LocalOperator:
    """ASGI middleware for the owner's socket: every request is the local operator's, already
    authenticated (the app's authentication then takes it as it stands)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["caller"] = local_operator()
        await self.app(scope, receive, send)


def local_operator() -> Any:
    """The caller of the owner's socket: ``local``, with the admin role's permissions."""
    from llmforge.auth.identity import Caller
    from llmforge.auth.roles import permissions_of

    return Caller("local", None, "admin", permissions_of("admin"), None, "socket")  # type: ignore[arg-type]


def is_local_operator(caller: Any) -> bool:
    """Whether ``caller`` came through the owner's socket (it may see server paths, as the shell does)."""
    return getattr(caller, "via", None) == "socket"
