#!/usr/bin/env bash
# Set up llmforge and run the pipeline end to end on the bundled sample documents
# (examples/sample/: English and Arabic, Markdown, legacy-encoded text, DOCX, scanned PDF and PNG).
# The demo project is created afresh in ./demo-project (or $LLMFORGE_DEMO_DIR).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh

demo="${LLMFORGE_DEMO_DIR:-$repo/demo-project}"
lf() { .venv/bin/llmforge -p "$demo" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
step "llmforge init $demo"
.venv/bin/llmforge init "$demo"
step "llmforge doctor"
lf doctor || true   # optional parts (GPU, models not yet installed) are reported, not fatal
step "llmforge ingest examples/sample --recursive"
lf ingest examples/sample --recursive
step "llmforge ingest examples/sample --recursive   (again: nothing new, all skipped)"
lf ingest examples/sample --recursive
step "llmforge documents list"
COLUMNS="${COLUMNS:-110}" lf documents list
step "llmforge documents show <the Arabic scan>"
id="$(lf documents list --json | .venv/bin/python -c \
    'import json, sys; print(next(d["id"] for d in json.load(sys.stdin) if d["source_path"].endswith("ar-scan.png")))')"
lf documents show "$id"
step "llmforge structure   (chunks, entities, embeddings, full-text indexes)"
lf structure
step "llmforge search \"how often is the chlorine checked?\""
lf search "how often is the chlorine checked?" -k 3
step "llmforge search \"متى تغلق محطة الضخ للصيانة؟\""
lf search "متى تغلق محطة الضخ للصيانة؟" -k 3
step "llmforge search \"what happens when the electricity fails\"   (English question, Arabic answer)"
lf search "what happens when the electricity fails" -k 2 --mode vector
step "llmforge entities"
COLUMNS="${COLUMNS:-110}" lf entities --limit 25
step "llmforge status"
lf status
