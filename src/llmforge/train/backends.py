"""Training backends: plain data, one entry per way of putting LoRA on a model.

``peft`` (transformers + peft) runs everywhere; ``unsloth`` needs a CUDA GPU, and Unsloth fails at
import on a machine without one, so it is imported only when chosen. Both return a peft model
whose adapter saves in the same format, so everything after training is backend-blind.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmforge.errors import TrainError, UsageError
from llmforge.train.recipe import Recipe

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    unavailable: Callable[[], str | None]               # None when usable here, else why not
    load: Callable[[Any, Recipe], tuple[Any, Any]]      # (base, recipe) -> (peft model, tokenizer)


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    BACKENDS[backend.name] = backend


def quiet_transformers() -> None:
    """No per-tensor progress bars and no deprecation chatter from transformers/peft on our stderr."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _peft_unavailable() -> str | None:
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    return f"missing packages: {' '.join(missing)}" if missing else None


def _unsloth_unavailable() -> str | None:
    if importlib.util.find_spec("unsloth") is None:
        return "unsloth is not installed (pip install 'llmforge[gpu]' on a CUDA machine)"
    if not cuda_available():
        return "unsloth needs a CUDA GPU and none is visible"
    return None


def _targets(model: Any) -> list[str]:
    """The usual projection layers where the model has them, else every linear layer."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = [t for t in LORA_TARGETS if t in names]
    return found or ["all-linear"]


def _load_peft(base: Any, recipe: Recipe) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    # fp32 on CPU: bf16 measured several times slower on AVX2-only CPUs.
    dtype = torch.bfloat16 if cuda_available() and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(base.hf_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(base.hf_dir, dtype=dtype, local_files_only=True)
    if cuda_available():
        model = model.to("cuda")
    targets = _targets(model)
    torch.manual_seed(recipe.seed)   # the LoRA initialisation is part of the recipe
    config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                        target_modules=targets if targets != ["all-linear"] else "all-linear",
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer


def _load_unsloth(base: Any, recipe: Recipe) -> tuple[Any, Any]:
    from unsloth import FastLanguageModel   # imported only here: it refuses to import without a GPU

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(base.hf_dir), max_seq_length=recipe.seq_len, dtype=None, load_in_4bit=False)
    model = FastLanguageModel.get_peft_model(
        model, r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=_targets(model), bias="none", use_gradient_checkpointing="unsloth",
        random_state=recipe.seed)
    return model, tokenizer


register_backend(Backend("peft", "transformers + peft (CPU, or CUDA without Unsloth)", _peft_unavailable, _load_peft))
register_backend(Backend("unsloth", "Unsloth FastLanguageModel + LoRA (CUDA)", _unsloth_unavailable, _load_unsloth))


def choose_backend(name: str) -> Backend:
    """The backend called ``name``; ``auto`` picks Unsloth where it can run, else peft."""
    if name == "auto":
        return BACKENDS["unsloth"] if BACKENDS["unsloth"].unavailable() is None else BACKENDS["peft"]
    if name not in BACKENDS:
        raise UsageError(f"unknown training backend {name!r} (known: auto, {', '.join(BACKENDS)})")
    backend = BACKENDS[name]
    if (reason := backend.unavailable()) is not None:
        raise TrainError(f"backend {name} cannot run here: {reason}")
    return backend
