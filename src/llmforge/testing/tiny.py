"""Tiny causal language models built from a config, with a tokenizer trained in code.

Tests and benchmarks need a real model that trains in well under a second per step and needs no
download: a two-layer Qwen2-architecture model (the architecture of the packaged instruct models,
so chat templates, LoRA targets and the GGUF converter behave as they do for the real ones) over
a byte-level BPE vocabulary learnt from the texts given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SAMPLE_TEXT = (
    "The capital of France is Paris. The river Seine flows through the city. "
    "Documents are ingested, structured and searched offline. "
    "عاصمة فرنسا هي باريس. يمر نهر السين عبر المدينة. "
    "تستخرج النصوص من المستندات وتفهرس للبحث دون اتصال بالشبكة. "
)


def build_tiny_model(directory: Path, texts: Iterable[str] = (), *, vocab_size: int = 512,
                     hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny Qwen2 model (config, random weights, tokenizer, chat template) to ``directory``.

    Args:
        texts: what the tokenizer learns its merges from (the built-in bilingual sample is added).
    Returns:
        ``directory``, loadable with ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator([SAMPLE_TEXT, *texts], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=CHATML_TEMPLATE)
    fast.save_pretrained(directory)

    config = Qwen2Config(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        tie_word_embeddings=True, eos_token_id=tokenizer.token_to_id("<|im_end|>"),
        pad_token_id=tokenizer.token_to_id("<|endoftext|>"), bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(directory)
    (directory / "llmforge-tiny.json").write_text(json.dumps({"seed": seed, "vocab_size": vocab_size}) + "\n")
    return directory
