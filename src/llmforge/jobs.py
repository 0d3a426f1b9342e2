"""One job store: the catalog's ``jobs`` table, for every kind of job (uploads, training runs).

A job row is written by the process that owns the job and read by anyone: the CLI, the HTTP API,
another process. A reader never takes ``queued`` or ``running`` at face value, because the owner
may have crashed or been killed without a word: :func:`get_job` and :func:`list_jobs` *settle*
such a row to ``interrupted`` when its owner is gone (its recorded pid is dead or, for a kind whose
running owner holds a lock, the lock is not held by that job). The rule lives here, once, so
``llmforge train status`` and ``GET /v1/jobs/{id}`` cannot disagree.

What differs between kinds is plain data, a :class:`JobKind` in :data:`KINDS`: how messages name
a job, how to resume one, which lock a running one holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmforge.errors import NotFoundError
from llmforge.locks import pid_alive, probe_lock
from llmforge.project import Project

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
_JSON_COLUMNS = ("params", "result")
_STAMP_COLUMNS = ("created_at", "started_at", "finished_at")
_UPDATABLE = frozenset({"state", "pid", "progress", "message", "params", "result", "step", "total_steps",
                        "last_loss", "started_at", "finished_at"})


@dataclass(frozen=True)
class JobKind:
    """What the store knows about one kind of job.

    Attributes:
        name: the value of the ``kind`` column.
        noun: how messages name one job of the kind.
        gone: what a settled job's message says happened to its owner.
        resume: the advice on resuming an interrupted job, ``{id}`` standing for its id.
        listing: where the user finds job ids, for a not-found message ("" when nowhere).
        lock: the project-relative lock file a *running* job's owner holds, its holder text
            written by :func:`holder_text`; None when a live pid is proof enough.
    """

    name: str
    noun: str
    gone: str
    resume: str
    listing: str = ""
    lock: str | None = None


INGEST = JobKind("ingest", "upload job", "the server running it stopped or crashed",
                 "resume with `POST /v1/jobs/{id}/resume` (its files are kept in uploads/{id})")
TRAIN = JobKind("train", "training job", "its process is gone (crashed or killed)",
                "resume with `llmforge train resume {id}`", listing="see `llmforge train list`",
                lock="runs/.train.lock")
_SERVER_GONE = "the server running it stopped or crashed"
STRUCTURE = JobKind("structure", "structuring job", _SERVER_GONE, "submit it again (`POST /v1/structure`)")
DATASET = JobKind("dataset", "dataset job", _SERVER_GONE, "submit it again (`POST /v1/datasets`)")
EXPORT = JobKind("export", "export job", _SERVER_GONE,
                 "submit it again (`POST /v1/model-versions/{{ref}}/export`)")
KINDS: dict[str, JobKind] = {kind.name: kind for kind in (INGEST, TRAIN, STRUCTURE, DATASET, EXPORT)}
SERVER_KINDS = (INGEST.name, STRUCTURE.name, DATASET.name, EXPORT.name)   # run by `llmforge serve` itself


def kind_of(name: str) -> JobKind:
    """The kind named ``name``; a plain one (a live pid is proof enough) for a name not in KINDS."""
    return KINDS.get(name) or JobKind(name, f"{name} job", "its process is gone", "submit it again")


def holder_text(job_id: str, pid: int) -> str:
    """What a job's owner writes into its kind's lock, and what settling looks for there."""
    return f"job {job_id}, pid {pid}"


# --- writing ----------------------------------------------------------------------------------

def create_job(project: Project, kind: str, job_id: str, params: dict[str, Any], *, pid: int | None,
               message: str | None = None,
               check: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """Record a queued job owned by process ``pid``, and return it.

    Args:
        check: sees the kind's queued and running jobs (as recorded, not settled) first, in the
            same catalog connection, and raises to refuse; the catalog lets one connection write
            at a time, so two racing submissions cannot both pass it.
    """
    with project.catalog() as conn:
        if check is not None:
            cursor = conn.execute("SELECT * FROM jobs WHERE kind = ? AND state IN ('queued', 'running')",
                                  [kind])
            check([_record(cursor, row) for row in cursor.fetchall()])
        conn.execute("INSERT INTO jobs (id, kind, state, pid, params, message) VALUES (?, ?, 'queued', ?, ?, ?)",
                     [job_id, kind, pid, json.dumps(params, ensure_ascii=False), message])
        cursor = conn.execute("SELECT * FROM jobs WHERE id = ?", [job_id])
        return _record(cursor, cursor.fetchone())


def update_job(project: Project, job_id: str, *, stamp: tuple[str, ...] = (), **columns: Any) -> None:
    """Set columns of one job row (``params`` and ``result`` given as dicts); ``stamp`` names the
    timestamps (``started_at``, ``finished_at``) to set to now.

    Raises:
        ValueError: an unknown column or state (a programming error, not a user's).
    """
    unknown = (set(columns) | set(stamp)) - _UPDATABLE
    if unknown:
        raise ValueError(f"jobs have no settable columns {sorted(unknown)}")
    if "state" in columns and columns["state"] not in STATES:
        raise ValueError(f"unknown job state {columns['state']!r}")
    for key in _JSON_COLUMNS:
        if columns.get(key) is not None and not isinstance(columns[key], str):
            columns[key] = json.dumps(columns[key], ensure_ascii=False, default=str)
    assignments = [f"{key} = ?" for key in columns] + [f"{key} = current_timestamp" for key in stamp]
    with project.catalog() as conn:
        conn.execute(f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?", [*columns.values(), job_id])


def interrupt_active(project: Project, kind: str, message: str) -> int:
    """Mark every queued or running job of ``kind`` interrupted, in the catalog itself (a server
    starting up knows none of them can still be running); returns how many."""
    with project.catalog() as conn:
        return conn.execute("UPDATE jobs SET state = 'interrupted', finished_at = current_timestamp, message = ? "
                            "WHERE kind = ? AND state IN ('queued', 'running')", [message, kind]).fetchone()[0]


# --- reading ----------------------------------------------------------------------------------

def get_job(project: Project, job_id: str, kind: str | None = None) -> dict[str, Any]:
    """One job, settled (see the module's docstring); ``kind`` limits the search to that kind.

    Raises:
        NotFoundError: no such job (of that kind).
    """
    where, args = ("id = ? AND kind = ?", [job_id, kind]) if kind else ("id = ?", [job_id])
    with project.catalog() as conn:
        cursor = conn.execute(f"SELECT * FROM jobs WHERE {where}", args)
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError(_not_found(job_id, kind))
        job = _record(cursor, row)
    return settle(project, job)


def list_jobs(project: Project, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest jobs (of ``kind``, or of every kind) first, settled."""
    where, args = ("WHERE kind = ?", [kind]) if kind else ("", [])
    with project.catalog() as conn:
        cursor = conn.execute(f"SELECT * FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                              [*args, limit])
        jobs = [_record(cursor, row) for row in cursor.fetchall()]
    return [settle(project, job) for job in jobs]


def settle(project: Project, job: dict[str, Any]) -> dict[str, Any]:
    """The job as it really stands: a queued or running one whose owner is gone reads as
    ``interrupted``, with a message that says how to resume it (the row itself is not changed:
    the owner may be a process that only looks gone from here, and the next writer decides)."""
    if job["state"] not in ACTIVE or owner_alive(project, job):
        return job
    kind = kind_of(job["kind"])
    return {**job, "state": "interrupted", "message": f"{kind.gone}: {kind.resume.format(id=job['id'])}"}


def owner_alive(project: Project, job: dict[str, Any]) -> bool:
    """Whether the job's recorded process still runs it: its pid is alive and, for a running job of
    a kind with a lock, holds that lock under this job's name (after a reboot the pid may belong
    to an unrelated process)."""
    if not pid_alive(job["pid"]):
        return False
    lock = kind_of(job["kind"]).lock
    if lock is None or job["state"] != "running":
        return True
    return probe_lock(project.root / lock) == holder_text(job["id"], job["pid"])


def _not_found(job_id: str, kind: str | None) -> str:
    if kind is None:
        return f"no job with id {job_id!r}"
    known = kind_of(kind)
    return f"no {known.noun} {job_id!r}" + (f" ({known.listing})" if known.listing else "")


def _record(cursor: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the one shape every reader gets: JSON decoded, timestamps as ISO strings."""
    job = dict(zip([d[0] for d in cursor.description], row))
    for key in _JSON_COLUMNS:
        if isinstance(job.get(key), str):
            job[key] = json.loads(job[key])
    for key in _STAMP_COLUMNS:
        if job.get(key) is not None:
            job[key] = job[key].isoformat(timespec="seconds")
    return job
