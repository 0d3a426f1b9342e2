"""File locks: the project writer lock (two writing commands, say two cron runs of ingest, never
interleave) and the one ``flock`` helper under it and under the training lock.

Each is an advisory ``flock`` on a file such as ``<project>/.writer.lock``. The kernel drops it
when its holder dies, so a lock left by a crashed or ``kill -9``-ed run is recovered by the next
run without any clean-up; the file only carries who holds it, or held it last (pid, command, start
time), for messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from llmforge.errors import LockError

POLL_SECONDS = 0.2
HOLDER_BYTES = 4096


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


# --- one flock helper --------------------------------------------------------------------------

@contextmanager
def file_lock(path: Path, holder: str, refuse: Callable[[str], Exception], wait: float = 0.0,
              poll: float = POLL_SECONDS) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block, with ``holder`` written into the file.

    A blocking ``flock`` cannot be given up on, so the lock is tried without blocking every
    ``poll`` seconds until ``wait`` seconds have passed.

    Args:
        path: the lock file (created when missing).
        holder: who holds it, for whoever finds it busy (see :func:`probe_lock`).
        refuse: builds the error to raise from the holder's text when the lock stays busy.
        wait: seconds to keep trying.
        poll: seconds between tries.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while not _try_flock(fd):
            if time.monotonic() >= deadline:
                raise refuse(_read_holder(fd))
            time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def probe_lock(path: Path) -> str | None:
    """Who holds the lock on ``path`` now, or None when it is free.

    The probe takes a free lock for an instant and lets it go, so a process about to take it
    should keep trying for a moment (``wait``) rather than fail at once.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        return None if _try_flock(fd) else _read_holder(fd)
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder(fd: int) -> str:
    """The holder's text; never empty, since a busy lock is held by someone even if unnamed."""
    return os.pread(fd, HOLDER_BYTES, 0).decode("utf-8", "replace").strip() or "another process"


# --- the project writer lock ---------------------------------------------------------------------

class _HeldHere(threading.local):
    """Per thread: how deep each writer lock (by resolved path) is nested in this thread."""

    def __init__(self) -> None:
        self.depth: dict[str, int] = {}


_HELD_HERE = _HeldHere()


def describe_holder(lock_path: Path) -> str:
    """What the lock file says about its last holder, for error messages."""
    try:
        return _holder_phrase(lock_path.read_text(encoding="utf-8"))
    except OSError:
        return "another llmforge process"


def _holder_phrase(text: str) -> str:
    try:
        info = json.loads(text)
        return f"`llmforge {info['command']}` (pid {info['pid']}, since {info['started']})"
    except (ValueError, KeyError, TypeError):
        return "another llmforge process"


@contextmanager
def writer_lock(lock_path: Path, command: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the project writer lock for the duration of the block.

    Re-entrant within one thread: a library function that takes the lock itself can be called by
    a command that already holds it, and the nested block just proceeds (the lock is let go when
    the outermost block ends). Another thread or process is still kept out.

    Args:
        lock_path: the lock file (created when missing).
        command: what is writing, shown to whoever has to wait.
        wait: seconds to wait for a busy lock before giving up.

    Raises:
        LockError: the lock is still held after ``wait`` seconds.
    """
    key = os.path.realpath(lock_path)
    depth = _HELD_HERE.depth
    with ExitStack() as stack:
        if not depth.get(key):
            stack.enter_context(file_lock(lock_path, _holder_info(command), _refuse_writer(wait), wait))
        depth[key] = depth.get(key, 0) + 1
        try:
            yield
        finally:
            depth[key] -= 1


def _refuse_writer(wait: float) -> Callable[[str], LockError]:
    hint = "wait longer with --wait SECONDS" if wait else "retry with --wait SECONDS"
    return lambda holder: LockError(f"the project is busy: {_holder_phrase(holder)} is writing to it; {hint}")


def _holder_info(command: str) -> str:
    return json.dumps({
        "pid": os.getpid(),
        "command": command,
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
