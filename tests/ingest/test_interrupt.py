"""Ctrl-C during a real ``llmforge ingest``: the lines of the files stored so far are on the screen,
a summary says what was not stored, the exit code is 130, and running it again finishes the job."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

FILES = 60


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(FILES):
        (folder / f"doc{index:03}.txt").write_text(f"Document {index}: valve {index * 7} was checked at dawn.")
    return folder


def _interrupt(command: list[str], ready) -> subprocess.CompletedProcess:  # noqa: ANN001
    """Run ``command``, send it SIGINT once ``ready(process, lines_read)`` is true, collect its output."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ready(proc, lines):
        pass
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()   # not communicate(): it would skip what readline() has buffered
    err = proc.stderr.read()
    return subprocess.CompletedProcess(command, proc.wait(timeout=120), "".join(lines) + rest, err)


def _first_line_printed(proc: subprocess.Popen, lines: list[str]) -> bool:
    lines.append(proc.stdout.readline())
    return lines[-1].startswith("ingested ")


def _stored(project) -> set[str]:  # noqa: ANN001
    with project.catalog() as conn:
        return {row[0] for row in conn.execute("SELECT source_path FROM documents WHERE status = 'ingested'").fetchall()}


def test_ctrl_c_keeps_what_is_stored_says_what_is_not(project, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    command = [sys.executable, "-m", "llmforge", "-p", str(project.root), "ingest", str(folder), "-r",
               "--workers", "1"]
    result = _interrupt(command, _first_line_printed)
    assert result.returncode == 130, result.stderr
    printed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("ingested ")}
    stored = _stored(project)
    assert 1 <= len(stored) < FILES, "the run was not interrupted mid-way"
    assert printed == stored            # every stored file has its line, and only those
    summary = next(line for line in result.stdout.splitlines() if line.startswith("interrupted"))
    assert summary == f"interrupted: {len(stored)} file(s) done and kept, {FILES - len(stored)} not stored:"
    not_stored = {line.split(None, 2)[2] for line in result.stdout.splitlines() if line.startswith("  not stored ")}
    assert len(not_stored) == min(20, FILES - len(stored)) and not not_stored & stored
    assert "Traceback" not in result.stderr
    rerun = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=300)
    summary = json.loads(rerun.stdout)
    assert rerun.returncode == 0 and (summary["ingested"], summary["skipped"]) == (FILES - len(stored), len(stored))
    assert not summary["interrupted"] and summary["not_stored"] == []


def test_ctrl_c_with_json_prints_the_partial_report(project, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    log = project.root / "logs" / "llmforge.log"
    command = [sys.executable, "-m", "llmforge", "-p", str(project.root), "ingest", str(folder), "-r",
               "--workers", "1", "--json"]

    def some_stored(_proc: subprocess.Popen, _lines: list[str]) -> bool:   # --json prints at the end only
        time.sleep(0.05)
        return log.exists() and " ingested " in log.read_text()

    result = _interrupt(command, some_stored)
    assert result.returncode == 130, result.stderr
    report = json.loads(result.stdout)
    stored = _stored(project)
    assert report["interrupted"] and report["ingested"] == len(stored) and 1 <= len(stored) < FILES
    assert {entry["path"] for entry in report["files"]} == stored
    assert len(report["not_stored"]) == FILES - len(stored) and not set(report["not_stored"]) & stored
