#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: fast and slow tests; `gpu` tests run
# where CUDA is present and skip elsewhere. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
exec .venv/bin/python -m pytest -m "slow or not slow" "$@"
