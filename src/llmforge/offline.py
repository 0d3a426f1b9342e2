"""Air-gap guard: keep every library off the network.

llmforge never opens a connection except to loopback and its own listeners. Two layers:

* :func:`set_offline_env` tells Hugging Face libraries not to look for a hub (unless the operator
  set the variables already).
* :func:`refuse_outbound_connections` makes any attempt to resolve or connect to a non-loopback
  address fail at once with :class:`NetworkRefused`, so a hidden download fails loudly instead of
  hanging until a timeout. The CLI installs it at start-up; the test suite installs it for the
  whole session.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_originals: dict[str, Any] = {}


class NetworkRefused(ConnectionRefusedError):
    """Raised for any outbound connection attempt while the guard is on."""


def set_offline_env() -> None:
    """Set the Hugging Face offline variables, keeping any value the operator chose."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)


def is_loopback_host(host: object) -> bool:
    """True for names and addresses that stay on this machine (and for unspecified binds)."""
    if host is None or host == "" or host == b"":
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


_peers: set[str] = set()   # IP addresses the operator named as part of the air-gapped network


def allow_peer(address: str) -> None:
    """Let the guard through to ``address``, an IP address the operator named as a peer inside the
    air gap (a Ray cluster's head, ``--cluster``); every other address off loopback stays refused."""
    _peers.add(address)


def _host_allowed(host: object) -> bool:
    return is_loopback_host(host) or host in _peers


def _address_allowed(family: int, address: object) -> bool:
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if isinstance(address, tuple) and address:
        return _host_allowed(address[0])
    return False


def refuse_outbound_connections() -> None:
    """Patch :mod:`socket` so only loopback (and Unix sockets) can be reached. Idempotent."""
    if _originals:
        return
    _originals["connect"] = socket.socket.connect
    _originals["connect_ex"] = socket.socket.connect_ex
    _originals["getaddrinfo"] = socket.getaddrinfo
    _originals["gethostbyname"] = socket.gethostbyname
    _originals["gethostbyname_ex"] = socket.gethostbyname_ex
    _originals["sendto"] = socket.socket.sendto

    def connect(self: socket.socket, address: Any) -> None:
        if not _address_allowed(self.family, address):
            raise NetworkRefused(f"llmforge is offline: connection to {address!r} refused")
        return _originals["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _address_allowed(self.family, address):
            raise NetworkRefused(f"llmforge is offline: connection to {address!r} refused")
        return _originals["connect_ex"](self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _host_allowed(host):
            raise NetworkRefused(f"llmforge is offline: name lookup for {host!r} refused")
        return _originals["getaddrinfo"](host, *args, **kwargs)

    def by_name(original: str) -> Any:
        def lookup(host: Any, *args: Any) -> Any:
            if not _host_allowed(host):
                raise NetworkRefused(f"llmforge is offline: name lookup for {host!r} refused")
            return _originals[original](host, *args)

        return lookup

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        address = args[-1]
        if not _address_allowed(self.family, address):
            raise NetworkRefused(f"llmforge is offline: datagram to {address!r} refused")
        return _originals["sendto"](self, data, *args)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.gethostbyname = by_name("gethostbyname")  # type: ignore[assignment]
    socket.gethostbyname_ex = by_name("gethostbyname_ex")  # type: ignore[assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign]


def allow_outbound_connections() -> None:
    """Undo :func:`refuse_outbound_connections` (for tests of the guard itself)."""
    if not _originals:
        return
    socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]
    socket.getaddrinfo = _originals.pop("getaddrinfo")  # type: ignore[assignment]
    socket.gethostbyname = _originals.pop("gethostbyname")  # type: ignore[assignment]
    socket.gethostbyname_ex = _originals.pop("gethostbyname_ex")  # type: ignore[assignment]
    socket.socket.sendto = _originals.pop("sendto")  # type: ignore[method-assign]

