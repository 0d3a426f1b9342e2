"""What the identity modules share: the clock, secret hashing and owner-only files in secrets/."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

from llmforge.fileio import atomic_write_bytes, private_dir


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
    atomic_write_bytes(path, data, mode=0o600)
