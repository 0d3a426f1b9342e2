"""The writing library functions take the project writer lock themselves, so a Python caller gets
what the CLI gets: refused (nothing written) while another process writes, let through when it
already holds the lock itself (the CLI, the server's upload job)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llmforge.documents import delete_document, list_documents
from llmforge.errors import LockError
from llmforge.ingest.pipeline import ingest_paths
from llmforge.project import Project
from llmforge.structure.pipeline import structure_project

HOLDER = """
import sys, time
from pathlib import Path
from llmforge.project import Project
with Project(Path(sys.argv[1])).writer_lock("ingest"):
    print("locked", flush=True)
    time.sleep(60)
"""


@contextmanager
def another_writer(project: Project) -> Iterator[int]:
    """A second process holding the project's writer lock, as a cron run of ingest would."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(project.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def note(tmp_path: Path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text("Chlorine is checked every four hours at the pumping station.\n", encoding="utf-8")
    return path


def test_ingest_paths_waits_for_no_one_and_stores_nothing_while_another_writes(project: Project, note: Path) -> None:
    with another_writer(project) as pid:
        with pytest.raises(LockError, match=rf"`llmforge ingest` \(pid {pid}"):
            ingest_paths(project, [note], wait=0)
    assert list_documents(project) == []
    assert ingest_paths(project, [note], wait=0).count("ingested") == 1   # free again


def test_structure_and_delete_are_refused_while_another_writes(project: Project, note: Path) -> None:
    ingest_paths(project, [note])
    document_id = list_documents(project)[0]["id"]
    with another_writer(project):
        with pytest.raises(LockError):
            structure_project(project, wait=0)
        with pytest.raises(LockError):
            delete_document(project, document_id, wait=0)
    assert [d["id"] for d in list_documents(project)] == [document_id]   # nothing was deleted
    with project.catalog() as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0   # nothing was structured


def test_a_caller_holding_the_lock_is_let_through(project: Project, note: Path) -> None:
    """The upload job holds the lock around ingest and structure; the nested takes must not refuse."""
    with project.writer_lock("serve upload", wait=0):
        report = ingest_paths(project, [note], wait=0)
        structured = structure_project(project, wait=0)
        deleted = delete_document(project, report.outcomes[0].document_id, wait=0)
    assert report.count("ingested") == 1 and structured.chunks >= 1 and deleted["pages_deleted"] == 1


def test_deleting_an_unknown_document_does_not_wait_for_the_lock(project: Project) -> None:
    from llmforge.errors import NotFoundError

    with another_writer(project):   # held elsewhere: only a refusal before the lock can answer at once
        with pytest.raises(NotFoundError):
            delete_document(project, "abcdef", wait=0)   # wait=0 would say LockError had it tried the lock
