"""Background jobs of the server, kept in the job store: an upload (ingest, then structure), a
structuring run, a dataset build, a model export. Long work asked for over HTTP runs here, and the
caller follows it at ``/v1/jobs/{id}``. (Training runs in a detached process of its own instead:
see :mod:`llmforge.train.jobs`.) An upload's files are removed once ingest has read them all.

A job runs in one worker thread, in order, under the project writer lock, so it queues behind a CLI
command that is writing (and the other way round). Its row names the server's pid as its owner, so
when the server stops or dies, jobs still queued or running read as ``interrupted`` (see
:mod:`llmforge.jobs`); an upload's files stay in ``uploads/<job id>/`` and it can be resumed.
What each kind does is the plain table :data:`TASKS`.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmforge import jobs as store
from llmforge.errors import BusyError, LlmforgeError, NotFoundError, UsageError
from llmforge.project import Project

log = logging.getLogger(__name__)
LOCK_WAIT_SECONDS = 3600.0
_SAFE_NAME = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str) -> str:
    """A client's file name reduced to a harmless base name (no directories, no odd characters)."""
    base = Path(name.replace("\\", "/")).name.strip().lstrip(".")
    base = _SAFE_NAME.sub("_", base)[:200]
    return base or "upload"


Progress = Callable[[float, str], None]
Task = Callable[[Project, str, dict[str, Any], Progress], tuple[str, str, dict[str, Any]]]


def _upload(project: Project, job_id: str, params: dict[str, Any], progress: Progress) -> tuple[str, str, dict[str, Any]]:
    """Ingest the job's uploaded files, then structure; (state, message, result)."""
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.structure.pipeline import structure_project

    folder = project.root / "uploads" / job_id
    with project.writer_lock(f"serve upload {job_id}", LOCK_WAIT_SECONDS):
        # Every file uploaded is taken (no include/exclude globs: the caller chose them). Once
        # ingest returns each one is stored, a duplicate or failed: none is left to resume with.
        report = ingest_paths(project, [folder], recursive=True, include=[], exclude=[])
        shutil.rmtree(folder, ignore_errors=True)
        progress(0.5, "structuring")
        structured = structure_project(project)
    failed = report.count("failed")
    state = "failed" if failed and failed == len(report.outcomes) else "succeeded"
    return (state, f"{report.count('ingested')} ingested, {failed} failed",
            {"ingest": report.to_dict(), "structure": structured.to_dict()})


def _structure(project: Project, _job_id: str, params: dict[str, Any], _progress: Progress) -> tuple[str, str, dict[str, Any]]:
    from llmforge.structure.pipeline import structure_project

    report = structure_project(project, reembed=bool(params.get("reembed")), wait=LOCK_WAIT_SECONDS)
    return "succeeded", f"{report.documents} documents structured, {report.chunks} chunks", report.to_dict()


def _dataset(project: Project, _job_id: str, params: dict[str, Any], _progress: Progress) -> tuple[str, str, dict[str, Any]]:
    from llmforge.train.data import build_dataset

    info = build_dataset(project, **params)
    return "succeeded", f"dataset {info.name} built", info.to_dict()


def _export(project: Project, _job_id: str, params: dict[str, Any], _progress: Progress) -> tuple[str, str, dict[str, Any]]:
    from llmforge.train.export import export_version

    result = export_version(project, params["ref"], kind=params["kind"], quantization=params.get("quantization"))
    result.pop("path", None)   # a server path: callers get the version's file name only
    return "succeeded", f"{params['ref']} exported ({params['kind']})", result


TASKS: dict[str, Task] = {store.INGEST.name: _upload, store.STRUCTURE.name: _structure,
                          store.DATASET.name: _dataset, store.EXPORT.name: _export}


class JobRunner:
    """One worker thread that runs queued jobs in order."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)
        self._draining = False   # a plain flag: drain() runs in a signal handler, where a lock could deadlock

    def start(self) -> None:
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit_upload(self, files: list[tuple[str, bytes]]) -> tuple[str, list[str]]:
        """Store uploaded files and queue their ingestion; returns the job id and the stored names."""
        self._refuse_while_draining()
        self.project.require_writable("an upload")
        job_id = uuid.uuid4().hex[:12]
        folder = self.project.root / "uploads" / job_id
        folder.mkdir(parents=True)
        names = []
        for name, data in files:
            target = folder / safe_filename(name)
            while target.exists():
                target = target.with_name(f"{target.stem}-1{target.suffix}")
            target.write_bytes(data)
            names.append(target.name)
        params = {"files": names}   # the folder is uploads/<job id>: no server path in what callers read
        store.create_job(self.project, store.INGEST.name, job_id, params, pid=os.getpid())   # the server owns it
        self._queue.put(job_id)
        return job_id, names

    def submit(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Queue a job of ``kind`` (one of :data:`TASKS`) with ``params``; returns its record."""
        self._refuse_while_draining()
        self.project.require_writable(f"a {kind} job")
        if kind not in TASKS:
            raise ValueError(f"the server runs no {kind!r} jobs")
        job = store.create_job(self.project, kind, uuid.uuid4().hex[:12], params, pid=os.getpid())
        self._queue.put(job["id"])
        return job

    def resume(self, job_id: str) -> dict[str, Any]:
        """Queue an interrupted (or failed) upload job again; its files are still in uploads/."""
        self._refuse_while_draining()
        self.project.require_writable("resuming an upload")
        job = store.get_job(self.project, job_id, store.INGEST.name)
        if job["state"] not in ("interrupted", "failed"):
            raise UsageError(f"job {job_id} is {job['state']}; only interrupted or failed jobs can be resumed")
        if not (self.project.root / "uploads" / job_id).is_dir():
            raise NotFoundError(f"the uploaded files of job {job_id} are gone")
        store.update_job(self.project, job_id, state="queued", pid=os.getpid(), message="resumed")
        self._queue.put(job_id)
        return store.get_job(self.project, job_id, store.INGEST.name)

    def drain(self) -> None:
        """Start no more jobs (the server is stopping: it still finishes its requests and the
        running job, but a queued job would only hold the stop up); they are marked interrupted,
        and new uploads are refused with 503."""
        self._draining = True

    def _refuse_while_draining(self) -> None:
        if self._draining:
            raise BusyError("the server is stopping; send it again once the server is back")

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            if self._draining:
                self._interrupt(job_id)
            else:
                self._execute(job_id)

    def _interrupt(self, job_id: str) -> None:
        store.update_job(self.project, job_id, state="interrupted", stamp=("finished_at",),
                         message="the server stopped before this job ran")

    def _execute(self, job_id: str) -> None:
        job = store.get_job(self.project, job_id)
        store.update_job(self.project, job_id, state="running", stamp=("started_at",))

        def progress(fraction: float, message: str) -> None:
            store.update_job(self.project, job_id, progress=fraction, message=message)

        try:
            state, message, result = TASKS[job["kind"]](self.project, job_id, job["params"] or {}, progress)
            store.update_job(self.project, job_id, state=state, progress=1.0, result=result, message=message,
                             stamp=("finished_at",))
        except LlmforgeError as exc:
            store.update_job(self.project, job_id, state="failed", message=str(exc), stamp=("finished_at",))
        except Exception as exc:  # noqa: BLE001 — a job failure must not kill the worker thread
            log.exception("job %s crashed", job_id)
            store.update_job(self.project, job_id, state="failed", message=f"{type(exc).__name__}: {exc}",
                             stamp=("finished_at",))

    def stop(self) -> None:
        """Stop taking jobs; mark what is left as interrupted (the running one finishes first)."""
        self.drain()
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover:
                self._interrupt(leftover)
        self._queue.put(None)
        self._thread.join(timeout=30)


def interrupt_stale_jobs(project: Project) -> int:
    """Jobs left queued or running by a server that died: mark them interrupted (at start-up), so
    the catalog says so too, not only the store's readers. A read-only project runs no jobs."""
    if project.read_only:
        return 0
    return sum(store.interrupt_active(project, kind, "the server stopped while this job was pending")
               for kind in store.SERVER_KINDS)
