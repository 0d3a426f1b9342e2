"""The model repository: fine-tuned versions on disk, their lineage, promotion and serving files.

    models/<name>/
      v1/ v2/ ...          one directory per version, never changed in place except manifest.json
        manifest.json      base, dataset, backend, hyper-parameters, metrics, file hashes, exports
        adapter/           the PEFT adapter (adapter_config.json, adapter_model.safetensors)
        gguf/...           GGUF exports (``llmforge models export``)
      PROMOTED             one line, ``v<N>``: the version that ``<name>`` means
      .lock                flock of writers to this model (holder info for messages)
      .counter             the highest version number ever given: numbers are never reused
      .staging-<pid>-<id>  a training run writing its outputs (invisible until registered)
      .deleting-<id>       a version being removed (invisible)

A version appears in one ``rename`` of a complete staging directory, manifest and hashes
included, so a crash leaves either no version or a whole one. A staging directory is removed by
:func:`cleanup` (run by every :func:`register_version`) once the process that made it — its pid
is in the name — is gone; pids are those of this host. An operator moving a repository between
hosts while a run writes into it loses nothing but that run.

The files are the source of truth, not the catalog: a version directory is self-describing and
can be copied to another project or machine with ``cp -r``, serving reads it without opening
DuckDB (one writer per file), and the file system's rename is the only transaction that can make
a directory of gigabytes appear atomically; a catalog row could only mirror it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmforge.errors import LockError, NotFoundError, TrainError, UsageError
from llmforge.fileio import atomic_write_text, fsync_dir
from llmforge.locks import describe_holder, pid_alive, writer_lock
from llmforge.packaged import PACKAGED, assemble, sha256_of
from llmforge.project import Project

RESERVED = frozenset({"base", "hf", "easyocr"})
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REF = re.compile(r"^(?P<name>[^@]+)(?:@v?(?P<version>\d+))?$")
_VERSION_DIR = re.compile(r"^v(\d+)$")
MANIFEST = "manifest.json"
PROMOTED = "PROMOTED"
LOCK_WAIT_SECONDS = 30.0  # registry changes take milliseconds; hashing happens outside the lock
REQUIRED_FIELDS = ("base", "dataset", "backend")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    path: Path
    manifest: dict[str, Any]
    promoted: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "name": self.name, "version": self.version, "path": str(self.path),
                "promoted": self.promoted, "manifest": self.manifest}


# ---------------------------------------------------------------------------------------------
# names, references, reading


def validate_name(name: str) -> str:
    """``name`` when it may name a repository model; UsageError otherwise."""
    if not _NAME.match(name):
        raise UsageError(f"model names are 1-64 lower-case letters, digits, '-', '_' or '.': {name!r}")
    if name in RESERVED:
        raise UsageError(f"{name!r} is reserved (models/{name}/ holds other files); choose another name")
    if name in PACKAGED or name.endswith(".gguf"):
        raise UsageError(f"{name!r} would be taken for a packaged model or a GGUF file; choose another name")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"``, ``"name@v3"`` or ``"name@3"`` → ``(name, version or None)``."""
    match = _REF.match(ref.strip())
    if not match:
        raise UsageError(f"not a model reference: {ref!r} (use NAME or NAME@vN)")
    version = int(match["version"]) if match["version"] else None
    if version == 0:
        raise UsageError(f"versions count from 1: {ref!r}")
    return validate_name(match["name"]), version


def model_dir(project: Project, name: str) -> Path:
    return project.path("models") / validate_name(name)


def _version_numbers(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    numbers = (_VERSION_DIR.match(entry.name) for entry in directory.iterdir() if entry.is_dir())
    return sorted(int(match[1]) for match in numbers if match)


def _promoted_number(directory: Path) -> int | None:
    try:
        text = (directory / PROMOTED).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    match = _VERSION_DIR.match(text)
    if not match:
        raise TrainError(f"{directory / PROMOTED} is damaged ({text[:20]!r}): promote a version again")
    return int(match[1])


def _load(name: str, directory: Path, number: int, promoted: int | None) -> ModelVersion:
    """A version as stored; an unreadable manifest loads as ``{}`` (verify_files reports it)."""
    path = directory / f"v{number}"
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    return ModelVersion(name, number, path, manifest if isinstance(manifest, dict) else {}, number == promoted)


def model_names(project: Project) -> list[str]:
    """Names of the models that have at least one version."""
    root = project.path("models")
    if not root.is_dir():
        return []
    return sorted(entry.name for entry in root.iterdir() if _is_name(entry.name) and _version_numbers(entry))


def _is_name(name: str) -> bool:
    try:
        validate_name(name)
    except UsageError:
        return False
    return True


def list_versions(project: Project, name: str | None = None) -> list[ModelVersion]:
    """Every version of ``name`` (of every model when None), by name then version."""
    versions = []
    for each in ([validate_name(name)] if name else model_names(project)):
        directory = model_dir(project, each)
        promoted = _promoted_number(directory)
        versions += [_load(each, directory, number, promoted) for number in _version_numbers(directory)]
    return versions


def find_version(project: Project, ref: str, *, serving: bool = False) -> ModelVersion | None:
    """The version ``ref`` names, or None when ``ref`` is not the name of a repository model.

    ``serving``: a bare name with nothing promoted means the newest version that has a GGUF
    export, so training a new version never switches a server to something it cannot load.

    Raises:
        NotFoundError: the model exists but not that version, or its promoted version is gone.
    """
    try:
        name, number = parse_ref(ref)
    except UsageError:
        return None
    directory = model_dir(project, name)
    numbers = _version_numbers(directory)
    if not numbers:
        return None
    promoted = _promoted_number(directory)
    if number is None and serving and not promoted:
        exported = [n for n in numbers
                    if {"adapter_gguf", "merged_gguf"} & set(_load(name, directory, n, promoted).manifest.get("exports") or {})]
        number = exported[-1] if exported else None
    if number is None:
        number = promoted or numbers[-1]
        if number not in numbers:
            raise NotFoundError(f"the promoted version of {name}, v{number}, is missing: promote another "
                                f"with `llmforge models promote {name}@vN`")
    elif number not in numbers:
        raise NotFoundError(f"model {name} has no version v{number} (versions: "
                            f"{', '.join(f'v{n}' for n in numbers)})")
    return _load(name, directory, number, promoted)


def get_version(project: Project, ref: str) -> ModelVersion:
    """The version ``ref`` names: ``name@vN``, or ``name`` for its promoted (else latest) version.

    Raises:
        UsageError: ``ref`` is not a valid reference.
        NotFoundError: no such model or version (the message lists what there is).
    """
    parse_ref(ref)
    version = find_version(project, ref)
    if version is None:
        names = model_names(project)
        known = f"models: {', '.join(names)}" if names else "the repository is empty"
        raise NotFoundError(f"no model {ref!r} in the repository ({known}; see `llmforge models list`)")
    return version


# ---------------------------------------------------------------------------------------------
# writing: lock, atomic files, staging and registration


@contextmanager
def _locked(project: Project, name: str, action: str) -> Iterator[Path]:
    """Hold ``models/<name>/.lock`` while changing the model; yields the model's directory."""
    directory = model_dir(project, name)
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / ".lock"
    stack = ExitStack()
    try:
        stack.enter_context(writer_lock(lock_path, action, LOCK_WAIT_SECONDS))
    except LockError:
        raise LockError(f"model {name} is busy: {describe_holder(lock_path)} is changing it; "
                        "try again shortly") from None
    with stack:
        yield directory


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def staging_dir(project: Project, name: str) -> Path:
    """A fresh, empty ``models/<name>/.staging-<pid>-<id>`` for a training run to write into.

    Call it in the process that writes: the pid in the name is how :func:`cleanup` tells a live
    run from a crashed one. It lies beside the final place, so registering is one rename.
    """
    directory = model_dir(project, name)
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / f".staging-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def _stale(entry: Path) -> bool:
    """A leftover of a crash: a deletion never finished, or staging whose process is gone."""
    if entry.name.startswith(".deleting-"):
        return True
    parts = entry.name.split("-")
    if not entry.name.startswith(".staging-") or len(parts) < 3 or not parts[1].isdigit():
        return False
    return int(parts[1]) != os.getpid() and not pid_alive(int(parts[1]))


def _cleanup_dir(directory: Path) -> list[Path]:
    removed = [entry for entry in directory.iterdir() if entry.is_dir() and _stale(entry)]
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    return removed


def cleanup(project: Project, name: str | None = None) -> list[Path]:
    """Remove what crashed runs left: staging of dead processes, unfinished deletions."""
    root = project.path("models")
    if name:
        names = [validate_name(name)]
    elif root.is_dir():  # not model_names(): a model with no version yet may hold leftovers too
        names = [entry.name for entry in root.iterdir() if entry.is_dir() and _is_name(entry.name)]
    else:
        names = []
    removed: list[Path] = []
    for each in names:
        if model_dir(project, each).is_dir():
            with _locked(project, each, "models cleanup") as directory:
                removed += _cleanup_dir(directory)
    return removed


def hash_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` but its manifest, by POSIX relative path."""
    relative = (path.relative_to(directory).as_posix() for path in sorted(directory.rglob("*")) if path.is_file())
    return {rel: sha256_of(directory / rel) for rel in relative if rel != MANIFEST}


def _check_staging(project: Project, name: str, staging: Path, manifest: dict[str, Any]) -> None:
    if not staging.is_dir():
        raise TrainError(f"staging directory {staging} does not exist")
    if staging.parent.resolve() != model_dir(project, name).resolve() or not staging.name.startswith(".staging-"):
        raise TrainError(f"{staging} is not a staging directory of model {name}: make it with staging_dir()")
    missing = [key for key in REQUIRED_FIELDS if not manifest.get(key)]
    if missing:
        raise TrainError(f"the manifest of {name} lacks {', '.join(missing)}")
    if not (staging / "adapter").is_dir():
        raise TrainError(f"{staging} holds no adapter/ directory: nothing to register")


def register_version(project: Project, name: str, staging: Path, manifest: dict[str, Any]) -> ModelVersion:
    """Turn a complete staging directory into the model's next version, atomically.

    The files are hashed into ``manifest["files"]`` before the lock is taken; under the lock the
    next number is chosen, manifest.json written into the staging directory and the directory
    renamed to ``v<N>``. Numbers are never reused, even after a deletion.

    Raises:
        TrainError: the manifest lacks base/dataset/backend, there is no adapter/, or ``staging``
            is not a staging directory of this model.
        NotFoundError: the manifest's parent is not in the repository.
    """
    staging = Path(staging)
    _check_staging(project, name, staging, manifest)
    parent = get_version(project, str(manifest["parent"])).ref if manifest.get("parent") else None
    files = hash_files(staging)
    with _locked(project, name, "models register") as directory:
        counter = directory / ".counter"
        last = counter.read_text().strip() if counter.is_file() else ""
        number = max([int(last) if last.isdigit() else 0, *_version_numbers(directory)]) + 1
        full = {"created_at": _now(), "metrics": {}, "exports": {}, **manifest,
                "name": name, "version": number, "parent": parent, "files": files}
        _write_manifest(staging, full)
        atomic_write_text(counter, f"{number}\n")
        os.rename(staging, directory / f"v{number}")
        fsync_dir(directory)
        _cleanup_dir(directory)
        return _load(name, directory, number, _promoted_number(directory))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _deep_merge(into: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(into)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def update_manifest(project: Project, ref: str, changes: dict[str, Any]) -> ModelVersion:
    """Deep-merge ``changes`` into a version's manifest (metrics after evaluation, exports).

    Each string in ``changes["exports"]`` that names a file inside the version is hashed into
    ``files``, so an export is verified like the adapter. ``name``, ``version`` and ``files`` are
    the registry's own and cannot be changed.
    """
    fixed = {"name", "version", "files"} & set(changes)
    if fixed:
        raise UsageError(f"the registry keeps {', '.join(sorted(fixed))} of a manifest itself")
    version = get_version(project, ref)
    hashes = {rel: sha256_of(version.path / rel) for rel in _export_paths(version.path, changes.get("exports"))}
    with _locked(project, version.name, "models update"):
        current = get_version(project, version.ref).manifest
        merged = _deep_merge(current, changes)
        merged["files"] = {**current.get("files", {}), **hashes}
        _write_manifest(version.path, merged)
    return get_version(project, version.ref)


def _export_paths(root: Path, exports: Any) -> list[str]:
    if not isinstance(exports, dict):
        return []
    paths = []
    for value in exports.values():
        if isinstance(value, str) and (root / value).is_file():
            if not (root / value).resolve().is_relative_to(root.resolve()):
                raise UsageError(f"export {value!r} lies outside the version directory {root}")
            paths.append(Path(value).as_posix())
    return paths


def verify_files(version: ModelVersion) -> list[str]:
    """What is wrong with a version's files against its manifest hashes (empty: all good)."""
    files = version.manifest.get("files")
    if not files:
        return [f"{version.ref}: manifest.json is missing, unreadable or lists no files"]
    problems = []
    for rel, expected in sorted(files.items()):
        path = version.path / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_of(path) != expected:
            problems.append(f"{rel}: changed since it was registered (sha256 differs)")
    return problems


# ---------------------------------------------------------------------------------------------
# promotion and deletion


def _perplexity(version: ModelVersion, key: str = "eval_perplexity") -> float | None:
    value = (version.manifest.get("metrics") or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _reference(project: Project, version: ModelVersion) -> tuple[str, float | None]:
    """What a version must not be worse than: its parent, else the base model it was trained on."""
    parent = version.manifest.get("parent")
    if parent and (like_for_like := _perplexity(version, "parent_eval_perplexity")) is not None:
        return f"{parent} (measured on {version.ref}'s held-out split)", like_for_like
    found = find_version(project, parent) if parent else None
    if found is not None:
        return found.ref, _perplexity(found)
    return "the base model", _perplexity(version, "base_eval_perplexity")


def check_promotable(project: Project, version: ModelVersion) -> None:
    """Raise TrainError when ``version`` is unevaluated or worse than its parent (or base)."""
    mine = _perplexity(version)
    against, theirs = _reference(project, version)
    if mine is None:
        raise TrainError(f"{version.ref} is not evaluated: run `llmforge train eval {version.ref}` or pass --force")
    if theirs is None:
        raise TrainError(f"{against} has no eval perplexity to compare with: run `llmforge train eval "
                         f"{version.ref}` (it measures the parent on the same split) or pass --force")
    if mine > theirs:
        raise TrainError(f"{version.ref} is worse than {against}: eval perplexity {mine:.4g} vs {theirs:.4g} "
                         "(lower is better); pass --force to promote it anyway")


def promote(project: Project, ref: str, *, force: bool = False) -> ModelVersion:
    """Make ``ref`` the version that the bare model name serves.

    Raises:
        TrainError: files fail verification (even with ``force``), or without ``force``: the
            version is not evaluated, or its eval perplexity is above its parent's (base's).
    """
    version = get_version(project, ref)
    problems = verify_files(version)
    if problems:
        raise TrainError(f"cannot promote {version.ref}: {'; '.join(problems)}")
    if not force:
        check_promotable(project, version)
    with _locked(project, version.name, "models promote") as directory:
        get_version(project, version.ref)  # still there
        atomic_write_text(directory / PROMOTED, f"v{version.version}\n")
    return get_version(project, version.ref)


def children(project: Project, ref: str) -> list[ModelVersion]:
    """Versions (of any model) whose parent is ``ref``."""
    return [v for v in list_versions(project) if v.manifest.get("parent")
            and _same_ref(project, str(v.manifest["parent"]), ref)]


def _same_ref(project: Project, parent: str, ref: str) -> bool:
    try:
        return parse_ref(parent) == parse_ref(ref)
    except UsageError:
        return False


def check_deletable(project: Project, ref: str, *, force: bool = False) -> ModelVersion:
    """The version ``ref`` names if :func:`delete_version` would delete it; raise why not otherwise."""
    name, number = parse_ref(ref)
    if number is None:
        raise UsageError(f"name the version to delete: {name}@vN (see `llmforge models list {name}`)")
    version = get_version(project, ref)
    if force:
        return version
    if version.promoted:
        raise TrainError(f"{version.ref} is the promoted version of {name}: promote another first or pass --force")
    kids = children(project, version.ref)
    if kids:
        raise TrainError(f"{version.ref} is the parent of {', '.join(k.ref for k in kids)}: pass --force to "
                         "delete it anyway (their lineage will end there)")
    return version


def delete_version(project: Project, ref: str, *, force: bool = False) -> ModelVersion:
    """Delete one version (``name@vN``); without ``force`` refuse the promoted one or a parent.

    The directory is renamed out of sight first, then removed, so no half-deleted version is
    ever visible; deleting the promoted version with ``force`` un-promotes the model.
    """
    name = get_version(project, ref).name  # before the lock, which would create models/<name>/
    with _locked(project, name, "models delete") as directory:
        version = check_deletable(project, ref, force=force)
        if version.promoted:
            (directory / PROMOTED).unlink()
        doomed = directory / f".deleting-{uuid.uuid4().hex[:12]}"
        os.rename(version.path, doomed)
        fsync_dir(directory)
        shutil.rmtree(doomed, ignore_errors=True)
    return version


# ---------------------------------------------------------------------------------------------
# lineage and serving


def _ancestry(project: Project, version: ModelVersion) -> tuple[list[ModelVersion], str | None]:
    """``version``, its parent, its parent's parent …; and the ref of a parent that is gone."""
    chain = [version]
    while parent := chain[-1].manifest.get("parent"):
        try:
            found = find_version(project, str(parent))
        except NotFoundError:
            found = None
        if found is None:
            return chain, str(parent)
        if any(found.ref == seen.ref for seen in chain):
            break  # a loop: only a hand-edited manifest can make one
        chain.append(found)
    return chain, None


def _summary(version: ModelVersion) -> dict[str, Any]:
    dataset = version.manifest.get("dataset") or {}
    return {"ref": version.ref, "created_at": version.manifest.get("created_at"),
            "backend": version.manifest.get("backend"), "eval_perplexity": _perplexity(version),
            "dataset": {"name": dataset.get("name"), "sha256": dataset.get("sha256"),
                        "documents": len(dataset.get("documents") or [])}}


def _documents(project: Project, ids: list[str]) -> list[dict[str, Any]]:
    """Each document id with its source path and title from the catalog (None where deleted)."""
    if not ids:
        return []
    with project.catalog() as conn:
        rows = conn.execute("SELECT id, source_path, title FROM documents WHERE id IN "
                            f"({', '.join('?' * len(ids))})", ids).fetchall()
    found = {doc: (source_path, title) for doc, source_path, title in rows}
    return [{"id": doc, "source_path": found.get(doc, (None, None))[0], "title": found.get(doc, (None, None))[1],
             "in_catalog": doc in found} for doc in ids]


def lineage(project: Project, ref: str) -> dict[str, Any]:
    """Where a version came from: the chain of parents down to the base model, its dataset, and
    every document whose text went into it (through its own dataset or an ancestor's)."""
    version = get_version(project, ref)
    chain, missing_parent = _ancestry(project, version)
    ids = [str(doc) for each in chain for doc in (each.manifest.get("dataset") or {}).get("documents") or []]
    dataset = version.manifest.get("dataset") or {}
    return {"ref": version.ref, "chain": [_summary(each) for each in chain], "missing_parent": missing_parent,
            "base": version.manifest.get("base") or {},   # parents share it (training refuses otherwise)
            "dataset": {key: dataset.get(key) for key in ("name", "sha256", "train_rows", "eval_rows")},
            "documents": _documents(project, list(dict.fromkeys(ids)))}


def recorded_path(project: Project, value: Any) -> Path | None:
    """A path as a manifest records it: ``~`` expanded, a relative one under the project root
    (None when none is recorded)."""
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else project.root / path


def _base_gguf(project: Project, version: ModelVersion) -> Path | None:
    """The base model's GGUF (a packaged base is assembled into the machine cache when it is not there yet)."""
    base = version.manifest.get("base") or {}
    path = recorded_path(project, base.get("gguf"))
    if path and path.is_file():
        return path
    if base.get("spec") in PACKAGED:
        return assemble(str(base["spec"]))
    return None


def serving_files(project: Project, ref: str | ModelVersion) -> tuple[Path, Path | None]:
    """The GGUF to load and the LoRA GGUF to apply (None for a merged export), for a version or
    its reference.

    Raises:
        NotFoundError: the version has no GGUF export, or its base GGUF is gone.
    """
    version = ref if isinstance(ref, ModelVersion) else get_version(project, ref)
    exports = version.manifest.get("exports") or {}
    kind = next((key for key in ("merged_gguf", "adapter_gguf") if exports.get(key)), None)
    if kind is None:
        raise NotFoundError(f"model {version.ref} has no GGUF export: run `llmforge models export {version.ref}`")
    exported = version.path / str(exports[kind])
    if not exported.is_file():
        raise NotFoundError(f"{version.ref}: its export {exports[kind]} is missing: run "
                            f"`llmforge models export {version.ref}` again")
    if kind == "merged_gguf":
        return exported, None
    base = _base_gguf(project, version)
    if base is None:
        raise NotFoundError(f"{version.ref}: its base GGUF ({(version.manifest.get('base') or {}).get('gguf')}) "
                            "is missing: restore it, or export a merged GGUF while it is there")
    return base, exported
