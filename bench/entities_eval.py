"""Precision, recall and F1 of the offline entity extractor on the hand-labelled gold set.

    .venv/bin/python bench/entities_eval.py [--json] [--errors]

A prediction counts when its (type, surface text) equals a gold pair of the same sentence exactly
(a span one character off is both a false positive and a false negative). Scores are given per
type and per language, micro-averaged, plus a throughput line on the gold text repeated to 1 MB.
``--errors`` lists every false positive and false negative.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from llmforge.structure.entities import ENTITY_TYPES, extract_entities  # noqa: E402
from tests.structure.entities_gold import GOLD, Example  # noqa: E402


def score(examples: list[Example]) -> tuple[dict[tuple[str, str], Counter[str]], list[str]]:
    """Counts of tp/fp/fn per (language, type), including "all" rows, and the error lines."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    errors = []
    for example in examples:
        predicted = Counter((e.type, e.text) for e in extract_entities(example.text, example.language))
        gold = Counter(example.entities)
        for outcome, pairs in (("tp", predicted & gold), ("fp", predicted - gold), ("fn", gold - predicted)):
            for (type_, text), n in pairs.items():
                for language in (example.language, "all"):
                    for key in ((language, type_), (language, "all")):
                        counts.setdefault(key, Counter())[outcome] += n
                if outcome != "tp":
                    errors.append(f"{outcome} {example.language} {type_:<12} {text!r}")
    return counts, errors


def metrics(counter: Counter[str]) -> dict[str, float | int]:
    tp, fp, fn = counter["tp"], counter["fp"], counter["fn"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(f1, 3)}


def throughput() -> float:
    """Characters per second over the gold sentences repeated to about 1 MB."""
    sample = "\n".join(example.text for example in GOLD)
    text = "\n".join([sample] * (1_000_000 // len(sample) + 1))
    started = time.perf_counter()
    extract_entities(text)
    return len(text) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--errors", action="store_true", help="list false positives and negatives")
    args = parser.parse_args()
    counts, errors = score(GOLD)
    rows = {f"{language}/{type_}": metrics(counter) for (language, type_), counter in sorted(counts.items())}
    result = {"sentences": Counter(e.language for e in GOLD), "scores": rows, "chars_per_s": round(throughput())}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    print(f"{'language/type':<22}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}")
    order = {name: n for n, name in enumerate(("all", *ENTITY_TYPES))}
    for key in sorted(rows, key=lambda k: (k.split("/")[0], order[k.split("/")[1]])):
        row = rows[key]
        print(f"{key:<22}{row['precision']:>7.3f}{row['recall']:>7.3f}{row['f1']:>7.3f}"
              f"{row['tp']:>5}{row['fp']:>5}{row['fn']:>5}")
    print(f"throughput: {result['chars_per_s']:,} chars/s")
    if args.errors:
        print("\n".join(errors))


if __name__ == "__main__":
    main()
