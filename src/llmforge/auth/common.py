"""What the identity modules share: the clock, secret hashing and owner-only files in secrets/."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from llmforge.fileio import fsync_dir


def utcnow() -> datetime:
    """The current time, timezone-aware. One function so tests can move the clock."""
    return datetime.now(UTC)


def sha256_hex(secret: str) -> str:
    """The stored form of a high-entropy secret (an API key, a refresh token).

    A plain hash is enough here: the secrets carry 256 random bits, so no table of guesses can
    reverse it, unlike a password, which needs a slow hash.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter (0700), created when missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


EPOCH_FILE = "auth.epoch"


def auth_epoch(project_root: Path) -> bytes:
    """The project's identity epoch: it changes whenever a user or key changes in a way that could
    withdraw access (revoked, rotated, disabled, another role). Servers cache verified credentials
    and read this file (a few bytes) on every request, so such a change, made in any process,
    takes effect on the next request."""
    try:
        return (project_root / "secrets" / EPOCH_FILE).read_bytes()
    except FileNotFoundError:
        return b""


def bump_auth_epoch(project_root: Path) -> None:
    """Start a new identity epoch (see :func:`auth_epoch`); call after the change is committed."""
    write_private(project_root / "secrets" / EPOCH_FILE, uuid.uuid4().hex.encode())


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once, readable by the owner only (0600) from the start."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
