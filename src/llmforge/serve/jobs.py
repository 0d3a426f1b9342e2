"""Background jobs of the server (an upload: ingest, then structure), kept in the job store.

A job runs in a worker thread under the project writer lock, so it queues behind a CLI command
that is writing (and the other way round). Its row names the server's pid as its owner, so when
the server stops or dies, jobs still queued or running read as ``interrupted`` (see
:mod:`llmforge.jobs`); their uploaded files stay in ``uploads/<job id>/`` and a later
``llmforge ingest uploads/<job id>`` (or a new upload) picks them up.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import uuid
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
        params = {"folder": str(folder), "files": names}
        store.create_job(self.project, store.INGEST.name, job_id, params, pid=os.getpid())   # the server owns it
        self._queue.put(job_id)
        return job_id, names

    def resume(self, job_id: str) -> dict[str, Any]:
        """Queue an interrupted (or failed) upload job again; its files are still in uploads/."""
        self._refuse_while_draining()
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
        from llmforge.ingest.pipeline import ingest_paths
        from llmforge.structure.pipeline import structure_project

        folder = self.project.root / "uploads" / job_id
        store.update_job(self.project, job_id, state="running", stamp=("started_at",))
        try:
            with self.project.writer_lock(f"serve upload {job_id}", LOCK_WAIT_SECONDS):
                report = ingest_paths(self.project, [folder], recursive=True)
                store.update_job(self.project, job_id, progress=0.5, message="structuring")
                structured = structure_project(self.project)
            result = {"ingest": report.to_dict(), "structure": structured.to_dict()}
            failed = report.count("failed")
            state = "failed" if failed and failed == len(report.outcomes) else "succeeded"
            store.update_job(self.project, job_id, state=state, progress=1.0, result=result, stamp=("finished_at",),
                             message=f"{report.count('ingested')} ingested, {failed} failed")
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
    the catalog says so too, not only the store's readers."""
    return store.interrupt_active(project, store.INGEST.name, "the server stopped while this job was pending")
