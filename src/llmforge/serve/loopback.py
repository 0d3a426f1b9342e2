"""The loopback policy: until authentication is configured, the API is for this machine only.

One rule (:func:`llmforge.offline.is_loopback_host`), checked twice: :func:`check_bind_host`
refuses to listen on a non-loopback address, and :class:`LoopbackOnly` answers a request from a
non-loopback client with 403, so an app that :func:`llmforge.serve.app.create_app` builds keeps the
policy under any server or proxy. ``allow_remote`` lifts both.
"""

from __future__ import annotations

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


def check_bind_host(host: str, *, allow_remote: bool = False) -> None:
    """Refuse to listen on ``host`` unless it is loopback or remote access was allowed.

    Raises:
        UsageError: a non-loopback ``host`` without ``allow_remote``.
    """
    if not is_loopback_host(host) and not allow_remote:
        raise UsageError(f"refusing to serve on {host}: authentication is not configured yet, so the API "
                         "stays on loopback; pass --allow-remote to override")


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
    return JSONResponse(error_body("forbidden", f"refusing a request from {host}: authentication is not "
                                   "configured yet, so the API answers loopback clients only; serve with "
                                   "--allow-remote (allow_remote=True) to override"), status_code=403)
