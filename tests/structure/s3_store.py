"""A stand-in S3 store for tests and benches: ``moto_server`` (moto's S3 emulation, a test double,
not a production store) on a free loopback port, stopped by its own process id afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
KEYS = {"AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-key"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Run ``moto_server`` on loopback; yields its endpoint URL."""
    port = free_port()
    server = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def create_bucket(endpoint: str, name: str) -> str:
    """A new bucket (moto accepts an unsigned request); returns its name."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{name}", method="PUT"), timeout=10).close()
    return name


def storage_options(endpoint: str) -> dict[str, str]:
    """LanceDB storage options for the stand-in, keys included."""
    return {"aws_endpoint": endpoint, "aws_region": "us-east-1", "allow_http": "true",
            "aws_access_key_id": KEYS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": KEYS["AWS_SECRET_ACCESS_KEY"]}
