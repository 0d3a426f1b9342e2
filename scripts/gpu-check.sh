#!/usr/bin/env bash
# The Unsloth path end to end on a CUDA machine, in a few minutes, with the figures issue 18 asks for:
#   1. a small dataset from the bundled sample documents;
#   2. a short LoRA run with --backend unsloth, and the same run with --backend peft (transformers +
#      peft) on the same GPU, same base, data and recipe;
#   3. evaluation of the Unsloth version, GGUF adapter export (verified against transformers in
#      llama.cpp), promotion, and one answer served by llama.cpp with that adapter;
#   4. the `gpu` tests; then one JSON line of figures: seconds per step of each backend and their
#      ratio, time to the first step, peak GPU memory and peak RSS, the export's check.
#
#   scripts/gpu-check.sh              (after scripts/setup.sh and pip install -e '.[gpu]')
#
# Environment: PYTHON (default .venv/bin/python), GPU_CHECK_BASE (default qwen2.5-coder-0.5b-instruct),
# GPU_CHECK_STEPS (default 30). Prints one "gpu-check: ..." line per stage on stderr; exits 2 when
# there is no CUDA GPU or no Unsloth, non-zero when any stage fails. Written without a GPU at hand:
# it has not been run yet.
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
print("gpu-check: device", torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
import unsloth  # noqa: F401  (fails on machines without an NVIDIA GPU)
print("gpu-check: unsloth", getattr(unsloth, "__version__", "?"), flush=True)
PY

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export LLMFORGE_CACHE="${LLMFORGE_CACHE:-$work/cache}"   # the base is prepared once, for both backends
lf() { "$python" -m llmforge --project "$work/project" "$@"; }
started=$SECONDS

"$python" -m llmforge init "$work/project" >/dev/null
lf ingest examples/sample/operations-handbook.md examples/sample/operations-handbook-ar.txt \
    examples/sample/emergency-ar-cp1256.txt --json >/dev/null
lf structure --json >/dev/null
say "corpus ready ($((SECONDS - started)) s)"
lf train data build --eval-fraction 0.34 --json > "$work/dataset.json"
say "dataset: $(tr -d '\n' < "$work/dataset.json" | head -c 300)"

# The packaged GGUF is assembled and dequantised once (into $LLMFORGE_CACHE) before anything is
# timed, so neither backend's figures include it.
"$python" - "$work/project" "$base" <<'PY'
import sys, time
from llmforge.project import Project
from llmforge.train.base import resolve_base
started = time.perf_counter()
base = resolve_base(Project(sys.argv[1]), sys.argv[2])
print(f"gpu-check: base {base.spec} ready in {time.perf_counter() - started:.0f} s: {base.hf_dir}", file=sys.stderr)
PY

for backend in unsloth peft; do
    launched=$SECONDS
    lf train run --name "gpu-$backend" --backend "$backend" --base "$base" --max-steps "$steps" \
        --checkpoint-steps 10 --json > "$work/run-$backend.json"
    say "trained with $backend in $((SECONDS - launched)) s: $("$python" -c \
        'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$work/run-$backend.json")"
done

lf train eval gpu-unsloth --max-qa 5 --json > "$work/eval.json"
say "evaluated: $("$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["deltas"]["vs_base"], r["promotable_reason"])' "$work/eval.json")"
lf models export gpu-unsloth --kind adapter --json > "$work/export.json"
say "exported: $(tr -d '\n' < "$work/export.json" | head -c 400)"
lf models promote gpu-unsloth --force --json >/dev/null
lf ask "How often are chlorine readings recorded?" --model gpu-unsloth --json > "$work/ask.json"
say "answer from llama.cpp with the adapter: $(tr -d '\n' < "$work/ask.json" | head -c 300)"
say "end to end in $((SECONDS - started)) s"

"$python" -m pytest -m gpu -q -p no:cacheprovider tests/train

"$python" - "$work" <<'PY'
import json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
figures = {}
for backend in ("unsloth", "peft"):
    job = json.loads((work / f"run-{backend}.json").read_text())
    manifest = json.loads(next((work / "project" / "models" / f"gpu-{backend}").glob("v*/manifest.json")).read_text())
    log = (work / "project" / "runs" / job["id"] / "train.log").read_text()
    first = re.search(r"step 1/\d+ .*", log)
    phases = {m.group(1): float(m.group(2)) for m in re.finditer(r"\d\d:\d\d:\d\d (.+?): done in ([\d.]+) s", log)}
    training = manifest["training"]
    figures[backend] = {
        "seconds_per_step": round(training["seconds"] / training["steps"], 3),
        "tokens_per_s": training["tokens_per_s"],
        "peak_gpu_mb": round(manifest["metrics"].get("peak_gpu_mb", 0)),
        "peak_rss_mb": round(manifest["metrics"]["peak_rss_mb"]),
        "loading_s": next((s for name, s in phases.items() if name.startswith("loading ")), None),
        "evaluation_s": next((s for name, s in phases.items() if name.startswith("evaluating ")), None),
        "first_step_line": first.group(0) if first else None,
    }
export = json.loads((work / "export.json").read_text())
summary = {
    "unsloth": figures["unsloth"], "peft": figures["peft"],
    "step_time_ratio_unsloth_over_peft": round(figures["unsloth"]["seconds_per_step"]
                                               / figures["peft"]["seconds_per_step"], 3),
    "export_ok": export["verified"]["ok"],
    "adapter_changes_output": export["verified"].get("adapter_changes_output"),
}
print(json.dumps(summary))
PY
