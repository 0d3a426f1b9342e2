"""Open or create a project directory: the one place llmforge keeps everything.

    myproject/
      llmforge.toml     settings
      catalog.duckdb    metadata
      blobs/            content-addressed originals and extracted text
      lancedb/          vector and full-text tables
      models/           model repository
      runs/             training runs
      secrets/          keys (0700; files 0600)
      logs/             llmforge.log

A project on a read-only mount (a published snapshot, a replica's volume) is read, never
written: :attr:`Project.read_only` says so, the catalog opens read-only, and every write stops at
once with :class:`~llmforge.errors.ReadOnlyProjectError`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from llmforge import catalog
from llmforge.blobs import BlobStore, create_key, load_key
from llmforge.errors import ProjectError, ReadOnlyProjectError
from llmforge.locks import writer_lock
from llmforge.settings import Settings, default_toml, load_settings, write_setting

PROJECT_ENV = "LLMFORGE_PROJECT"
SETTINGS_FILE = "llmforge.toml"
SUBDIRS = ("blobs", "lancedb", "datasets", "models", "runs", "secrets", "logs")
BLOB_KEY = "blob.key"


@dataclass
class Project:
    """A project directory and what lives in it."""

    root: Path
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    def path(self, name: str) -> Path:
        """One of the project's sub-directories (``blobs``, ``models``, …)."""
        if name not in SUBDIRS:
            raise ValueError(f"unknown project directory {name!r}")
        return self.root / name

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.settings_path)
        return self._settings

    def reload_settings(self) -> Settings:
        self._settings = None
        return self.settings

    @property
    def read_only(self) -> bool:
        """Whether this process cannot write the project: a read-only mount (root included: the
        kernel says EROFS), or a directory or catalog this user may not write."""
        if not os.access(self.root, os.W_OK):
            return True
        return self.catalog_path.exists() and not os.access(self.catalog_path, os.W_OK)

    def require_writable(self, command: str) -> None:
        """Refuse ``command`` (what is about to write) before it touches anything.

        Raises:
            ReadOnlyProjectError: the project is read-only here.
        """
        if self.read_only:
            raise ReadOnlyProjectError(f"the project is read-only here (a read-only mount or snapshot): {command} "
                                       "would write to it; run it where the project is writable")

    @contextmanager
    def catalog(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived catalog connection; close it before any long work. On a read-only project
        it reads only, and a write in the block raises ReadOnlyProjectError."""
        timeout = float(self.settings["catalog.lock_timeout"])
        with catalog.connect(self.catalog_path, lock_timeout=timeout, read_only=self.read_only) as conn:
            yield conn

    def blobs(self) -> BlobStore:
        key = load_key(self.path("secrets") / BLOB_KEY) if self.settings["blobs.encrypt"] else None
        return BlobStore(self.path("blobs"), key)

    def writer_lock(self, command: str, wait: float | None = None):  # noqa: ANN201
        """Hold the project-wide writer lock (see :mod:`llmforge.locks`); refused at once on a
        read-only project."""
        self.require_writable(command)
        seconds = float(self.settings["lock.wait"]) if wait is None else wait
        return writer_lock(self.root / ".writer.lock", command, seconds)


def is_project(path: Path) -> bool:
    return (path / SETTINGS_FILE).is_file()


def init_project(directory: Path, encrypt: bool = False) -> Project:
    """Create a project in ``directory`` (created if missing; it may hold other files).

    Raises:
        ProjectError: it is a project already, or it cannot be written; anything created on the
            way is removed again.
    """
    directory = Path(directory).expanduser().absolute()
    if is_project(directory):
        raise ProjectError(f"{directory} is already an llmforge project")
    if directory.exists() and not directory.is_dir():
        raise ProjectError(f"{directory} exists and is not a directory")
    created: list[Path] = []
    try:
        if not directory.exists():
            directory.mkdir(parents=True)
            created.append(directory)
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"{directory} is not writable")
        for name in SUBDIRS:
            sub = directory / name
            if not sub.exists():
                sub.mkdir()
                created.append(sub)
        (directory / "secrets").chmod(0o700)
        settings_path = directory / SETTINGS_FILE
        settings_path.write_text(default_toml(), encoding="utf-8")
        created.append(settings_path)
        if encrypt:
            create_key(directory / "secrets" / BLOB_KEY)
            write_setting(settings_path, "blobs.encrypt", "true")
        project = Project(directory)
        if not project.catalog_path.exists():
            created.append(project.catalog_path)  # an existing catalog is never removed on failure
        with project.catalog():
            pass
    except OSError as exc:
        _remove(reversed(created))
        reason = exc.strerror or str(exc)
        raise ProjectError(f"cannot create a project in {directory}: {reason}") from None
    except BaseException:
        _remove(reversed(created))
        raise
    return project


def _remove(paths: Iterator[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)


def find_project(explicit: Path | str | None = None, cwd: Path | None = None) -> Project:
    """The project named by ``explicit``, else ``$LLMFORGE_PROJECT``, else the nearest parent
    directory of ``cwd`` that holds an ``llmforge.toml`` (the way git finds its repository).

    Raises:
        ProjectError: the named directory is not a project, or none was found.
    """
    for origin, value in (("--project", explicit), (PROJECT_ENV, os.environ.get(PROJECT_ENV))):
        if value:
            path = Path(value).expanduser().absolute()
            if not is_project(path):
                raise ProjectError(
                    f"{path} ({origin}) is not an llmforge project: no {SETTINGS_FILE}; "
                    f"create one with `llmforge init {path}`"
                )
            return Project(path)
    start = (cwd or Path.cwd()).absolute()
    for candidate in (start, *start.parents):
        if is_project(candidate):
            return Project(candidate)
    raise ProjectError(
        "no llmforge project in this directory or any parent; create one with "
        f"`llmforge init DIR`, or pass --project DIR, or set {PROJECT_ENV}"
    )
