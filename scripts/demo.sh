#!/usr/bin/env bash
# Set up llmforge and run the pipeline end to end on the bundled sample documents, from ingestion
# to a fine-tuned model version served with its GGUF adapter
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
step "llmforge ask \"How often is the chlorine analyser checked?\"   (packaged Qwen2.5-Coder-1.5B, cites its sources)"
lf ask "How often is the chlorine analyser checked?"
step "llmforge ask \"ما هو رقم مكتب العمليات؟\""
lf ask "ما هو رقم مكتب العمليات؟"
step "llmforge ask \"Who won the 1998 football world cup?\"   (not in the documents: says so)"
lf ask "Who won the 1998 football world cup?"
step "llmforge tls init; llmforge keys create   (a local CA and server certificate; an API key, printed once)"
lf tls init
key="$(lf keys create --name demo --role analyst --json | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["key"])')"
echo "key ${key:0:12}... (analyst)"
ca="$demo/secrets/tls/ca.pem"
step "llmforge serve --tls   (briefly, on a free loopback port: HTTPS with the key, openai client trusting the CA)"
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
.venv/bin/llmforge -q -p "$demo" serve --tls --port "$port" & server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 150); do curl -fsS --cacert "$ca" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS --cacert "$ca" "https://127.0.0.1:$port/healthz"; echo
echo "without a key: HTTP $(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "https://127.0.0.1:$port/v1/models")"
curl -fsS --cacert "$ca" "https://127.0.0.1:$port/v1/search" -H "Authorization: Bearer $key" \
    -H 'content-type: application/json' -d '{"query": "turbidity limit", "k": 1}' | .venv/bin/python -c \
    'import json, sys; hit = json.load(sys.stdin)["hits"][0]; print(hit["citation"], "|", hit["snippet"])'
.venv/bin/python examples/ask_https.py "https://127.0.0.1:$port" "$ca" "$key"
kill "$server"; wait "$server" 2>/dev/null || true
step "llmforge audit verify   (every request above is in the hash-chained audit log)"
lf audit verify
step "llmforge train data build   (training dataset from the chunks, split by document)"
lf train data build
step "llmforge train run --max-steps 2 --seq-len 128   (LoRA on the default base, Qwen2.5-Coder-0.5B; a CPU demonstration)"
# Two steps at a learning rate high enough to show in two steps; each phase prints its duration, and
# the base model comes from the machine cache (prepared on the first run on this machine only).
lf train run --name demo --max-steps 2 --seq-len 128 --grad-accum 1 --lr 2e-3
step "llmforge models export demo   (GGUF LoRA adapter, verified against transformers in llama.cpp)"
# "verified" is the check on the start of the demo's training text: adapter_changes_output true means
# the two steps changed the model's greedy continuation there, and ok true that llama.cpp applies
# the adapter as transformers does.
lf models export demo
step "llmforge models list"
COLUMNS="${COLUMNS:-110}" lf models list
step "llmforge ask \"How often is the chlorine analyser checked?\" --model demo   (served from the new version)"
lf ask "How often is the chlorine analyser checked?" --model demo
step "llmforge entities"
COLUMNS="${COLUMNS:-110}" lf entities --limit 25
step "llmforge status"
lf status
