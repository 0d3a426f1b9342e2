"""The one job store: every reader settles a job whose owning process is gone to ``interrupted``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from llmforge.errors import NotFoundError
from llmforge.jobs import INGEST, TRAIN, create_job, get_job, list_jobs, update_job
from llmforge.project import Project

TRAINER = """
import os, sys, time
from pathlib import Path
from llmforge.jobs import update_job
from llmforge.project import Project
from llmforge.train.jobs import training_lock
project, job_id = Project(Path(sys.argv[1])), sys.argv[2]
with training_lock(project, job_id):
    update_job(project, job_id, state="running", pid=os.getpid(), stamp=("started_at",))
    print("running", flush=True)
    time.sleep(120)
"""

UPLOADER = """
import sys, time
from pathlib import Path
from llmforge.project import Project
from llmforge.serve.jobs import JobRunner
job_id, _ = JobRunner(Project(Path(sys.argv[1]))).submit_upload([("notice.txt", b"The reservoir reopens.")])
print(job_id, flush=True)
time.sleep(120)   # a server whose worker never got to the job
"""


@contextmanager
def child(script: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A real llmforge process running ``script``; yields it and its first line; kills it at the end."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()   # reaped: its pid is gone, as a crashed owner's is to any other reader


def _train_job(project: Project, job_id: str = "20250101-000000-abcdef") -> str:
    create_job(project, TRAIN.name, job_id, {"name": "ops"}, pid=os.getpid())
    return job_id


def test_a_killed_training_process_reads_interrupted_everywhere(project: Project, cli) -> None:
    """The issue's acceptance test: library, list, CLI and HTTP agree once the trainer is killed."""
    job_id = _train_job(project)
    with child(TRAINER, str(project.root), job_id) as (trainer, line):
        assert line == "running"
        alive = get_job(project, job_id)
        assert alive["state"] == "running" and alive["pid"] == trainer.pid   # a live owner is believed
        _kill(trainer)

    job = get_job(project, job_id)
    assert job["state"] == "interrupted" and f"`llmforge train resume {job_id}`" in job["message"]
    assert [(j["id"], j["state"]) for j in list_jobs(project, TRAIN.name)] == [(job_id, "interrupted")]
    status = cli("train", "status", job_id, "-p", project.root, "--json")
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "interrupted"
    assert _http_state(project, job_id) == "interrupted"


def test_the_jobs_route_settles_a_dead_training_job(project: Project) -> None:
    """GET /v1/jobs/{id} reads through the store, not around it (the HTTP half of the above)."""
    job_id = _train_job(project)
    update_job(project, job_id, state="running", pid=_dead_pid())
    assert _http_state(project, job_id) == "interrupted"


def test_the_jobs_list_route_shows_every_kind_settled(project: Project) -> None:
    pytest.importorskip("fastapi")
    from tests.serve.live import admin_client

    create_job(project, INGEST.name, "upload1", {"files": ["a.txt"]}, pid=os.getpid())
    train_id = _train_job(project)
    update_job(project, train_id, state="running", pid=_dead_pid())
    with admin_client(project) as client:
        listed = client.get("/v1/jobs").json()["jobs"]
        trains = client.get("/v1/jobs", params={"kind": "train"}).json()["jobs"]
        unknown = client.get("/v1/jobs", params={"kind": "nonsense"})
    assert {job["id"]: job["kind"] for job in listed} == {"upload1": "ingest", train_id: "train"}
    assert [(job["id"], job["state"]) for job in trains] == [(train_id, "interrupted")]
    assert unknown.status_code == 422


def _http_state(project: Project, job_id: str) -> str:
    pytest.importorskip("fastapi")
    from tests.serve.live import admin_client

    with admin_client(project) as client:
        response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["state"]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_running_training_job_must_hold_the_training_lock(project: Project) -> None:
    """After a reboot the recorded pid may be alive in another process: without the lock it is not ours."""
    job_id = _train_job(project)
    with child("import time; print('up', flush=True); time.sleep(120)") as (stranger, _):
        update_job(project, job_id, state="running", pid=stranger.pid)
        assert get_job(project, job_id)["state"] == "interrupted"
        update_job(project, job_id, state="queued")   # a queued job holds no lock yet: its pid decides
        assert get_job(project, job_id)["state"] == "queued"


def test_an_upload_job_of_a_dead_server_reads_interrupted(project: Project) -> None:
    from llmforge.serve.jobs import JobRunner

    with child(UPLOADER, str(project.root)) as (server, job_id):
        queued = get_job(project, job_id)
        assert queued["state"] == "queued" and queued["pid"] == server.pid and queued["kind"] == INGEST.name
        _kill(server)
    job = get_job(project, job_id)
    assert job["state"] == "interrupted" and f"/v1/jobs/{job_id}/resume" in job["message"]
    runner = JobRunner(project)   # the next server resumes it and owns it from then on (not started: it waits)
    resumed = runner.resume(job_id)
    assert resumed["state"] == "queued" and resumed["pid"] == os.getpid()


def test_every_kind_reads_in_one_shape(project: Project) -> None:
    create_job(project, INGEST.name, "upload1", {"files": ["a.txt"]}, pid=os.getpid())
    train_id = _train_job(project)
    update_job(project, train_id, state="succeeded", result={"version": "ops@v1"}, progress=1.0,
               stamp=("started_at", "finished_at"))
    by_id = {job["id"]: job for job in list_jobs(project)}
    assert set(by_id) == {"upload1", train_id}
    assert by_id["upload1"].keys() == by_id[train_id].keys()
    assert by_id["upload1"]["params"] == {"files": ["a.txt"]} and by_id[train_id]["result"] == {"version": "ops@v1"}
    for stamp in ("created_at", "started_at", "finished_at"):   # ISO strings, as JSON carries them
        assert datetime.fromisoformat(by_id[train_id][stamp]).tzinfo is not None
    assert isinstance(by_id["upload1"]["created_at"], str) and by_id["upload1"]["started_at"] is None
    assert [job["id"] for job in list_jobs(project, INGEST.name)] == ["upload1"]


def test_a_job_of_another_kind_is_not_found_by_kind(project: Project) -> None:
    create_job(project, INGEST.name, "upload1", {}, pid=os.getpid())
    assert get_job(project, "upload1")["kind"] == "ingest"
    with pytest.raises(NotFoundError, match=r"no training job 'upload1' \(see `llmforge train list`\)"):
        get_job(project, "upload1", TRAIN.name)
    with pytest.raises(NotFoundError, match="no job with id 'nope'"):
        get_job(project, "nope")


def test_updates_name_known_columns_and_states(project: Project) -> None:
    job_id = _train_job(project)
    with pytest.raises(ValueError, match="settable columns"):
        update_job(project, job_id, kind="ingest")
    with pytest.raises(ValueError, match="unknown job state 'done'"):
        update_job(project, job_id, state="done")
    assert get_job(project, job_id)["state"] == "queued"
