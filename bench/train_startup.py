"""Time to first step: ``llmforge train run`` against a plain transformers + peft script, same model.

    .venv/bin/python bench/train_startup.py [--base qwen2.5-coder-0.5b-instruct] [--passages 48]
        [--rounds 2] [--project DIR] [--json]

Both sides start as a fresh process and are timed by this script from their launch to the end of
their first optimizer step, on the same data (the project's dataset), the same base model (the
float weights llmforge keeps in the machine cache; the base is prepared once on this machine
before anything is timed, and that one-off cost is reported apart), the same LoRA (targets, rank,
alpha, dropout) and the same first step (``train.batch_size`` x ``train.grad_accum`` sequences of
``train.seq_len`` tokens, fp32 on a CPU):

* llmforge: ``llmforge train run --max-steps 1`` (job, locks, tokenizer check against llama.cpp,
  llama.cpp's token ids, the whole training split tokenised); its first step is the moment the
  run's log shows ``step 1/``. The run then goes on to evaluate, save and register, and those
  phases are reported from its log too (what a short run costs in all).
* plain: import torch, transformers, peft and datasets, read the same Arrow split, tokenise every
  training row with the transformers tokenizer, load the model, wrap it with peft, one AdamW step.

Printed: the seconds of each side per round, the ratio llmforge / plain of the best of each
(target <= 1.2), and the phase durations of llmforge's last run (earlier rounds are stopped after
their first step). The machine's load average is
printed too: on a shared machine both sides slow down together, but not always equally.

Without ``--project`` a fresh project holds ``--passages`` XQuAD paragraphs per language (English
and Arabic), ingested, structured, and a dataset of their chunks plus XQuAD's own questions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO), str(REPO / "bench")]
FIRST_STEP = "first step done"
NAME = "bench-startup"


def prepare(args: argparse.Namespace, work: Path) -> tuple[Any, Any]:
    """The project (with its dataset) and the base, prepared once on this machine."""
    from llmforge.project import Project
    from llmforge.train.base import resolve_base
    from llmforge.train.data import build_dataset, load_dataset_info
    from train_quality import xquad_project

    root = Path(args.project).resolve() if args.project else work
    existing = next((p for p in (root, root / "project") if (p / "llmforge.toml").is_file()), None)
    if existing is not None:
        project = Project(existing)
        try:
            load_dataset_info(project, NAME)
        except Exception:  # noqa: BLE001 - not built yet
            build_dataset(project, name=NAME)
    else:   # a fresh XQuAD project, kept at --project when one is named (to time again later)
        root.mkdir(parents=True, exist_ok=True)
        project, gold, _ = xquad_project(root, args.passages, ["en", "ar"])
        build_dataset(project, name=NAME, synthesize_qa=100_000, eval_fraction=0.15, seed=0, generate=gold)
    started = time.perf_counter()
    base = resolve_base(project, args.base, progress=lambda message: print(f"  {message}", file=sys.stderr))
    print(f"base ready in {time.perf_counter() - started:.1f} s (a one-off per machine when it is not cached): "
          f"{base.hf_dir}", file=sys.stderr)
    return project, base


def time_llmforge(project: Any, base: str, complete: bool) -> tuple[float, float | None, list[str]]:
    """Seconds from launch to the first step, to the end of the run (None when not ``complete``:
    the run is killed after its first step), and the run's phase lines."""
    runs = project.path("runs")
    before = set(runs.glob("*/train.log")) if runs.is_dir() else set()
    command = [sys.executable, "-m", "llmforge", "--project", str(project.root), "--quiet", "train", "run",
               "--name", NAME, "--base", base, "--dataset", NAME, "--max-steps", "1", "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    while process.poll() is None and first is None:
        logs = set(runs.glob("*/train.log")) - before if runs.is_dir() else set()
        if any("step 1/" in log.read_text(encoding="utf-8", errors="replace") for log in logs):
            first = time.perf_counter() - started
        time.sleep(0.05)
    if not complete and first is not None:
        process.kill()   # the scratch job reads as interrupted; nothing else depends on it
        process.communicate()
        return first, None, []
    out, err = process.communicate()
    total = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"llmforge train run failed ({process.returncode}): {err[-2000:]}")
    job = json.loads(out)
    log = (runs / job["id"] / "train.log").read_text(encoding="utf-8")
    phases = [line.split(" ", 2)[2] for line in log.splitlines() if ": done in " in line or "ETA" in line]
    return first or total, total, phases


def first_step_batches(project: Any, base: Any, recipe: dict[str, Any]) -> list[dict[str, list[int]]]:
    """The sequences of llmforge's first step (its token ids, labels and order), so that the plain
    script's first step does the same work."""
    from transformers import AutoTokenizer

    from llmforge.train.base import serving_tokenizer
    from llmforge.train.data import load_dataset_info, open_splits
    from llmforge.train.loop import micro_batches
    from llmforge.train.recipe import encode_rows

    tokenizer = serving_tokenizer(AutoTokenizer.from_pretrained(str(base.hf_dir)), base)
    rows = list(open_splits(load_dataset_info(project, NAME))["train"])
    sequences = encode_rows(tokenizer, base.architecture, rows, recipe["seq_len"])
    batches = micro_batches(sequences, recipe["batch_size"], recipe["seed"], 0)[:recipe["grad_accum"]]
    return [{"input_ids": sequences[i].input_ids, "labels": sequences[i].labels} for batch in batches for i in batch]


def time_plain(base: Any, dataset: Path, recipe: dict[str, Any], batches: Path) -> float:
    command = [sys.executable, __file__, "--child", str(base.hf_dir), str(dataset), json.dumps(recipe), str(batches)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == FIRST_STEP:
            seconds = time.perf_counter() - started
            process.wait()
            return seconds
    sys.exit(f"the plain script ended without a first step (exit {process.wait()})")


def plain_first_step(hf_dir: str, dataset: str, recipe: dict[str, Any], batches: str) -> None:
    """The reference: what a short transformers + peft script does before its first step (which
    trains on the sequences of llmforge's first step, read from ``batches``)."""
    import datasets
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    rows = datasets.load_from_disk(dataset)["train"]
    stream: list[int] = []
    chats = []
    for row in rows:
        if row["kind"] == "text":
            stream += tokenizer(row["text"])["input_ids"] + [tokenizer.eos_token_id]
        else:
            chats.append(tokenizer.apply_chat_template(row["messages"], tokenize=True))
    seq_len = recipe["seq_len"]
    blocks = [stream[i:i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]
    assert blocks or chats
    sequences = json.loads(Path(batches).read_text())
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    config = LoraConfig(r=recipe["lora_r"], lora_alpha=recipe["lora_alpha"], lora_dropout=recipe["lora_dropout"],
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                        task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe["lr"])
    for start in range(0, len(sequences), recipe["batch_size"]):   # batch size 1 (the default): no padding
        batch = sequences[start:start + recipe["batch_size"]]
        ids, labels = torch.tensor([s["input_ids"] for s in batch]), torch.tensor([s["labels"] for s in batch])
        (model(input_ids=ids, labels=labels).loss / recipe["grad_accum"]).backward()
    optimizer.step()
    print(FIRST_STEP, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--passages", type=int, default=48, help="XQuAD paragraphs per language")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per side; the best counts")
    parser.add_argument("--project", help="an existing project (a dataset named bench-startup is built in it), "
                        "or a new folder to keep the XQuAD project in")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        plain_first_step(args.child[0], args.child[1], json.loads(args.child[2]), args.child[3])
        return
    from llmforge.offline import set_offline_env
    from llmforge.train.data import load_dataset_info
    from llmforge.train.recipe import Recipe

    set_offline_env()
    with tempfile.TemporaryDirectory() as work:
        project, base = prepare(args, Path(work))
        recipe = Recipe.from_settings(project.settings).to_dict()
        dataset = load_dataset_info(project, NAME)
        if recipe["batch_size"] != 1:
            sys.exit("the plain script pads nothing: keep train.batch_size 1 for this bench")
        batches = Path(work) / "first-step.json"
        batches.write_text(json.dumps(first_step_batches(project, base, recipe)))
        ours, plain, totals = [], [], []
        phases: list[str] = []
        for round_number in range(args.rounds):
            plain.append(time_plain(base, dataset.path, recipe, batches))
            first, total, phases = time_llmforge(project, args.base, complete=round_number == args.rounds - 1)
            ours.append(first)
            totals += [total] if total is not None else []
    load = os.getloadavg()
    report = {"base": args.base, "recipe": {k: recipe[k] for k in ("seq_len", "batch_size", "grad_accum")},
              "train_rows": dataset.train_rows, "eval_rows": dataset.eval_rows,
              "llmforge_first_step_s": [round(s, 1) for s in ours], "plain_first_step_s": [round(s, 1) for s in plain],
              "ratio": round(min(ours) / min(plain), 3), "llmforge_run_s": [round(s, 1) for s in totals],
              "phases": phases, "load_average": [round(x, 2) for x in load], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"base {args.base}, {dataset.train_rows} train / {dataset.eval_rows} eval rows, "
          f"step = {recipe['batch_size']} x {recipe['grad_accum']} sequences of {recipe['seq_len']} tokens")
    print(f"  time to first step, llmforge train run: {', '.join(f'{s:.1f}' for s in ours)} s")
    print(f"  time to first step, plain transformers + peft: {', '.join(f'{s:.1f}' for s in plain)} s")
    print(f"  ratio llmforge / plain (best of {args.rounds} each): {report['ratio']:.2f}")
    print(f"  the last round's whole 1-step run (evaluation, saving, registering included): {totals[0]:.0f} s")
    for line in phases:
        print(f"    {line}")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
