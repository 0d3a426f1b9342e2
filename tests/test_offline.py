from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from llmforge import offline


@pytest.mark.parametrize("address", [("93.184.216.34", 80), ("10.0.0.1", 443), ("8.8.8.8", 53)])
def test_outbound_connection_is_refused(address: tuple[str, int]) -> None:
    with socket.socket() as sock:
        with pytest.raises(offline.NetworkRefused):
            sock.connect(address)


def test_name_lookup_is_refused() -> None:
    with pytest.raises(offline.NetworkRefused, match="name lookup"):
        socket.getaddrinfo("huggingface.co", 443)


def test_loopback_still_works() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        accepted.append(conn.recv(5))
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    with socket.create_connection(("localhost", port), timeout=5) as client:
        client.sendall(b"hello")
    thread.join(5)
    server.close()
    assert accepted == [b"hello"]


def test_subprocesses_are_guarded_too() -> None:
    code = ("import socket\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
            "except ConnectionRefusedError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "refused: llmforge is offline" in out.stdout


def test_offline_environment_is_set_but_operator_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    offline.set_offline_env()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"


@pytest.mark.parametrize("host, local", [("localhost", True), ("127.0.0.5", True), ("::1", True),
                                         ("", True), ("0.0.0.0", True), ("192.168.1.1", False),
                                         ("example.com", False), ("[::1]", True)])
def test_is_loopback_host(host: str, local: bool) -> None:
    assert offline.is_loopback_host(host) is local


def test_lookups_and_datagrams_are_refused_too() -> None:
    with pytest.raises(offline.NetworkRefused):
        socket.gethostbyname("example.com")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(offline.NetworkRefused):
            udp.sendto(b"x", ("192.0.2.1", 53))


def _try_connect() -> str:
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2)
    except offline.NetworkRefused:
        return "refused"
    except OSError as exc:
        return f"not refused by the guard: {exc}"
    return "connected"


def test_extraction_workers_are_guarded() -> None:
    from tests.assets import run_isolated

    assert run_isolated(_try_connect, (), timeout=60, memory_mb=0) == "refused"
