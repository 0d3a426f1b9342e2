"""Who may reach the API: the bind policy, and the loopback-only guard of an app.

Binding beyond loopback (:func:`check_bind`) needs authentication configured (a user or an API
key) and TLS, or, instead of TLS, an explicit ``insecure_http`` that earns a warning: passwords,
keys and documents would cross the network in clear. The unspecified addresses ``0.0.0.0`` and
``::`` listen on every interface, so they count as remote. A loopback bind is always allowed.

:class:`LoopbackOnly` answers a request from a non-loopback client with 403, so an app that
:func:`llmforge.serve.app.create_app` builds without ``allow_remote`` stays on this machine under
any server or proxy; the server lifts it only for a bind the policy allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from llmforge.errors import UsageError
from llmforge.offline import is_loopback_host
from llmforge.serve.errors import error_body

# Starlette's TestClient calls the app inside this process and names its client "testclient": it
# has no network peer at all, like a request without a client address (over a Unix socket).
IN_PROCESS_CLIENT = "testclient"


USERS_FIX = "add a user with `llmforge users add NAME` (or create an API key)"
TLS_FIX = "create a certificate with `llmforge tls init` and serve with --tls (or --tls-cert/--tls-key)"


def is_loopback_bind(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only: a loopback name or address, but
    not ``0.0.0.0``, ``::`` or ``""``, which listen on every interface."""
    name = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return bool(name) and is_loopback_host(name)


def check_bind(host: str, *, auth_configured: bool, tls: bool, insecure_http: bool = False) -> str:
    """Refuse a bind the policy forbids; return the warning to show for one it allows ("" if none).

    Raises:
        UsageError: a non-loopback ``host`` without authentication configured, or without TLS
            and without ``insecure_http``.
    """
    if is_loopback_bind(host):
        return ""
    if not auth_configured:
        raise UsageError(f"refusing to serve on {host}: no user or API key is configured, so the API stays on "
                         f"loopback; {USERS_FIX} (--insecure-http does not lift this)")
    if not tls and not insecure_http:
        raise UsageError(f"refusing to serve on {host} over plain HTTP: passwords, keys and documents would "
                         f"cross the network in clear; {TLS_FIX}, or pass --insecure-http to accept that")
    if not tls:
        return (f"serving on {host} over plain HTTP (--insecure-http): passwords, API keys and documents "
                "cross the network unencrypted; use --tls")
    return ""


def is_local_client(client: Sequence[object] | None) -> bool:
    """Whether an ASGI ``client`` (host, port) is this machine: loopback, or no network peer."""
    host = client[0] if client else None
    return host == IN_PROCESS_CLIENT or is_loopback_host(host)


class LoopbackOnly:
    """ASGI middleware: a request from a non-loopback client gets 403 and never reaches a route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_local_client(scope.get("client")):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose(code=1008)(scope, receive, send)
        else:
            await refusal(scope.get("client"))(scope, receive, send)


def refusal(client: Sequence[object] | None) -> JSONResponse:
    """The 403 a non-loopback client gets, saying why and how to lift it."""
    host = client[0] if client else "an unknown address"
    return JSONResponse(error_body("forbidden", f"refusing a request from {host}: this server answers loopback "
                                   "clients only; to serve the network, configure authentication and bind a "
                                   "non-loopback --host with --tls"), status_code=403)
