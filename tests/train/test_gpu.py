"""The CUDA paths: Unsloth and peft-on-GPU train the tiny model with the same recipe and outputs.

Skipped without a CUDA GPU (the `gpu` marker); `scripts/gpu-check.sh` runs them on a lent machine.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from llmforge.train import backends
from llmforge.train.base import PreparedBase
from llmforge.train.loop import train_lora
from llmforge.train.recipe import Recipe
from llmforge.testing.tiny import SAMPLE_TEXT, build_tiny_model

pytestmark = pytest.mark.gpu
TEXT = {"kind": "text", "text": SAMPLE_TEXT * 8}
CHAT = {"kind": "chat", "messages": [{"role": "user", "content": "Capital of France?"},
                                     {"role": "assistant", "content": "Paris."}]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> PreparedBase:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", [SAMPLE_TEXT], hidden_size=128)
    return PreparedBase("tiny", path, None, "", "qwen2")


@pytest.mark.parametrize("name", ["peft", "unsloth"])
def test_cuda_backends_train_and_save_the_same_adapter_format(name: str, tiny: PreparedBase, tmp_path: Path) -> None:
    if name == "unsloth" and importlib.util.find_spec("unsloth") is None:
        pytest.skip("unsloth is not installed (pip install '.[gpu]')")
    assert backends.choose_backend("auto").name == ("unsloth" if importlib.util.find_spec("unsloth") else "peft")
    recipe = Recipe(seq_len=64, max_steps=20, grad_accum=1, lr=1e-2, checkpoint_steps=10)
    model, tokenizer = backends.choose_backend(name).load(tiny, recipe)
    assert next(model.parameters()).is_cuda
    outcome = train_lora(model, tokenizer, "qwen2", [TEXT, CHAT] * 4, [TEXT], recipe, tmp_path / "run")
    assert outcome.step == 20 and outcome.metrics["eval_loss"] < outcome.metrics["base_eval_loss"]
    model.save_pretrained(tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == recipe.lora_r and config["peft_type"] == "LORA"
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
