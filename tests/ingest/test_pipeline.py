from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmforge.documents import delete_document, list_documents, show_document
from llmforge.errors import IngestError, UsageError
from llmforge.ingest.pipeline import ingest_paths
from tests.assets import docx_file, encrypted_pdf, run_isolated, text_pdf, zip_bomb_docx

ARABIC = "يفحص المشغل المناوب جرعة الكلور كل أربع ساعات ويسجل القراءات في سجل المحطة."


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "en.txt").write_text("The duty operator checks chlorine every four hours.\n", encoding="utf-8")
    (folder / "ar.txt").write_bytes((ARABIC + "\n").encode("cp1256"))
    (folder / "sub" / "manual.pdf").write_bytes(text_pdf(["Pump station manual, page one.",
                                                          "Valves and pipes, page two."]))
    docx_file(folder / "sub" / "policy.docx", ["Water safety policy.", ARABIC])
    (folder / ".hidden.txt").write_text("editor backup, not a document")
    return folder


def test_ingest_folder_then_again_is_a_no_op(project, docs: Path) -> None:
    report = ingest_paths(project, [docs], recursive=True, workers=2)
    assert (report.count("ingested"), report.count("failed")) == (4, 0), report.to_dict()
    again = ingest_paths(project, [docs], recursive=True)
    assert again.count("skipped") == 4 and again.count("ingested") == 0
    rows = list_documents(project)
    assert len(rows) == 4
    pdf = next(r for r in rows if r["kind"] == "pdf")
    shown = show_document(project, pdf["id"])
    assert [p["page_no"] for p in shown["pages"]] == [1, 2]
    assert shown["pages"][1]["text"] == "Valves and pipes, page two."
    assert shown["pages"][0]["method"] == "text-layer"
    arabic = next(r for r in rows if r["source_path"].endswith("ar.txt"))
    detail = show_document(project, arabic["id"])
    assert detail["pages"][0]["text"] == ARABIC and "encoding: cp1256" in detail["notes"]
    assert arabic["languages"] == ["ar"]


def test_blobs_hold_original_and_extracted_text(project, docs: Path) -> None:
    ingest_paths(project, [docs / "en.txt"])
    row = show_document(project, list_documents(project)[0]["id"])
    store = project.blobs()
    assert store.read_bytes(row["sha256"]) == (docs / "en.txt").read_bytes()
    extracted = json.loads(store.read_bytes(row["text_sha256"]))
    assert extracted["pages"][0]["text"].startswith("The duty operator")


def test_changed_file_becomes_a_new_version(project, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("first version of the notes")
    ingest_paths(project, [path])
    path.write_text("second version of the notes, changed")
    report = ingest_paths(project, [path])
    assert report.outcomes[0].version == 2
    latest = list_documents(project)
    assert len(latest) == 1 and latest[0]["version"] == 2
    assert len(list_documents(project, include_all=True)) == 2


def test_bad_files_fail_with_reasons_and_the_batch_goes_on(project, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("A perfectly good text file about pumps.")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "truncated.pdf").write_bytes(text_pdf(["hello world"])[:80])
    (folder / "locked.pdf").write_bytes(encrypted_pdf(["secret"], "pw"))
    (folder / "program.pdf").write_bytes(b"\x7fELF" + os.urandom(2000))
    zip_bomb_docx(folder / "bomb.docx", 600)
    report = ingest_paths(project, [folder, tmp_path / "missing.txt"], recursive=True)
    reasons = {Path(o.path).name: o.reason for o in report.outcomes if o.status == "failed"}
    assert report.count("ingested") == 1
    assert reasons["empty.pdf"] == "empty file"
    assert "corrupt or unreadable PDF" in reasons["truncated.pdf"]
    assert "--password" in reasons["locked.pdf"]
    assert "executable" in reasons["program.pdf"]
    assert "zip bomb" in reasons["bomb.docx"]
    assert reasons["missing.txt"] == "no such file"
    assert all("\n" not in reason for reason in reasons.values())
    failed = [r for r in list_documents(project) if r["status"] == "failed"]
    assert len(failed) == 5  # a path that does not exist is reported, not recorded as a document
    assert not any(r["source_path"].endswith("missing.txt") for r in failed)
    # Fixing the file and running again replaces the failure with the document.
    (folder / "locked.pdf").write_bytes(text_pdf(["This file is no longer locked and can be read by anyone."]))
    ingest_paths(project, [folder / "locked.pdf"])
    statuses = [r["status"] for r in list_documents(project) if r["source_path"].endswith("locked.pdf")]
    assert statuses == ["ingested"]


def test_reverted_file_becomes_the_latest_version_again(project, tmp_path: Path) -> None:
    path = tmp_path / "policy.txt"
    for text in ("Chlorine is checked twice daily.", "Chlorine is checked once weekly.",
                 "Chlorine is checked twice daily."):
        path.write_text(text)
        ingest_paths(project, [path])
    latest = list_documents(project)
    assert len(latest) == 1 and latest[0]["version"] == 3
    assert show_document(project, latest[0]["id"])["pages"][0]["text"] == "Chlorine is checked twice daily."


def test_bad_file_names_and_broken_text_do_not_stop_the_batch(project, tmp_path: Path) -> None:
    import os

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("A good file about valves and pumps.")
    with open(os.path.join(os.fsencode(folder), b"\xe9t\xe9.txt"), "wb") as handle:
        handle.write(b"latin-1 named file")
    report = ingest_paths(project, [folder], recursive=True)
    by_reason = {o.reason for o in report.outcomes if o.status == "failed"}
    assert report.count("ingested") == 1 and by_reason == {"the file name is not valid UTF-8; rename it"}


def test_size_limit_refuses_before_reading(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMFORGE_INGEST_MAX_FILE_MB", "0.001")
    project.reload_settings()
    path = tmp_path / "big.txt"
    path.write_text("x" * 5000)
    report = ingest_paths(project, [path])
    assert "over the limit of 0.001 MB" in report.outcomes[0].reason


def test_directory_without_recursive_is_a_usage_error(project, docs: Path) -> None:
    with pytest.raises(UsageError, match="--recursive"):
        ingest_paths(project, [docs])


def test_delete_removes_pages_and_unshared_blobs(project, docs: Path) -> None:
    ingest_paths(project, [docs / "en.txt"])
    row = list_documents(project)[0]
    sha = show_document(project, row["id"])["sha256"]
    result = delete_document(project, row["id"][:6])
    assert result["pages_deleted"] == 1 and result["blobs_deleted"] == 2
    assert list_documents(project) == [] and sha not in project.blobs()
    with project.catalog() as conn:
        assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == 0


def test_encrypted_project_stores_no_plaintext(tmp_path: Path, docs: Path) -> None:
    from llmforge.project import init_project

    project = init_project(tmp_path / "enc", encrypt=True)
    ingest_paths(project, [docs / "en.txt"])
    for blob in (project.root / "blobs").rglob("*.enc"):
        assert b"chlorine" not in blob.read_bytes()
    assert len(list((project.root / "blobs").rglob("*.enc"))) == 2


# --- the isolation boundary ----------------------------------------------------------

def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_worker_memory_limit() -> None:
    assert run_isolated(_allocate, (10,), timeout=60, memory_mb=1024) == 10 * 1024 * 1024
    with pytest.raises(IngestError, match="out of memory"):
        run_isolated(_allocate, (2048,), timeout=60, memory_mb=1024)


def test_worker_timeout_kills_the_child() -> None:
    started = time.monotonic()
    with pytest.raises(IngestError, match="took longer than 1 s"):
        run_isolated(_sleep, (60,), timeout=1, memory_mb=0)
    assert time.monotonic() - started < 15


def test_worker_crash_is_contained() -> None:
    with pytest.raises(IngestError, match="crashed \\(SIGSEGV\\)"):
        run_isolated(_crash, (), timeout=30, memory_mb=0)


# --- kill -9 in the middle of a run ----------------------------------------------------

def test_kill_9_mid_run_then_rerun_leaves_no_duplicates(project, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(80):
        (folder / f"doc{index:02}.txt").write_text(f"Document number {index} about valve {index * 7}.")
    command = [sys.executable, "-m", "llmforge", "-p", str(project.root), "ingest", str(folder),
               "--recursive", "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = project.root / "logs" / "llmforge.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count(" ingested ") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = log.read_text().count(" ingested ")
    assert 3 <= done_before < 80, "the run was not interrupted mid-way"
    rerun = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["ingested"] + summary["skipped"] == 80
    with project.catalog() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT sha256) FROM documents").fetchone() == (80, 80)
        assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == 80
    assert not list((project.root / "blobs" / "tmp").iterdir())


def _sleeper_with_child() -> None:
    subprocess.Popen(["sleep", "77"])
    time.sleep(60)


def test_worker_timeout_kills_what_the_worker_started() -> None:
    with pytest.raises(IngestError, match="took longer"):
        run_isolated(_sleeper_with_child, (), timeout=2, memory_mb=0)
    time.sleep(0.5)
    leftover = subprocess.run(["pgrep", "-f", "sleep 77"], capture_output=True, text=True).stdout.strip()
    assert leftover == ""


SCRIPT = """
import sys
from pathlib import Path
from llmforge.ingest.pipeline import ingest_paths
from llmforge.project import Project

def main():
    report = ingest_paths(Project(Path(sys.argv[1])), [Path(sys.argv[2])])
    print(report.outcomes[0].status, report.outcomes[0].reason)
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_calling_the_library_needs_no_main_guard(project, tmp_path: Path, guarded: bool) -> None:
    """Extraction workers start without importing the calling script again (multiprocessing would),
    so a script ingests whether or not it keeps its calls under ``if __name__ == "__main__":``,
    and once only."""
    note = tmp_path / "note.txt"
    note.write_text("Chlorine is checked every four hours.\n", encoding="utf-8")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT + ('if __name__ == "__main__":\n    main()\n' if guarded else "main()\n"))
    result = subprocess.run([sys.executable, str(script), str(project.root), str(note)], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.stdout.split() == ["ingested"], result.stderr[-2000:]


# --- uploads over HTTP ------------------------------------------------------------------

def test_nothing_uploaded_lingers_once_its_job_has_ended(project) -> None:
    """Through the real upload route on a real socket: a stored file, a duplicate of it, a file
    that fails, and a file the command line's default globs would leave out (an upload takes
    every file): once each job ends, uploads/ holds nothing."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from tests.serve.live import auth_headers, live_server

    note = b"The Hill Road reservoir reopens on Monday after the valve repairs."
    batches = [[("notice.txt", note), ("broken.pdf", b"%PDF-1.4 truncated"), ("setup.py", b"print('x')\n")],
               [("again.txt", note)]]
    with live_server(project) as base, httpx.Client(base_url=base, headers=auth_headers(project)) as client:
        jobs = []
        for batch in batches:
            response = client.post("/v1/documents", files=[("files", (name, data)) for name, data in batch])
            assert response.status_code == 202, response.text
            jobs.append(response.json()["status_url"])
        results = [_finished(client, url) for url in jobs]
    first, second = (job["result"]["ingest"] for job in results)
    assert (first["ingested"], first["failed"], second["skipped"]) == (2, 1, 1), results
    uploads = project.root / "uploads"
    assert uploads.is_dir() and list(uploads.rglob("*")) == []   # the route stored them there, and they went


def _finished(client, url: str) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["state"] in ("succeeded", "failed", "interrupted"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {url} did not end: {job}")
