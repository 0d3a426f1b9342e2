"""Durable small-file writes shared by the settings file, the blob store and the model repository,
folders renamed into place when complete, and the one check that a file is a GGUF model."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (a rename or a new file in it) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: readers see the old file or the new, never half."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` all at once, the file having ``mode`` from its creation (a
    secret is never readable by others, not even for a moment).

    Written to a uniquely named sibling, flushed, renamed over ``path``, and the rename flushed.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter (0700), created when missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def install_dir(partial: Path, target: Path, is_complete: Callable[[Path], bool]) -> None:
    """Rename the finished folder ``partial`` to ``target``, replacing a leftover there; when the
    rename fails because another process got there first, keep theirs if ``is_complete`` says so."""
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.rename(partial, target)
    except OSError:
        if not is_complete(target):
            raise


MISSING = "does not exist"


def gguf_problem(path: Path) -> str:
    """Why ``path`` cannot be a GGUF model ("" when it starts like one): MISSING, or not GGUF."""
    if not path.is_file():
        return MISSING
    with open(path, "rb") as handle:
        return "" if handle.read(4) == b"GGUF" else "is not a GGUF file"
