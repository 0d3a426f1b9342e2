"""The project writer lock: two writing commands (say, two cron runs of ingest) never interleave.

It is an advisory ``flock`` on ``<project>/.writer.lock``. The kernel drops it when its holder
dies, so a lock left by a crashed or ``kill -9``-ed run is recovered by the next run without
any clean-up; the file only carries who held it last (pid, command, start time) for messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from llmforge.errors import LockError

POLL_SECONDS = 0.2


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` runs (a zombie, finished but not yet reaped, counts as gone).

    Used to tell a crashed writer's leftovers (partial folders named after their pid, job rows)
    from a live one's.
    """
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # someone else's live process
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def describe_holder(lock_path: Path) -> str:
    """What the lock file says about its last holder, for error messages."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8"))
        return f"`llmforge {info['command']}` (pid {info['pid']}, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another llmforge process"


@contextmanager
def writer_lock(lock_path: Path, command: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the project writer lock for the duration of the block.

    Args:
        lock_path: the lock file (created when missing).
        command: what is writing, shown to whoever has to wait.
        wait: seconds to wait for a busy lock before giving up.

    Raises:
        LockError: the lock is still held after ``wait`` seconds.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = describe_holder(lock_path)
                    hint = "wait longer with --wait SECONDS" if wait else "retry with --wait SECONDS"
                    raise LockError(f"the project is busy: {holder} is writing to it; {hint}") from None
                time.sleep(POLL_SECONDS)
        info = {
            "pid": os.getpid(),
            "command": command,
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
