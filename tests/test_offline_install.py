"""The air-gap install path: scripts/install-offline.sh installs from a wheelhouse and nothing else.

A wheelhouse is built here from llmforge's own wheel and a tiny generated dependency; the script
must verify SHA256SUMS before touching anything, and must ignore every other source of packages
(pip.conf, PIP_* variables), which decoy sources offering a newer ``tinydep`` would reveal.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import llmforge

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "install-offline.sh"
BUILD = REPO / "scripts" / "build-wheelhouse.sh"
SCRIPT_TIMEOUT_S = 300


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def make_wheel(directory: Path, name: str, version: str) -> Path:
    """Write a valid pure-Python wheel holding one module ``name`` with ``VERSION = version``."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                 "Summary: A test dependency made by test_offline_install.\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: llmforge-tests\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},{_record_hash(text.encode())},{len(text.encode())}" for path, text in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def write_sha256sums(wheelhouse: Path) -> None:
    """SHA256SUMS exactly as build-wheelhouse.sh writes it: `sha256sum` output, relative names."""
    names = sorted(p.name for p in wheelhouse.iterdir() if p.is_file() and p.name != "SHA256SUMS")
    sums = subprocess.run(["sha256sum", *names], cwd=wheelhouse, check=True,
                          capture_output=True, text=True).stdout
    (wheelhouse / "SHA256SUMS").write_text(sums)


def pip_isolated_env() -> dict[str, str]:
    """The test's environment without pip settings that could reach other package sources."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def build_own_wheel(wheelhouse: Path, scratch: Path) -> Path:
    """Build llmforge's wheel, without network or build isolation, from a clean copy of the source.

    A copy keeps setuptools' build/ and egg-info out of the checkout, and a stale build/ out of
    the wheel.
    """
    source = scratch / "llmforge-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheelhouse), str(source)],
                   check=True, env=pip_isolated_env(), timeout=SCRIPT_TIMEOUT_S)
    (wheel,) = wheelhouse.glob("llmforge-*.whl")
    return wheel


def plant_decoys(tmp_path: Path) -> dict[str, str]:
    """Offer tinydep 9.0 through every pip setting the script must ignore; return the env."""
    decoys = tmp_path / "decoy-wheels"
    decoys.mkdir()
    make_wheel(decoys, "tinydep", "9.0")
    config = f"[global]\nfind-links = {decoys}\n"
    decoy_config = tmp_path / "decoy-pip.conf"
    decoy_config.write_text(config)
    user_config = Path(os.environ["HOME"]) / ".config" / "pip" / "pip.conf"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text(config)
    env = dict(os.environ)
    env.update(PIP_CONFIG_FILE=str(decoy_config), PIP_FIND_LINKS=str(decoys),
               PIP_EXTRA_INDEX_URL=decoys.as_uri(), PYTHON=sys.executable)
    return env


@functools.cache
def no_network_prefix() -> tuple[str, ...]:
    """``unshare --net`` where this user may make a network namespace (root, as in CI).

    Inside it the install has no interface but loopback, so any download attempt fails at once;
    elsewhere the decoys still show that no source but the wheelhouse was used.
    """
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return (unshare, "--net")
    return ()


def run_install(*args: str, env: dict[str, str] | None = None,
                offline: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = no_network_prefix() if offline else ()
    return subprocess.run([*prefix, "bash", str(INSTALL), *args], capture_output=True, text=True,
                          env=env, timeout=SCRIPT_TIMEOUT_S)


def venv_python(venv: Path, code: str) -> str:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                            text=True, check=True, timeout=60)
    return result.stdout.strip()


@pytest.fixture
def tiny_wheelhouse(tmp_path: Path) -> Path:
    """A verified wheelhouse of two generated wheels (no llmforge): enough to test verification."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    make_wheel(wheelhouse, "tinydep", "1.0")
    make_wheel(wheelhouse, "otherdep", "2.0")
    write_sha256sums(wheelhouse)
    return wheelhouse


def test_installs_from_the_wheelhouse_alone(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    build_own_wheel(wheelhouse, tmp_path)
    make_wheel(wheelhouse, "tinydep", "1.0")
    write_sha256sums(wheelhouse)
    venv = tmp_path / "venv"
    env = plant_decoys(tmp_path)

    result = run_install("--wheelhouse", str(wheelhouse), "--venv", str(venv), "--no-deps",
                         "llmforge", "tinydep", env=env, offline=True)

    assert result.returncode == 0, result.stderr
    assert "all 2 files match" in result.stderr
    assert f"installed llmforge {llmforge.__version__}" in result.stderr
    assert venv_python(venv, "import tinydep; print(tinydep.VERSION)") == "1.0"
    version, location = venv_python(
        venv, "import llmforge; print(llmforge.__version__); print(llmforge.__file__)").splitlines()
    assert version == llmforge.__version__
    assert Path(location).is_relative_to(venv)

    # A newer wheelhouse carried in later upgrades the same venv.
    make_wheel(wheelhouse, "tinydep", "1.1")
    write_sha256sums(wheelhouse)
    again = run_install("--wheelhouse", str(wheelhouse), "--venv", str(venv), "--no-deps",
                        "tinydep", env=env, offline=True)
    assert again.returncode == 0, again.stderr
    assert venv_python(venv, "import tinydep; print(tinydep.VERSION)") == "1.1"


def _damage(wheelhouse: Path, how: str) -> str:
    """Damage the wheelhouse one way; return the file name the error must name."""
    wheel = wheelhouse / "tinydep-1.0-py3-none-any.whl"
    if how == "flipped byte":
        data = bytearray(wheel.read_bytes())
        data[len(data) // 2] ^= 0x01
        wheel.write_bytes(bytes(data))
    elif how == "missing file":
        wheel.unlink()
    else:  # an unlisted wheel that pip would otherwise pick up unverified
        wheel = make_wheel(wheelhouse, "sneaky", "1.0")
    return wheel.name


@pytest.mark.parametrize("how", ["flipped byte", "missing file", "unlisted file"])
def test_damaged_wheelhouse_installs_nothing(tiny_wheelhouse: Path, tmp_path: Path,
                                             how: str) -> None:
    name = _damage(tiny_wheelhouse, how)
    venv = tmp_path / "venv"

    result = run_install("--wheelhouse", str(tiny_wheelhouse), "--venv", str(venv), "tinydep")

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("install-offline: error: ")
    assert name in last_line
    assert not venv.exists()


def test_missing_sha256sums_is_refused(tiny_wheelhouse: Path, tmp_path: Path) -> None:
    (tiny_wheelhouse / "SHA256SUMS").unlink()
    venv = tmp_path / "venv"

    result = run_install("--wheelhouse", str(tiny_wheelhouse), "--venv", str(venv), "tinydep")

    assert result.returncode != 0
    assert "SHA256SUMS is missing: refusing to install" in result.stderr
    assert not venv.exists()


def test_script_on_the_medium_finds_its_own_wheelhouse(tiny_wheelhouse: Path,
                                                       tmp_path: Path) -> None:
    """Copied into the wheelhouse (as build-wheelhouse.sh does), it needs no --wheelhouse."""
    shutil.copy2(INSTALL, tiny_wheelhouse / "install-offline.sh")
    write_sha256sums(tiny_wheelhouse)
    name = _damage(tiny_wheelhouse, "flipped byte")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = subprocess.run(["bash", str(tiny_wheelhouse / "install-offline.sh"), "tinydep"],
                            cwd=elsewhere, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert f"error: {name}: checksum mismatch" in result.stderr
    assert not (elsewhere / ".venv").exists()


@pytest.mark.parametrize("script", [INSTALL, BUILD], ids=lambda p: p.name)
def test_scripts_show_help(script: Path) -> None:
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: ")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_pass_shellcheck() -> None:
    result = subprocess.run(["shellcheck", str(INSTALL), str(BUILD)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout
