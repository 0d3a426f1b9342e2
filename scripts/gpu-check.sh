#!/usr/bin/env bash
# The Unsloth path end to end on a CUDA machine, in a few minutes: a small dataset from the bundled
# sample documents, a short LoRA run with --backend unsloth, evaluation, GGUF export (verified in
# llama.cpp), promotion, and one answer served from the new version; then the `gpu` tests.
#
#   scripts/gpu-check.sh              (after scripts/setup.sh and pip install -e '.[gpu]')
#
# Environment: PYTHON (default .venv/bin/python), GPU_CHECK_BASE (default qwen2.5-coder-0.5b-instruct),
# GPU_CHECK_STEPS (default 30). Prints one "gpu-check: ..." line per stage and the figures as JSON.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-.venv/bin/python}"
base="${GPU_CHECK_BASE:-qwen2.5-coder-0.5b-instruct}"
steps="${GPU_CHECK_STEPS:-30}"
say() { printf 'gpu-check: %s\n' "$*" >&2; }

"$python" - <<'PY' || { say "no usable CUDA GPU or Unsloth here"; exit 2; }
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible"
print("gpu-check: device", torch.cuda.get_device_name(0), "torch", torch.__version__)
import unsloth  # noqa: F401  (fails on machines without an NVIDIA GPU)
print("gpu-check: unsloth", getattr(unsloth, "__version__", "?"))
PY

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lf() { "$python" -m llmforge --project "$work/project" "$@"; }
started=$SECONDS

"$python" -m llmforge init "$work/project" >/dev/null
lf ingest examples/sample/operations-handbook.md examples/sample/operations-handbook-ar.txt \
    examples/sample/emergency-ar-cp1256.txt --json >/dev/null
lf structure --json >/dev/null
say "corpus ready ($((SECONDS - started)) s)"
lf train data build --eval-fraction 0.34 --json > "$work/dataset.json"
say "dataset: $(tr -d '\n' < "$work/dataset.json" | head -c 300)"
lf train run --backend unsloth --base "$base" --max-steps "$steps" --checkpoint-steps 10 --json > "$work/run.json"
say "trained ($((SECONDS - started)) s): $("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$work/run.json")"
lf train eval assistant --max-qa 5 --json > "$work/eval.json"
lf models export assistant --kind adapter --json > "$work/export.json"
say "exported: $(tr -d '\n' < "$work/export.json" | head -c 300)"
lf models promote assistant --force --json >/dev/null
lf ask "How often are chlorine readings recorded?" --model assistant --json > "$work/ask.json" || true
say "answer: $(tr -d '\n' < "$work/ask.json" | head -c 300)"
say "end to end in $((SECONDS - started)) s"

"$python" -m pytest -m gpu -q -p no:cacheprovider tests/train
cat "$work/run.json" "$work/eval.json"
