"""Fine-tuning quality: held-out perplexity and QA accuracy before and after a short LoRA run.

    .venv/bin/python bench/train_quality.py [--base tiny|NAME|DIR|GGUF] [--steps N] [--max-qa N]
        [--passages N] [--languages en,ar] [--lr LR] [--project DIR [--dataset NAME | --synthesize-qa N]] [--json]

By default a fresh project holds XQuAD passages (``--passages`` per language; English and Arabic
from different paragraphs, so no held-out passage has its translation in training), ingested and
structured. Its dataset is the chunks plus QA pairs: XQuAD's own question for a chunk that holds
its gold answer, standing in for the local model's synthetic pairs (which need llama.cpp and
seconds per pair), with a quarter of the documents held out. ``--project`` uses an existing
project in place instead (it gets a dataset and a model named ``bench-quality``): its dataset
``--dataset``, else one built from its corpus with ``--synthesize-qa`` pairs from the local model.

Then ``--steps`` LoRA steps on ``--base`` and ``evaluate_version``: "before" is the base model,
"after" the fine-tuned version, both on the same held-out sequences and questions. ``tiny`` is a
two-layer model built in code (a minute or two in all); a tiny random model answers nothing
right, so its QA rows only show the machinery works: QA figures need a packaged model
(``--base qwen2.5-coder-0.5b-instruct``: a few minutes of training and about 10 s per answer on
a laptop CPU). Ratios are after/before: below 1 is better for perplexity, above 1 for QA.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

XQUAD = REPO.parent / "shared" / "corpora" / "qa" / "xquad"
NAME = "bench-quality"
TINY_RECIPE = {"seq_len": 128, "grad_accum": 1, "lr": 1e-2, "warmup_steps": 3, "lora_r": 8, "lora_alpha": 16}


def xquad_paragraphs(language: str, count: int, offset: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """``count`` paragraphs (every other one from ``offset``), each with its (question, answer) pairs."""
    data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
    paragraphs = [(p["context"], [(qa["question"], qa["answers"][0]["text"]) for qa in p["qas"]])
                  for article in data for p in article["paragraphs"]][offset::2]
    step = max(1, len(paragraphs) // max(count, 1))
    return paragraphs[::step][:count]


class GoldPairs:
    """``generate`` for ``build_dataset``: an XQuAD question whose gold answer is in the chunk asked
    about, in the model's reply format, instead of a question written by a model."""

    def __init__(self, paragraphs: list[tuple[str, list[tuple[str, str]]]]) -> None:
        from llmforge.text.normalize import search_form

        self.form = lambda text: " ".join(search_form(text).split())
        self.paragraphs = [(self.form(context), qas) for context, qas in paragraphs]
        self.used: set[str] = set()

    def __call__(self, messages: list[dict[str, str]]) -> str:
        chunk = self.form(messages[-1]["content"].split("Passage:\n", 1)[1])
        for context, qas in self.paragraphs:
            if chunk[:80] not in context:
                continue
            for question, answer in qas:
                if question not in self.used and self.form(answer) in chunk:
                    self.used.add(question)
                    return f"Q: {question}\nA: {answer}"
        return "no question about this chunk"


def xquad_project(root: Path, passages: int, languages: list[str]) -> tuple[Any, GoldPairs, list[str]]:
    """A structured project of XQuAD passages, the gold QA generator and the passage texts."""
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.project import init_project
    from llmforge.structure.pipeline import structure_project

    paragraphs = [paragraph for number, language in enumerate(languages)
                  for paragraph in xquad_paragraphs(language, passages, number % 2)]
    folder = root / "passages"
    folder.mkdir()
    for number, (context, _) in enumerate(paragraphs):
        (folder / f"{number:04d}.txt").write_text(context, encoding="utf-8")
    project = init_project(root / "project")
    ingest_paths(project, [folder], recursive=True)
    structure_project(project)
    return project, GoldPairs(paragraphs), [context for context, _ in paragraphs]


def prepare(args: argparse.Namespace, work: Path) -> tuple[Any, str, list[str]]:
    """The project, the name of the dataset to train on, and texts for a tiny model's tokenizer."""
    from llmforge.project import Project
    from llmforge.train.data import build_dataset, load_dataset_info, open_splits

    if args.project:
        project = Project(Path(args.project).resolve())
        if args.dataset:
            info = load_dataset_info(project, args.dataset)
        else:
            info = build_dataset(project, name=NAME, synthesize_qa=args.synthesize_qa, eval_fraction=0.25)
        rows = open_splits(info)["train"]
        return project, info.name, [row["text"] for row in rows if row["text"]][:2000]
    if not XQUAD.is_dir():
        sys.exit(f"XQuAD not found at {XQUAD}: pass --project")
    project, gold, texts = xquad_project(work, args.passages, args.languages.split(","))
    build_dataset(project, name=NAME, synthesize_qa=100_000, eval_fraction=0.25, seed=0, generate=gold)
    return project, NAME, texts


def train(project: Any, base: str, dataset: str, steps: int, lr: float | None, tiny: bool) -> str:
    """Train ``steps`` LoRA steps in this process; the new version's reference."""
    from llmforge.train import jobs

    recipe = {**(TINY_RECIPE if tiny else {}), "max_steps": steps, "checkpoint_steps": steps + 1}
    if lr is not None:
        recipe["lr"] = lr
    job = jobs.submit(project, name=NAME, base=base, dataset=dataset, **recipe)
    finished = jobs.run(project, job["id"], on_status=lambda message: print(f"  {message}", file=sys.stderr))
    if finished["state"] != "succeeded":
        sys.exit(f"training failed: {finished['message']}")
    return finished["result"]["version"]


def ratio(after: float, before: float) -> float | None:
    return after / before if before else None


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    from llmforge.train.evaluate import flatten

    before, after = flatten(report["figures"]["base"]), flatten(report["figures"]["fine_tuned"])
    return {"before": before, "after": after,
            "ratios": {metric: ratio(after[metric], before[metric]) for metric in after}}


def print_table(result: dict[str, Any]) -> None:
    from llmforge.train.evaluate import metric_label

    report = result["report"]
    dataset = result["dataset"]
    print(f"base {result['base']}: {result['steps']} steps in {result['train_seconds']:.0f} s on dataset "
          f"{dataset['name']} ({dataset['train_rows']} train rows, {dataset['eval_rows']} held-out rows in "
          f"{report['dataset']['eval_sequences']} sequences); {report['qa_pairs']} held-out QA pairs asked")
    if report["qa_answer_in_passages"] is not None:
        print(f"retrieval put the gold answer in the prompt for {report['qa_answer_in_passages']:.0%} of them")
    print(f"{'metric':<36} {'before':>9} {'after':>9} {'after/before':>13}")
    for metric, after in result["after"].items():
        before, share = result["before"][metric], metric.startswith("qa.")
        cells = [f"{before:.1%}" if share else f"{before:.3f}", f"{after:.1%}" if share else f"{after:.3f}"]
        change = result["ratios"][metric]
        print(f"{metric_label(metric):<36} {cells[0]:>9} {cells[1]:>9} {'-' if change is None else f'{change:.3f}':>13}")
    for metric in ("eval_perplexity", "qa.no_context.f1", "qa.retrieval.f1"):
        if metric in result["ratios"]:
            change = result["ratios"][metric]
            better = "lower" if metric == "eval_perplexity" else "higher"
            shown = "undefined (0 before)" if change is None else f"{change:.3f}"
            print(f"ratio {metric_label(metric)} after/before: {shown} ({better} is better)")
    qa_seconds = sum(report["figures"][model]["qa_seconds"] for model in ("base", "fine_tuned"))
    print(f"evaluation {report['seconds']:.0f} s, of which QA generation {qa_seconds:.0f} s; "
          f"total {result['seconds']:.0f} s")
    for warning in report["warnings"]:
        print(f"warning: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="tiny", help="tiny, a packaged model name, a model directory or a .gguf")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps of the fine-tune")
    parser.add_argument("--max-qa", type=int, default=20, help="held-out QA pairs to ask")
    parser.add_argument("--passages", type=int, default=40, help="XQuAD passages per language")
    parser.add_argument("--languages", default="en,ar", help="XQuAD languages, comma-separated")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 1e-2 for tiny, "
                        "else setting train.lr)")
    parser.add_argument("--project", default=None, help="use this project instead of XQuAD passages")
    parser.add_argument("--dataset", default=None, help="with --project: an existing dataset to train on")
    parser.add_argument("--synthesize-qa", type=int, default=20, help="with --project and no --dataset: QA "
                        "pairs to ask the local model for")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from llmforge import offline, registry
    from llmforge.train.evaluate import evaluate_version
    from llmforge.testing.tiny import build_tiny_model

    offline.set_offline_env()
    started = time.perf_counter()
    tiny = args.base == "tiny"
    if tiny:   # a tiny model's operations are too small to share between threads
        import torch

        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project, dataset, texts = prepare(args, work)
        base = str(build_tiny_model(work / "tiny", texts)) if tiny else args.base
        trained_at = time.perf_counter()
        version = train(project, base, dataset, args.steps, args.lr, tiny)
        train_seconds = time.perf_counter() - trained_at
        report = evaluate_version(project, version, max_qa=args.max_qa,
                                  progress=lambda done, total: print(f"  QA {done}/{total}", end="\r", file=sys.stderr))
        print(file=sys.stderr)
        manifest = registry.get_version(project, version).manifest
    result = {"base": args.base, "steps": args.steps, "version": version, "dataset": manifest["dataset"],
              "train_seconds": train_seconds,
              **summarise(report), "seconds": time.perf_counter() - started, "report": report}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print_table(result)


if __name__ == "__main__":
    main()
