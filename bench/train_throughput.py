"""Training speed: ``llmforge``'s LoRA loop against a plain transformers ``Trainer`` + peft script.

    .venv/bin/python bench/train_throughput.py [--base tiny|NAME|PATH] [--steps N] [--seq-len 256] [--json]

Both sides train the same LoRA (same targets, rank, seed) on the same token sequences (the
project's recipe packs the bundled sample text into ``--seq-len`` blocks; the Trainer gets exactly
those blocks), with the same batch size, accumulation, learning rate and fp32 on CPU, for the same
number of optimizer steps. Printed: tokens/s of each, the ratio (llmforge / Trainer; >= 1.0 means
no overhead of ours) for the whole call (ours also writes a resumable checkpoint after the last
step) and for the training loop alone (each side's own timer), steps/s, and peak memory of each
run (measured in a fresh child process per side, so one side's allocations do not count against
the other).

``--base tiny`` (default) builds a small Qwen2-architecture model in code (~seconds per step);
``--base qwen2.5-coder-0.5b-instruct`` (or ``gemma3-270m``, or a model directory) measures a real
model: minutes per step on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]


def corpus_rows() -> list[dict]:
    """Continued-pretraining rows from the bundled sample documents (text files only)."""
    rows = []
    for path in sorted(p for p in (REPO / "examples" / "sample").rglob("*") if p.suffix in (".txt", ".md")):
        rows.append({"kind": "text", "text": path.read_text(encoding="utf-8", errors="replace")})
    if not rows:
        from llmforge.testing.tiny import SAMPLE_TEXT

        rows = [{"kind": "text", "text": SAMPLE_TEXT * 50}]
    return rows


def model_dir(base: str, work: Path) -> tuple[Path, str]:
    if base == "tiny":
        from llmforge.testing.tiny import build_tiny_model

        texts = [r["text"] for r in corpus_rows()]
        return build_tiny_model(work / "tiny", texts, vocab_size=4000, hidden_size=256, layers=4), "qwen2"
    from llmforge.project import init_project
    from llmforge.train.base import resolve_base

    project = init_project(work / "project")
    resolved = resolve_base(project, base)
    return resolved.hf_dir, resolved.architecture


def side(which: str, directory: Path, architecture: str, args: argparse.Namespace) -> dict:
    """One measured run (in this process): ours or the Trainer's."""
    import torch

    from llmforge.train import backends
    from llmforge.train.loop import train_lora
    from llmforge.train.recipe import Recipe, encode_rows

    torch.set_num_threads(args.threads or torch.get_num_threads())
    recipe = Recipe(seq_len=args.seq_len, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=2e-4,
                    max_steps=args.steps, warmup_steps=1, checkpoint_steps=10_000, lora_dropout=0.0)

    class Base:
        hf_dir = directory

    model, tokenizer = backends.BACKENDS["peft"].load(Base, recipe)
    rows = corpus_rows()
    sequences = encode_rows(tokenizer, architecture, rows, recipe.seq_len)
    needed = args.steps * args.grad_accum * args.batch_size
    sequences = [s for s in sequences if len(s.input_ids) == recipe.seq_len][:needed]
    if len(sequences) < needed:
        sequences = (sequences * (needed // max(len(sequences), 1) + 1))[:needed]
    tokens = sum(len(s.input_ids) for s in sequences)
    with tempfile.TemporaryDirectory() as run:
        if which == "llmforge":
            started = time.perf_counter()
            outcome = train_lora(model, tokenizer, architecture, [], [], recipe, Path(run),
                                 encoded=(sequences, []))
            seconds = time.perf_counter() - started
            loop_seconds = outcome.seconds   # the steps themselves (not the final checkpoint)
            tokens = outcome.tokens
        else:
            from datasets import Dataset
            from transformers import Trainer, TrainingArguments, default_data_collator

            data = Dataset.from_dict({"input_ids": [s.input_ids for s in sequences],
                                      "labels": [s.labels for s in sequences],
                                      "attention_mask": [[1] * len(s.input_ids) for s in sequences]})
            training_args = TrainingArguments(
                output_dir=run, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
                learning_rate=2e-4, max_steps=args.steps, warmup_steps=1, lr_scheduler_type="linear",
                logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True, seed=0,
                dataloader_num_workers=0, disable_tqdm=True, max_grad_norm=1.0, weight_decay=0.0)
            trainer = Trainer(model=model, args=training_args, train_dataset=data, data_collator=default_data_collator)
            started = time.perf_counter()
            output = trainer.train()
            seconds = time.perf_counter() - started
            loop_seconds = output.metrics["train_runtime"]   # Trainer's own measure of its loop
    return {"side": which, "steps": args.steps, "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1), "steps_per_s": round(args.steps / seconds, 4),
            "loop_seconds": round(loop_seconds, 3), "loop_tokens_per_s": round(tokens / loop_seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per side; the best counts")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, directory, architecture = args.child
        print(json.dumps(side(which, Path(directory), architecture, args)))
        return

    with tempfile.TemporaryDirectory() as work:
        directory, architecture = model_dir(args.base, Path(work))
        forwarded = [a for a in sys.argv[1:] if a != "--json"]
        results: dict[str, list[dict]] = {"llmforge": [], "trainer": []}
        for _ in range(args.rounds):
            for which in ("trainer", "llmforge"):
                out = subprocess.run([sys.executable, __file__, *forwarded, "--child", which, str(directory),
                                      architecture], check=True, capture_output=True, text=True)
                results[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {which: max(runs, key=lambda r: r["tokens_per_s"]) for which, runs in results.items()}
    ratio = best["llmforge"]["tokens_per_s"] / best["trainer"]["tokens_per_s"]
    loop_ratio = (max(r["loop_tokens_per_s"] for r in results["llmforge"])
                  / max(r["loop_tokens_per_s"] for r in results["trainer"]))
    report = {"base": args.base, "seq_len": args.seq_len, "batch_size": args.batch_size,
              "grad_accum": args.grad_accum, "best": best, "runs": results, "ratio_tokens_per_s": round(ratio, 3),
              "ratio_loop_tokens_per_s": round(loop_ratio, 3)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"base {args.base}, seq_len {args.seq_len}, batch {args.batch_size} x accum {args.grad_accum}, "
          f"{args.steps} steps, best of {args.rounds}")
    for which, row in best.items():
        print(f"  {which:<9} {row['tokens_per_s']:>9.1f} tokens/s  {row['steps_per_s']:.4f} steps/s  "
              f"peak RSS {row['peak_rss_mb']} MB")
    print(f"ratio llmforge / Trainer tokens/s, whole call (ours includes the final checkpoint): {ratio:.3f}")
    print(f"ratio llmforge / Trainer tokens/s, training loop only (each side's own timer): {loop_ratio:.3f}")


if __name__ == "__main__":
    main()
