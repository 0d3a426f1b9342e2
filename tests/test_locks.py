from __future__ import annotations

import json
import subprocess
import sys
import threading
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


def test_the_writer_lock_nests_within_one_thread(tmp_path: Path) -> None:
    """A library function that takes the lock itself can run under a command that holds it."""
    lock = tmp_path / ".writer.lock"
    with writer_lock(lock, "ingest", wait=0):
        with writer_lock(tmp_path / "." / ".writer.lock", "structure", wait=0):   # the same file, spelt otherwise
            assert json.loads(lock.read_text())["command"] == "ingest"   # the outer holder is still named
        assert _refused_elsewhere(lock)   # leaving the inner block let nothing go
    assert not _refused_elsewhere(lock)


def test_another_thread_is_kept_out_while_one_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / ".writer.lock"
    with writer_lock(lock, "ingest", wait=0):
        assert _refused_elsewhere(lock)


def _refused_elsewhere(lock: Path) -> bool:
    """Whether another thread of this process is refused the lock (wait=0)."""
    outcome: list[BaseException | None] = []

    def take() -> None:
        try:
            with writer_lock(lock, "structure", wait=0):
                outcome.append(None)
        except LockError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(10)
    return isinstance(outcome[0], LockError) and "`llmforge ingest`" in str(outcome[0])
