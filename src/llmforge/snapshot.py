"""A published snapshot: one consistent copy of a project that read-only replicas serve.

Several ``llmforge serve`` replicas cannot share one writable project: DuckDB admits one writing
process per catalog, and a reader on another machine sees a file mid-write. So the writer
publishes a snapshot, and replicas mount it read-only (see :attr:`llmforge.project.Project.read_only`).

Consistency comes from the two locks writers already take: the project writer lock keeps ingest,
structure, deletes and uploads out while the index and blobs are copied, and an open catalog
connection (DuckDB admits one process) keeps every other catalog writer out while the catalog,
checkpointed first so no write-ahead log is left behind, is copied byte for byte.

What a snapshot holds: settings, catalog, blobs (hard links where the snapshot is on the same file
system: a blob is written once under its hash and never changed), the index, the model
repository (without staging folders) and the secrets a server needs (signing keys, the blob key,
the TLS server certificate and key, the identity epoch), never the TLS CA's private key. Datasets,
training runs, uploads and logs are left out; their folders are there, empty.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmforge.errors import UsageError
from llmforge.project import SETTINGS_FILE, SUBDIRS, Project

COPIED = ("lancedb", "models", "secrets")
LINKED = ("blobs",)
SKIPPED_NAMES = {".lock", ".writer.lock", "tmp", "ca.key"}   # lock files, blob temp files, the CA's key
SKIPPED_PREFIXES = (".staging-",)


@dataclass(frozen=True)
class SnapshotInfo:
    """What :func:`publish_snapshot` wrote."""

    path: str
    files: int
    linked: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def publish_snapshot(project: Project, destination: Path, wait: float | None = None) -> SnapshotInfo:
    """Copy ``project`` into the new directory ``destination`` as one consistent state. It is
    written beside it under a temporary name and renamed into place, so a replica never sees half.

    Args:
        wait: seconds to wait for the writer lock (default: setting ``lock.wait``).

    Raises:
        UsageError: ``destination`` exists, or lies inside the project.
        LockError: another command kept writing for longer than ``wait``.
        ReadOnlyProjectError: the project is read-only here (snapshot the writable one).
    """
    destination = Path(destination).expanduser().absolute()
    _check_destination(project, destination)
    started = time.monotonic()
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    tally = _Tally()
    try:
        with project.writer_lock("snapshot", wait):
            partial.mkdir(parents=True)
            for name in SUBDIRS:
                (partial / name).mkdir()
            (partial / "secrets").chmod(0o700)
            shutil.copy2(project.settings_path, partial / SETTINGS_FILE)
            with project.catalog() as conn:   # no other process writes the catalog while it is copied
                conn.execute("CHECKPOINT")
                tally.copy(project.catalog_path, partial / project.catalog_path.name)
            for name in COPIED + LINKED:
                _copy_tree(project.path(name), partial / name, tally, link=name in LINKED)
        partial.rename(destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return SnapshotInfo(str(destination), tally.files, tally.linked, tally.bytes,
                        round(time.monotonic() - started, 3))


def _check_destination(project: Project, destination: Path) -> None:
    if destination.exists():
        raise UsageError(f"{destination} exists: a snapshot goes into a new directory")
    if destination.resolve().is_relative_to(project.root.resolve()):
        raise UsageError(f"{destination} is inside the project: put the snapshot elsewhere")


class _Tally:
    """Counts what is copied and linked."""

    def __init__(self) -> None:
        self.files = self.linked = self.bytes = 0

    def copy(self, source: Path, target: Path, link: bool = False) -> None:
        if link:
            try:
                os.link(source, target)
                self.linked += 1
            except OSError:   # another file system, or no hard links there: copy it
                shutil.copy2(source, target)
        else:
            shutil.copy2(source, target)
        self.files += 1
        self.bytes += target.stat().st_size


def _copy_tree(source: Path, target: Path, tally: _Tally, link: bool) -> None:
    """Copy (or hard-link) ``source`` into the existing ``target``, keeping modes, leaving out lock
    files, temporary files, staging folders and the CA's private key."""
    if not source.is_dir():
        return
    for entry in sorted(source.iterdir()):
        if entry.name in SKIPPED_NAMES or entry.name.startswith(SKIPPED_PREFIXES) or entry.is_symlink():
            continue
        if entry.is_dir():
            (target / entry.name).mkdir()
            (target / entry.name).chmod(entry.stat().st_mode & 0o777)   # secrets/ stays 0700
            _copy_tree(entry, target / entry.name, tally, link)
        elif entry.is_file():
            tally.copy(entry, target / entry.name, link)
