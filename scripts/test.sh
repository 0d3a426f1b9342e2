#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: fast and slow tests; `gpu` tests run
# where CUDA is present and skip elsewhere. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
# shellcheck lints the shell scripts in a test; install it where we may (CI runs as root).
if ! command -v shellcheck >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ "${LLMFORGE_SKIP_APT:-0}" != 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null \
        || echo "test: shellcheck not installed; its test will skip" >&2
fi
exec .venv/bin/python -m pytest -m "slow or not slow" "$@"
