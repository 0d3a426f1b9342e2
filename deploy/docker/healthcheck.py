"""Container health check: GET /healthz of the llmforge server in this container; exit 0 when it
answers 200, else 1 (Docker's HEALTHCHECK and a Kubernetes exec probe read the exit status).

HTTPS, trusting the project's own CA (``secrets/tls/ca.pem``, made by ``llmforge tls init``, whose
server certificate names 127.0.0.1), unless LLMFORGE_HEALTHCHECK_SCHEME=http (a server started
with --insecure-http) or LLMFORGE_HEALTHCHECK_CA names another CA file (--tls-cert).
Environment: LLMFORGE_PROJECT (default /data/project), LLMFORGE_SERVE_PORT (default 8000).
Standard library only: it runs with the image's Python and nothing else.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main() -> int:
    project = os.environ.get("LLMFORGE_PROJECT", "/data/project")
    port = os.environ.get("LLMFORGE_SERVE_PORT", "8000")
    scheme = os.environ.get("LLMFORGE_HEALTHCHECK_SCHEME", "https")
    ca = os.environ.get("LLMFORGE_HEALTHCHECK_CA") or os.path.join(project, "secrets", "tls", "ca.pem")
    try:
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]   # never a proxy
        if scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(f"{scheme}://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return 0 if reply.status == 200 else 1
    except (OSError, ValueError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
