"""Evaluation of a model version: held-out perplexity, and QA accuracy with and without retrieval.

Every model in a report is measured on the same material:

* the token sequences of the version's held-out split, cut as training cut them (``encode_rows``
  with the version's ``seq_len``, the same sample of ``eval_sample`` sequences spread over the
  split, ``mean_loss`` with its batch size), so while the dataset is unchanged the fine-tuned
  perplexity is the one training recorded; ``full_eval`` measures every sequence instead;
* the same QA pairs (held-out rows with a gold ``answer``), each asked twice: as trained (the
  row's own turns, no context) and as served (RAG's prompt with the numbered passages that
  ``search`` finds for the question). Answers are greedy and short; each is scored by SQuAD's
  exact match and token F1 after normalisation, and by whether it contains the gold answer.

The base model is the version's own base with its adapter switched off. ``against`` (default: the
version's parent) is measured on this version's split and questions too, so deltas compare like
with like. The promotable verdict is the registry's own check on the metrics written here.

Cost on a CPU: one forward pass per held-out sequence per model, plus two greedy generations of at
most ``MAX_NEW_TOKENS`` tokens per QA pair per model (base, fine-tuned, against): with a 0.5B base
model and 50 pairs, several minutes. ``max_qa=0`` measures perplexity only.
"""

from __future__ import annotations

import time
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmforge import registry
from llmforge.errors import LlmforgeError, NotFoundError, TrainError, UsageError
from llmforge.project import Project
from llmforge.text.normalize import search_form

MAX_NEW_TOKENS = 48
RETRIEVAL_K = 3
SETTINGS = ("no_context", "retrieval")
SCORES = ("exact_match", "f1", "contains")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>")
_ENGLISH_ARTICLES = frozenset({"a", "an", "the"})

Progress = Callable[[int, int], None]


# --- scoring -------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation, extended for Arabic.

    Case-folded; punctuation and symbols become spaces; English articles go. Arabic additionally
    loses diacritics and tatweel, has alef, ya and ta-marbuta variants unified and Arabic-Indic
    digits made ASCII (the search form), and the definite article ``ال`` is dropped from words of
    four letters or more (MLQA's rule for Arabic, restricted so that short words survive).
    """
    text = search_form(text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    words = []
    for word in text.split():
        if word in _ENGLISH_ARTICLES:
            continue
        if word.startswith("ال") and len(word) >= 4:
            word = word[2:]
        words.append(word)
    return " ".join(words)


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 between the normalised prediction and gold answer."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, gold: str) -> float:
    """1.0 when the normalised gold answer appears in the prediction as whole words."""
    expected = normalize_answer(gold)
    return float(bool(expected) and f" {expected} " in f" {normalize_answer(prediction)} ")


def score_answer(prediction: str, gold: str) -> dict[str, float]:
    return {"exact_match": exact_match(prediction, gold), "f1": token_f1(prediction, gold),
            "contains": contains_answer(prediction, gold)}


# --- what every model is measured on ------------------------------------------------------------


@dataclass
class QAPair:
    """One held-out question: its gold answer, the prompt as trained and the prompt as served."""

    question: str
    answer: str
    language: str
    turns: list[dict[str, str]]                      # the row's turns up to (without) the answer
    with_passages: list[dict[str, str]] | None       # RAG's messages; None when nothing is indexed
    answer_in_passages: bool = False


@dataclass
class _Material:
    rows: list[dict[str, Any]]
    pairs: list[QAPair]
    seq_len: int
    batch_size: int
    ids: Any = None     # the tokenizer whose ids training used (llama.cpp's, for a GGUF base)
    eval_sample: int = 0   # held-out sequences measured (0: all)


@dataclass
class _TokenBudget:
    """What ``rag.build_messages`` asks of a runtime: a context size and a token count."""

    tokenizer: Any
    n_ctx: int

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def _question_turns(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    turns = [dict(m) for m in messages]
    if turns and turns[-1]["role"] == "assistant":
        turns = turns[:-1]
    question = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
    return question, turns


def _spread(items: list[Any], count: int) -> list[Any]:
    """``count`` items evenly spread over ``items`` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def qa_pairs(project: Project, rows: list[dict[str, Any]], max_qa: int, tokenizer: Any,
             n_ctx: int) -> tuple[list[QAPair], list[str]]:
    """The QA pairs of ``rows`` (at most ``max_qa``, spread over the split) with their prompts,
    and notes on what could not be prepared."""
    from llmforge.inference.rag import INSTRUCTIONS
    from llmforge.text.language import query_language

    candidates = [row for row in rows if row.get("answer") and row.get("kind") == "chat"]
    pairs, notes, indexed = [], [], True
    budget = _TokenBudget(tokenizer, n_ctx)
    for row in _spread(candidates, max_qa):
        question, turns = _question_turns(list(row["messages"]))
        if not question.strip():
            continue
        language = query_language(question)
        pair = QAPair(question, row["answer"], language if language in INSTRUCTIONS else "en", turns, None)
        if indexed:
            try:
                _add_passages(project, pair, budget)
            except NotFoundError:
                indexed = False
                notes.append("nothing is indexed: QA with retrieval was skipped (run `llmforge structure`)")
        pairs.append(pair)
    return pairs, notes


def _add_passages(project: Project, pair: QAPair, budget: _TokenBudget) -> None:
    """Give ``pair`` the prompt the RAG service would build: its instructions and the numbered
    passages that ``search(project, question, k=RETRIEVAL_K)`` finds, as many as fit.

    Raises:
        NotFoundError: nothing is indexed.
    """
    from llmforge.inference.rag import RELATIVE_FLOOR, build_messages
    from llmforge.structure.search import search

    try:
        hits = search(project, pair.question, k=RETRIEVAL_K).hits
    except UsageError:   # a question search refuses (too long, no words): asked with no passages
        hits = []
    top = hits[0].score if hits else 0.0
    relevant = [hit for hit in hits if hit.score >= RELATIVE_FLOOR * top]
    pair.with_passages, used = build_messages(pair.question, relevant, budget, pair.language, None, MAX_NEW_TOKENS)
    pair.answer_in_passages = any(contains_answer(hit.text, pair.answer) for hit in used)


# --- loading -------------------------------------------------------------------------------


def _adapter_dir(version: registry.ModelVersion) -> Path:
    adapter = version.path / "adapter"
    missing = [name for name in ADAPTER_FILES if not (adapter / name).is_file()]
    if missing:
        raise TrainError(f"{version.ref} has no adapter files ({', '.join(missing)} missing in {adapter}): "
                         "it cannot be evaluated; train it again or delete it")
    return adapter


def _training_ids(project: Project, version: registry.ModelVersion, tokenizer: Any) -> Any:
    """The tokenizer training took its ids from: llama.cpp's for a GGUF base still on disk."""
    from llmforge.train.base import ServingTokenizer

    from llmforge.packaged import PACKAGED, assemble

    base = version.manifest.get("base") or {}
    gguf = registry.recorded_path(project, base.get("gguf"))
    if not (gguf and gguf.is_file()) and base.get("spec") in PACKAGED:   # pruned from the cache since
        gguf = assemble(str(base["spec"]))
    return ServingTokenizer(tokenizer, gguf) if gguf and gguf.is_file() else None


def _base_dir(project: Project, version: registry.ModelVersion) -> Path:
    """The version's base as a transformers directory (prepared again when it was removed)."""
    base = version.manifest.get("base") or {}
    path = registry.recorded_path(project, base.get("hf_dir"))
    if path and (path / "config.json").is_file():
        return path
    if not base.get("spec"):
        raise TrainError(f"the manifest of {version.ref} does not say which base model it was trained on")
    from llmforge.train.base import resolve_base

    return Path(resolve_base(project, str(base["spec"])).hf_dir)


def _load(hf_dir: Path, adapter: Path) -> tuple[Any, Any]:
    """The base model with ``adapter`` applied: fp32 on a CPU, bf16 on a CUDA GPU."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=dtype, local_files_only=True)
    if cuda:
        model = model.to("cuda")
    with warnings.catch_warnings():   # peft reads a property transformers 5 deprecated; not the user's concern
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tokenizer


# --- measuring -------------------------------------------------------------------------------


def held_out_loss(model: Any, tokenizer: Any, architecture: str, material: _Material) -> dict[str, float]:
    """Loss and perplexity on the held-out split, as the training loop measures them."""
    from llmforge.train.loop import eval_sample, mean_loss, perplexity
    from llmforge.train.recipe import encode_rows, pad_token_id

    encoded = encode_rows(tokenizer, architecture, material.rows, material.seq_len)
    sequences = eval_sample(encoded, material.eval_sample)
    loss = mean_loss(model, sequences, material.batch_size, pad_token_id(tokenizer))
    return {"eval_loss": loss, "eval_perplexity": perplexity(loss), "eval_sequences": len(sequences),
            "eval_sequences_total": len(encoded)}


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """End of text and end of turn: generation stops at whichever comes first."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids |= set(configured) if isinstance(configured, list) else {configured}
    vocabulary = tokenizer.get_vocab()
    ids |= {vocabulary[token] for token in STOP_TOKENS if token in vocabulary}
    return sorted(i for i in ids if isinstance(i, int))


def _prompt(tokenizer: Any, architecture: str, turns: list[dict[str, str]]) -> str:
    """The text before the model's reply, rendered as training rendered it."""
    from llmforge.inference.chat_format import render_chat

    prompt, _ = render_chat(tokenizer, architecture, [*turns, {"role": "assistant", "content": ""}])
    return prompt or tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)


def generate_answer(model: Any, tokenizer: Any, architecture: str, turns: list[dict[str, str]],
                    max_new_tokens: int = MAX_NEW_TOKENS, stop_ids: list[int] | None = None, question: str = "") -> str:
    """A greedy reply to ``turns`` (short: an answer, not an essay), cleaned as the service cleans
    its answers (:func:`llmforge.inference.rag.clean_reply`), so it is scored the way it is served."""
    import torch
    from transformers import GenerationConfig

    from llmforge.inference.rag import clean_reply
    from llmforge.train.loop import device_of
    from llmforge.train.recipe import pad_token_id

    ids = tokenizer(_prompt(tokenizer, architecture, turns), add_special_tokens=True,
                    return_tensors="pt")["input_ids"].to(device_of(model))
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids or _stop_ids(model, tokenizer),
                              pad_token_id=pad_token_id(tokenizer))
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return clean_reply(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True), question)


def qa_accuracy(model: Any, tokenizer: Any, architecture: str, pairs: list[QAPair],
                tick: Callable[[], None]) -> dict[str, dict[str, float] | None]:
    """Mean exact match, F1 and contains over ``pairs``, without and with retrieved passages."""
    totals: dict[str, Counter[str]] = {setting: Counter() for setting in SETTINGS}
    stop_ids = _stop_ids(model, tokenizer)
    for pair in pairs:
        prompts = {"no_context": pair.turns, "retrieval": pair.with_passages}
        for setting, turns in prompts.items():
            if turns is not None:
                reply = generate_answer(model, tokenizer, architecture, turns, stop_ids=stop_ids,
                                        question=pair.question)
                totals[setting].update(score_answer(reply, pair.answer))
        tick()
    counts = {"no_context": len(pairs), "retrieval": sum(p.with_passages is not None for p in pairs)}
    return {setting: {score: totals[setting][score] / counts[setting] for score in SCORES} if counts[setting]
            else None for setting in SETTINGS}


def _figures(model: Any, tokenizer: Any, architecture: str, material: _Material,
             tick: Callable[[], None]) -> dict[str, Any]:
    figures: dict[str, Any] = held_out_loss(model, material.ids or tokenizer, architecture, material)
    started = time.perf_counter()
    figures["qa"] = qa_accuracy(model, tokenizer, architecture, material.pairs, tick) if material.pairs else None
    figures["qa_seconds"] = time.perf_counter() - started   # greedy generation dominates the cost on a CPU
    return figures


# --- the evaluation ----------------------------------------------------------------------------


def _eval_split(project: Project, version: registry.ModelVersion) -> tuple[Any, list[dict[str, Any]], list[str]]:
    """The dataset the version was trained on, its held-out rows, and warnings about them."""
    from llmforge.train.data import load_dataset_info, open_splits

    recorded = version.manifest.get("dataset") or {}
    if not recorded.get("name"):
        raise TrainError(f"the manifest of {version.ref} does not say which dataset it was trained on")
    info = load_dataset_info(project, str(recorded["name"]))
    rows = list(open_splits(info)["eval"])
    if not rows:
        raise TrainError(f"dataset {info.name} has no held-out documents, so there is nothing to evaluate on: "
                         "rebuild it with --eval-fraction 0.1 (or more) and at least two documents, "
                         "then train again")
    notes = []
    if recorded.get("sha256") and recorded["sha256"] != info.sha256:
        notes.append(f"dataset {info.name} was rebuilt after {version.ref} was trained (sha256 "
                        f"{str(recorded['sha256'])[:12]} then, {info.sha256[:12]} now): the held-out rows "
                        "differ, and some may have been trained on")
    return info, rows, notes


def _comparison(project: Project, version: registry.ModelVersion,
                against: str | None) -> tuple[registry.ModelVersion | None, str | None, list[str]]:
    """The version to compare with (``against``, else the parent), how it was chosen, warnings."""
    if against:
        other = registry.get_version(project, against)
        if other.ref == version.ref:
            raise UsageError(f"{version.ref} cannot be compared with itself: name another version")
        return other, "option", []
    parent = version.manifest.get("parent")
    if not parent:
        return None, None, []
    try:
        found = registry.find_version(project, str(parent))
    except NotFoundError:
        found = None
    if found is None:
        return None, None, [f"the parent {parent} is gone: compared with the base model only"]
    return found, "parent", []


class _Ticker:
    """Counts answered QA pairs (of every model) for the progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def __call__(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


@contextmanager
def _active(model: Any, adapter: str | None) -> Iterator[None]:
    """The model with ``adapter`` active, or with every adapter off (the base) for None."""
    if adapter is None:
        with model.disable_adapter():
            yield
        return
    model.set_adapter(adapter)
    yield


def evaluate_version(project: Project, ref: str, *, against: str | None = None, max_qa: int = 50,
                     progress: Progress | None = None, full_eval: bool = False) -> dict[str, Any]:
    """Measure a version against its base (and ``against``, else its parent) and record the metrics.

    Args:
        against: another version to measure on this version's held-out split and questions.
        max_qa: most QA pairs to ask (0: perplexity only).
        full_eval: perplexity on every held-out sequence, not the sample of the version's
            ``eval_sample`` sequences that training measured.
        progress: called with (answers done, answers to do) after each QA pair of each model.

    Returns:
        The report: figures per model, deltas, better/promotable verdicts and warnings.

    Raises:
        TrainError: no adapter files, an empty held-out split, an unknown base or dataset.
        NotFoundError / UsageError: a version that does not exist, or comparing with itself.
    """
    if max_qa < 0:
        raise UsageError("max-qa cannot be negative")
    started = time.perf_counter()
    version = registry.get_version(project, ref)
    adapter = _adapter_dir(version)
    other, chosen, notes = _comparison(project, version, against)
    other_adapter = _adapter_dir(other) if other is not None else None
    info, rows, split_notes = _eval_split(project, version)
    notes += split_notes
    hyper = version.manifest.get("hyperparameters") or {}
    architecture = str((version.manifest.get("base") or {}).get("architecture") or "")
    hf_dir = _base_dir(project, version)
    model, tokenizer = _load(hf_dir, adapter)
    n_ctx = min(int(project.settings["serve.n_ctx"]), int(getattr(model.config, "max_position_embeddings", 4096)))
    pairs, qa_notes = qa_pairs(project, rows, max_qa, tokenizer, n_ctx)
    notes += qa_notes
    if max_qa and not pairs:
        notes.append(f"the held-out split of {info.name} has no QA pairs (rows with an answer): QA accuracy "
                     "not measured (build the dataset with synthetic QA pairs)")
    sample = 0 if full_eval else int(hyper.get("eval_sample", project.settings["train.eval_sample"]))
    material = _Material(rows, pairs, int(hyper.get("seq_len", 256)), int(hyper.get("batch_size", 1)),
                         _training_ids(project, version, tokenizer), sample)
    tick = _Ticker((3 if other is not None else 2) * len(pairs), progress)
    figures = {}
    with _active(model, None):
        figures["base"] = _figures(model, tokenizer, architecture, material, tick)
    with _active(model, "default"):
        figures["fine_tuned"] = _figures(model, tokenizer, architecture, material, tick)
    if other is not None and other_adapter is not None:
        figures["against"], other_notes = _measure_other(project, other, other_adapter, hf_dir, model, tokenizer,
                                                            architecture, material, tick)
        notes += other_notes
    parent_compared = other is not None and other.ref == version.manifest.get("parent")
    version = _record(project, version, figures, len(pairs), info.sha256, parent_compared)
    return _report(project, version, info, other, chosen, figures, material, notes,
                   time.perf_counter() - started)


def _measure_other(project: Project, other: registry.ModelVersion, adapter: Path, hf_dir: Path, model: Any,
                   tokenizer: Any, architecture: str, material: _Material,
                   tick: Callable[[], None]) -> tuple[dict[str, Any], list[str]]:
    """The comparison version's figures: its adapter beside ours when the base is the same."""
    other_dir = _base_dir(project, other)
    if other_dir.resolve() == hf_dir.resolve():
        model.load_adapter(str(adapter), adapter_name="against")
        with _active(model, "against"):
            return _figures(model, tokenizer, architecture, material, tick), []
    other_model, other_tokenizer = _load(other_dir, adapter)
    other_architecture = str((other.manifest.get("base") or {}).get("architecture") or "")
    warning = (f"{other.ref} has another base model: its perplexity counts other tokens and is not "
               "directly comparable")
    return _figures(other_model, other_tokenizer, other_architecture, material, tick), [warning]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


def _record(project: Project, version: registry.ModelVersion, figures: dict[str, Any], pairs: int,
            dataset_sha256: str, parent_compared: bool = False) -> registry.ModelVersion:
    """Write this evaluation's metrics into the version's manifest."""
    mine, base = figures["fine_tuned"], figures["base"]
    metrics = {
        "eval_loss": mine["eval_loss"], "eval_perplexity": mine["eval_perplexity"],
        "base_eval_loss": base["eval_loss"], "base_eval_perplexity": base["eval_perplexity"],
        "eval_sequences": mine["eval_sequences"], "eval_sequences_total": mine["eval_sequences_total"],
        "qa": {"fine_tuned": mine["qa"], "base": base["qa"], "pairs": pairs, "max_new_tokens": MAX_NEW_TOKENS,
               "retrieval_k": RETRIEVAL_K} if mine["qa"] else None,
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset_sha256": dataset_sha256,
    }
    against = figures.get("against")
    if against and parent_compared:   # the parent measured on this version's split: like for like
        metrics["parent_eval_perplexity"] = against["eval_perplexity"]
    return registry.update_manifest(project, version.ref, {"metrics": _rounded(metrics)})


def flatten(figures: dict[str, Any] | None) -> dict[str, float]:
    """``{"eval_perplexity": …, "qa.retrieval.f1": …}``: one number per metric."""
    if not figures:
        return {}
    flat = {key: float(figures[key]) for key in ("eval_perplexity", "eval_loss")}
    for setting, scores in (figures.get("qa") or {}).items():
        for score, value in (scores or {}).items():
            flat[f"qa.{setting}.{score}"] = float(value)
    return flat


def _deltas(mine: dict[str, Any], theirs: dict[str, Any] | None) -> dict[str, float]:
    a, b = flatten(mine), flatten(theirs)
    return {key: round(a[key] - b[key], 5) for key in a if key in b}


def _report(project: Project, version: registry.ModelVersion, info: Any, other: registry.ModelVersion | None,
            chosen: str | None, figures: dict[str, Any], material: _Material, notes: list[str],
            seconds: float) -> dict[str, Any]:
    mine, base, theirs = figures["fine_tuned"], figures["base"], figures.get("against")
    parent = version.manifest.get("parent")
    try:
        registry.check_promotable(project, version)
        reference = f"that of its parent {parent}" if parent else "the base model's"
        promotable, reason = True, f"eval perplexity {mine['eval_perplexity']:.4g} is not above {reference}"
    except LlmforgeError as exc:
        promotable, reason = False, str(exc)
    better_than_against = theirs["eval_perplexity"] > mine["eval_perplexity"] if theirs else None
    recorded = version.manifest.get("dataset") or {}
    return _rounded({
        "version": version.ref,
        "base": (version.manifest.get("base") or {}).get("spec"),
        "dataset": {"name": info.name, "sha256": info.sha256, "trained_sha256": recorded.get("sha256"),
                    "rebuilt": bool(recorded.get("sha256")) and recorded.get("sha256") != info.sha256,
                    "eval_rows": len(material.rows), "eval_sequences": mine["eval_sequences"]},
        "against": other.ref if other is not None else None,
        "against_is": chosen,
        "qa_pairs": len(material.pairs),
        "qa_answer_in_passages": (sum(p.answer_in_passages for p in material.pairs) / len(material.pairs)
                                  if material.pairs else None),
        "figures": figures,
        "deltas": {"vs_base": _deltas(mine, base), "vs_against": _deltas(mine, theirs) if theirs else None},
        "better_than_base": mine["eval_perplexity"] < base["eval_perplexity"],
        "better_than_against": better_than_against,
        "better_than_parent": better_than_against if other is not None and other.ref == parent else None,
        "promotable": promotable,
        "promotable_reason": reason,
        "warnings": notes,
        "seconds": seconds,
    })


# --- for people --------------------------------------------------------------------------------

_LABELS = {"eval_perplexity": "held-out perplexity", "eval_loss": "held-out loss",
           "exact_match": "exact match", "f1": "F1", "contains": "contains answer",
           "no_context": "QA, no context", "retrieval": "QA, retrieval"}


def metric_label(metric: str) -> str:
    """How a metric of :func:`flatten` is named for people ("QA, retrieval: F1")."""
    if not metric.startswith("qa."):
        return _LABELS[metric]
    _, setting, score = metric.split(".")
    return f"{_LABELS[setting]}: {_LABELS[score]}"


def _number(metric: str, value: float | None, *, delta: bool = False) -> str:
    if value is None:
        return "-"
    if metric.startswith("qa."):
        return f"{value * 100:+.1f} pts" if delta else f"{value:.1%}"
    return f"{value:+.4g}" if delta else f"{value:.4g}"


def render_report(report: dict[str, Any], console: Any) -> None:
    """A table of every metric for the base, the version and ``against``, with the differences."""
    from rich.markup import escape
    from rich.table import Table

    figures = report["figures"]
    base, mine, theirs = flatten(figures["base"]), flatten(figures["fine_tuned"]), flatten(figures.get("against"))
    columns = ["metric", "base", escape(report["version"])]
    if report["against"]:
        columns.append(escape(report["against"]))
    columns.append("Δ vs base")
    if report["against"]:
        columns.append(f"Δ vs {escape(report['against'])}")
    table = Table(*columns, title=f"{escape(report['version'])} on dataset {escape(report['dataset']['name'])} "
                  f"({report['dataset']['eval_sequences']} held-out sequences, {report['qa_pairs']} QA pairs)")
    for metric in mine:
        cells = [metric_label(metric), _number(metric, base.get(metric)), _number(metric, mine[metric])]
        if report["against"]:
            cells.append(_number(metric, theirs.get(metric)))
        cells.append(_number(metric, report["deltas"]["vs_base"].get(metric), delta=True))
        if report["against"]:
            cells.append(_number(metric, (report["deltas"]["vs_against"] or {}).get(metric), delta=True))
        table.add_row(*cells)
    console.print(table)
    for warning in report["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    verdict = "[green]promotable[/]" if report["promotable"] else "[red]not promotable[/]"
    console.print(f"{verdict}: {escape(report['promotable_reason'])} (lower perplexity is better; "
                  f"{report['seconds']:.0f} s)", highlight=False)
