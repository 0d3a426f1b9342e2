from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmforge.errors import LockError
from llmforge.locks import writer_lock

HOLDER = """
import sys, time
from pathlib import Path
from llmforge.locks import writer_lock
with writer_lock(Path(sys.argv[1]), "ingest"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_fast_with_holder_named(tmp_path: Path) -> None:
    lock = tmp_path / ".writer.lock"
    proc = hold(lock, 30)
    try:
        with pytest.raises(LockError, match=rf"`llmforge ingest` \(pid {proc.pid}.*--wait"):
            with writer_lock(lock, "structure", wait=0):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_second_writer_waits_for_release(tmp_path: Path) -> None:
    lock = tmp_path / ".writer.lock"
    proc = hold(lock, 1.0)
    started = time.monotonic()
    with writer_lock(lock, "structure", wait=20):
        assert time.monotonic() - started >= 0.5
        assert json.loads(lock.read_text())["command"] == "structure"
    proc.wait()


def test_lock_of_killed_process_is_recovered(tmp_path: Path) -> None:
    lock = tmp_path / ".writer.lock"
    proc = hold(lock, 60)
    proc.kill()  # SIGKILL: no clean-up ran, the file still names the dead pid
    proc.wait()
    assert json.loads(lock.read_text())["pid"] == proc.pid
    with writer_lock(lock, "ingest", wait=0):
        assert json.loads(lock.read_text())["pid"] != proc.pid


def test_lock_is_released_after_an_error(tmp_path: Path) -> None:
    lock = tmp_path / ".writer.lock"
    with pytest.raises(RuntimeError):
        with writer_lock(lock, "ingest"):
            raise RuntimeError("boom")
    with writer_lock(lock, "ingest", wait=0):
        pass
