#!/usr/bin/env bash
# Set up llmforge for development or use on a Debian machine with Python 3.11.
#
#   scripts/setup.sh            system packages, .venv/, torch (CPU), llmforge + test tools
#
# Idempotent: a second run checks what is there and returns in seconds.
# Environment: PYTHON (interpreter, default python3.11 or python3), LLMFORGE_TORCH_SPEC
# (default torch==2.13.0; set it to "" to skip torch, e.g. on a CUDA workstation that
# already has the operator's CUDA build), LLMFORGE_SKIP_APT=1 to skip system packages,
# LLMFORGE_SKIP_BROWSER=1 to leave out chromium (the web page's browser tests then skip).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

apt_packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-ara tesseract-ocr-script-arab fonts-dejavu-core)
# Typefaces the OCR tests and bench/ocr_layouts.py render scans in (llmforge.testing.scans).
apt_packages+=(fonts-hosny-amiri fonts-noto-core fonts-kacst)
# Debian's chromium drives the web page's tests through Playwright (pip's playwright, in the test
# extra, never downloads a browser of its own here; fonts-dejavu-core draws Arabic in it).
[ "${LLMFORGE_SKIP_BROWSER:-0}" = 1 ] || apt_packages+=(chromium)
torch_spec="${LLMFORGE_TORCH_SPEC-torch==2.13.0}"

say() { printf 'setup: %s\n' "$*" >&2; }
# pip run quietly; warnings about index locations this machine's pip config names but lacks are noise.
pip_quiet() { .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

install_system_packages() {
    [ "${LLMFORGE_SKIP_APT:-0}" = 1 ] && return 0
    local missing=()
    for pkg in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    say "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    command -v python3.11 >/dev/null 2>&1 && { echo python3.11; return; }
    echo python3
}

create_venv() {
    if [ ! -x .venv/bin/python ]; then
        local py; py="$(pick_python)"
        "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { say "Python 3.11 or newer is required (found $("$py" --version 2>&1))"; exit 1; }
        say "creating .venv with $("$py" --version 2>&1)"
        "$py" -m venv .venv
        pip_quiet install -q --upgrade pip
    fi
}

install_torch() {
    [ -z "$torch_spec" ] && return 0
    .venv/bin/python -c 'import torch' 2>/dev/null && return 0
    say "installing $torch_spec (CPU build where available)"
    pip_quiet install -q "$torch_spec"
}

install_llama_cpp() {
    # llama-cpp-python ships as source and compiles llama.cpp (10-50 minutes here): build it once,
    # portable to any AVX2 x86-64, into a wheel cache outside the repository, and reuse it.
    local wheels="${LLMFORGE_WHEEL_CACHE:-$HOME/.cache/llmforge-wheels}"
    local version installed
    installed="$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)"
    version="${installed:-${LLMFORGE_LLAMA_VERSION:-0.3.36}}"
    mkdir -p "$wheels"
    keep_llama_source "$wheels" "$version"
    [ -n "$installed" ] && .venv/bin/python -c 'import llama_cpp' 2>/dev/null && return 0
    local source="$wheels/llama_cpp_python-$version.tar.gz"
    if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
        say "building llama-cpp-python $version once into $wheels (compiles llama.cpp: 10-50 minutes on 2 cores)"
        # From the kept source archive where there is one, so the wheel and the converters match.
        local what="llama-cpp-python==$version"
        [ -f "$source" ] && what="$source"
        CMAKE_ARGS="${LLMFORGE_LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
            pip_quiet wheel -q --no-deps -w "$wheels" "$what"
    fi
    pip_quiet install -q --no-deps --find-links "$wheels" "llama-cpp-python==$version"
}

keep_llama_source() {
    # GGUF export runs llama.cpp's converter scripts, which ship only in the source archive:
    # keep it next to the wheel (llmforge.train.export looks there). Fetched once, when missing.
    local wheels="$1" version="$2"
    [ -f "$wheels/llama_cpp_python-$version.tar.gz" ] && return 0
    say "keeping the llama-cpp-python $version source archive in $wheels (GGUF export needs its converters)"
    pip_quiet download -q --no-deps --no-binary llama-cpp-python -d "$wheels" "llama-cpp-python==$version" \
        || say "warning: could not download it; GGUF export will ask for it (setting train.llama_cpp_source)"
}

install_project() {
    # Re-install only when the dependency list changed since the last successful run.
    local stamp=.venv/.llmforge-setup-stamp
    local want; want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c 'import llmforge' 2>/dev/null; then
        return 0
    fi
    say "installing llmforge (editable) with test tools"
    pip_quiet install -q -e ".[test]"
    echo "$want" > "$stamp"
}

install_system_packages
create_venv
install_torch
install_llama_cpp
install_project
say "ready: $(.venv/bin/llmforge --version)"
