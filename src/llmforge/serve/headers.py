"""Security headers on every response, the web page's and the API's alike.

The page loads nothing but its own files: a Content-Security-Policy without inline script or style
and without any outside origin, so text that slips into the page as markup still cannot run; no
framing (clickjacking), no referrer, no content sniffing. ``/docs`` (Swagger UI) starts from one
inline script, allowed there by its hash only (:func:`inline_script_policy`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from starlette.datastructures import MutableHeaders

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_policy(html: str) -> str:
    """:data:`POLICY`, with the inline scripts of ``html`` (a fixed page) allowed by their hashes."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                      for script in _INLINE_SCRIPT.findall(html))
    return POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}".rstrip(), 1)


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` and a CSP (:data:`POLICY`, or ``policies[path]``) to
    each HTTP response, unless the route set that header itself; streamed responses pass untouched."""

    def __init__(self, app: Any, policies: dict[str, str] | None = None) -> None:
        self.app = app
        self.policies = policies or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope.get("path", ""), POLICY)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (*HEADERS.items(), ("Content-Security-Policy", policy)):
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
